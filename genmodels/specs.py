"""What plugins register, in one place: model, dataset, tracker, metric and sampler specs.

Each spec is defined beside the contract it names (ModelSpec with the configs in `genmodels.config`, DatasetSpec
with `Dataset` in `genmodels.data`, TrackerSpec with `Tracker` in `genmodels.tracking`, MetricSpec with
`MetricContext` in `genmodels.metrics`, SamplerSpec with `FittedSampler` in `genmodels.samplers`); this module
gathers them for plugins. None of them imports TensorFlow.
"""

from __future__ import annotations

from genmodels.core.model_spec import NAME_PATTERN, QUALIFIED_NAME_PATTERN, ModelSpec
from genmodels.data.dataset import DatasetSpec
from genmodels.evaluation.metric_context import MetricSpec
from genmodels.samplers.sampler import SamplerSpec
from genmodels.training.tracking import TrackerSpec

__all__ = [
    "NAME_PATTERN",
    "QUALIFIED_NAME_PATTERN",
    "DatasetSpec",
    "MetricSpec",
    "ModelSpec",
    "SamplerSpec",
    "TrackerSpec",
]
