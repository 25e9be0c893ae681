"""What a tracker plugin receives from a training.

A public path: its names are looked up in `genmodels.training.tracking` and `genmodels.training.tracker_list` on
first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.training.tracking import *  # noqa: F403
    from genmodels.training.tracker_list import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
