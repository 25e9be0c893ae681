"""Kinds of image values and the likelihoods that fit each.

A public path: its names are looked up in `genmodels.core.pixels` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.core.pixels import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
