"""The command line, by command group.

`genmodels.cli` itself is a public path; its names (`app`, `main`) are looked up in `genmodels.cli.program` on first
use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.cli.program import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
