"""The parts a model is made of: Encoder, Decoder, LatentPrior, Loss.

A public path: its names are looked up in `genmodels.nn.interfaces` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.nn.interfaces import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
