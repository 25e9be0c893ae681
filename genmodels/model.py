"""GenerativeModel, which composes the parts.

A public path: its names are looked up in `genmodels.nn.model` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.nn.model import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
