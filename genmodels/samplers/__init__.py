"""Latent samplers fitted to a trained model's codings.

`genmodels.samplers` itself is a public path; its names are looked up in `genmodels.samplers.fitting` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.samplers.fitting import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
