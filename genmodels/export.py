"""A run as a TensorFlow SavedModel.

A public path: its names are looked up in `genmodels.runs.export` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.runs.export import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
