"""Probability distributions over batches of vectors.

A public path: its names are looked up in `genmodels.nn.distributions` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.nn.distributions import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
