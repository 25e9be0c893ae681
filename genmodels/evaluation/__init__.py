"""Evaluation: likelihood bounds and estimates (`likelihood`), per-pixel baselines (`baselines`), sample-quality
statistics (`sample_quality`), their feature networks (`feature_networks`, `feature_training`, `feature_cache`), and
metric plugins' contract (`metric_context`) and runner (`metrics`).

`genmodels.evaluation` itself is a public path; its names are looked up in `genmodels.evaluation.likelihood` on
first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.evaluation.likelihood import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
