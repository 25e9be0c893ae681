"""What a metric plugin receives (MetricContext), and running the chosen metrics.

A public path: its names are looked up in `genmodels.evaluation.metric_context` and `genmodels.evaluation.metrics`
on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.evaluation.metric_context import *  # noqa: F403
    from genmodels.evaluation.metrics import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
