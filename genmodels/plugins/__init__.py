"""The plugin system: the hooks a plugin implements (`hookspecs`), the registry they fill (`registry`) and the
loading of entry points into it (`loader`).

`genmodels.plugins` itself is a public path; its names are looked up in `genmodels.plugins.loader` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.plugins.loader import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
