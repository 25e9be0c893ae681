"""Atomic writes of one file or a group of files.

A public path: its names are looked up in `genmodels.core.atomic` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.core.atomic import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
