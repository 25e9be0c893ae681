"""Atomic file writes: a file is either its old self or complete, never half written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest` that replaces `dest` only if the block succeeds.

    The temporary name keeps `dest`'s suffixes (Keras insists on `.weights.h5`).
    """
    dest = Path(dest)
    handle, partial = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-", suffix=f"-{dest.name}")
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(partial, 0o666 & ~umask)  # mkstemp makes files private; give them the usual mode
    try:
        yield Path(partial)
        os.replace(partial, dest)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
