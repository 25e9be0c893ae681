"""The hooks a plugin implements.

A public path: its names are looked up in `genmodels.plugins.hookspecs` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.plugins.hookspecs import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
