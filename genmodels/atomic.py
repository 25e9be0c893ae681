"""Atomic file writes: a file is either its old self or complete, never half written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMPORARY_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest` that replaces `dest` only if the block succeeds.

    The temporary name keeps `dest`'s suffixes (Keras insists on `.weights.h5`). Whatever fails,
    the temporary file is removed and `dest` is left as it was; an OSError (a full disk, a
    read-only folder) is re-raised naming `dest`, the file the user knows, not the temporary one.
    """
    dest = Path(dest)
    partial = None
    try:
        handle, partial = tempfile.mkstemp(dir=dest.parent, prefix=TEMPORARY_PREFIX, suffix=f"-{dest.name}")
        os.close(handle)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)  # mkstemp makes files private; give them the usual mode
        yield Path(partial)
        os.replace(partial, dest)
    except OSError as exc:
        if exc.filename is None or exc.filename == partial:
            exc.filename = str(dest)
        raise
    finally:
        if partial is not None and os.path.exists(partial):
            os.unlink(partial)
