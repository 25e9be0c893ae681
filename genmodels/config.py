"""The configs a model and its training are built from, and ModelSpec.

A public path: its names are looked up in `genmodels.core.config`, `genmodels.core.model_config`,
`genmodels.core.train_config` and `genmodels.core.model_spec` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.core.config import *  # noqa: F403
    from genmodels.core.model_config import *  # noqa: F403
    from genmodels.core.train_config import *  # noqa: F403
    from genmodels.core.model_spec import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
