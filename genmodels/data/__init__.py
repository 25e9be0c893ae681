"""Datasets: the dataset type (`dataset`), images from arrays (`arrays`), where files live and how they arrive
(`store`), .npz files (`npz`), folders of images (`folders`, `decoding`, `folder_cache`) and a dataset by name,
folder or path (`sources`).

`genmodels.data` itself is the public path plugins import `Dataset`, `fetch`, `verify`, ... from; its names are
looked up in `genmodels.data.dataset`, `genmodels.data.arrays`, `genmodels.data.store` and `genmodels.data.npz` on
first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.data.dataset import *  # noqa: F403
    from genmodels.data.arrays import *  # noqa: F403
    from genmodels.data.store import *  # noqa: F403
    from genmodels.data.npz import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
