"""Image grids, training curves and scatter plots as PNG.

A public path: its names are looked up in `genmodels.core.plots` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.core.plots import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
