"""Datasets: the dataset type (`dataset`), folders of images (`folders`) and a dataset by name, folder or path
(`sources`).

`genmodels.data` itself is the public path plugins import `Dataset`, `fetch`, `verify`, ... from; its names are
looked up in `genmodels.data.dataset` on first use.
"""

from typing import TYPE_CHECKING

from genmodels.core.faces import forward

if TYPE_CHECKING:
    from genmodels.data.dataset import *  # noqa: F403

__getattr__, __dir__ = forward(__name__)
