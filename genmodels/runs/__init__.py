"""Run directories: their files, lock and checkpoints, and rebuilding their model (`format`), weights files
(`weights`), SavedModel export (`export`).

`genmodels.runs` itself is a public path; its names are looked up in `genmodels.runs.format` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.runs.format import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
