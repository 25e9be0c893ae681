"""Sample-quality statistics: FID, precision and recall, active units.

A public path: its names are looked up in `genmodels.evaluation.sample_quality` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.evaluation.sample_quality import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
