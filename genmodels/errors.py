"""The named errors genmodels raises, and its warnings.

A public path: its names are looked up in `genmodels.core.errors` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.core.errors import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
