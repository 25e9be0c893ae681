"""Run directories: their files (`format`), the lock (`lock`), checkpoints (`checkpoints`), rebuilding their
model (`loading`), weights files (`weights`) and the SavedModel export (`export`).

`genmodels.runs` itself is a public path; its names are looked up in `genmodels.runs.format`,
`genmodels.runs.loading`, `genmodels.runs.checkpoints` and `genmodels.runs.lock` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.runs.format import *  # noqa: F403
    from genmodels.runs.loading import *  # noqa: F403
    from genmodels.runs.checkpoints import *  # noqa: F403
    from genmodels.runs.lock import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
