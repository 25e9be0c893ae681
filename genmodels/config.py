"""The configs a model and its training are built from, and ModelSpec.

A public path: its names are looked up in `genmodels.core.config` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.core.config import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
