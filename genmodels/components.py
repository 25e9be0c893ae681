"""Ready-made model parts: MLP encoders and decoders, priors, loss terms, flow posteriors.

A public path: its names are looked up in `genmodels.nn.components`, `genmodels.nn.priors`, `genmodels.nn.losses` and
`genmodels.nn.flows` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.nn.components import *  # noqa: F403
    from genmodels.nn.priors import *  # noqa: F403
    from genmodels.nn.losses import *  # noqa: F403
    from genmodels.nn.flows import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
