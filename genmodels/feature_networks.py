"""The feature networks sample-quality metrics compare images in.

A public path: its names are looked up in `genmodels.evaluation.feature_networks`,
`genmodels.evaluation.feature_training` and `genmodels.evaluation.feature_cache` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.evaluation.feature_networks import *  # noqa: F403
    from genmodels.evaluation.feature_training import *  # noqa: F403
    from genmodels.evaluation.feature_cache import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
