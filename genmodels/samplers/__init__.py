"""Latent samplers fitted to a trained model's codings: the contract (`sampler`) and the runner that fits, saves
and loads a run's sampler (`fitting`).

`genmodels.samplers` itself is a public path; its names are looked up in `genmodels.samplers.sampler` and
`genmodels.samplers.fitting` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.samplers.sampler import *  # noqa: F403
    from genmodels.samplers.fitting import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
