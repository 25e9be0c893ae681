"""The registry of models, datasets, trackers, metrics and samplers.

A public path: its names are looked up in `genmodels.plugins.registry` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.plugins.registry import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
