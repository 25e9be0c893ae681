"""Atomic file writes: a file is either its old self or complete, never half written; and a group of files
is replaced only when every one of them has been written completely."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TEMPORARY_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest` that replaces `dest` only if the block succeeds.

    The temporary name keeps `dest`'s suffixes (Keras insists on `.weights.h5`). Whatever fails,
    the temporary file is removed and `dest` is left as it was; an OSError (a full disk, a
    read-only folder) is re-raised naming `dest`, the file the user knows, not the temporary one.
    """
    with atomic_files() as group:
        yield group.reserve(dest)


class FileGroup:
    """Files written to temporaries beside their destinations, to be renamed into place together."""

    def __init__(self) -> None:
        self.pending: list[tuple[Path, Path]] = []

    def reserve(self, dest: Path) -> Path:
        """A new temporary file beside `dest` that will replace it."""
        dest = Path(dest)
        try:
            handle, partial = tempfile.mkstemp(dir=dest.parent, prefix=TEMPORARY_PREFIX, suffix=f"-{dest.name}")
        except OSError as exc:
            raise _naming(exc, dest) from None
        os.close(handle)
        self.pending.append((Path(partial), dest))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)  # mkstemp makes files private; give them the usual mode
        return Path(partial)

    def write(self, dest: Path, writer: Callable[[Path], object]) -> Path:
        """Call `writer` on a temporary file for `dest` now; an OSError it raises names `dest`."""
        partial = self.reserve(dest)
        try:
            writer(partial)
        except OSError as exc:
            raise _naming(exc, dest, partial)
        return partial


@contextlib.contextmanager
def atomic_files() -> Iterator[FileGroup]:
    """A group of atomic writes: if the block succeeds, each temporary replaces its destination in the order
    they were reserved; if anything fails, every destination is left as it was and no temporary remains."""
    group = FileGroup()
    try:
        yield group
        for partial, dest in group.pending:
            try:
                os.replace(partial, dest)
            except OSError as exc:
                raise _naming(exc, dest, partial)
    except OSError as exc:
        if len(group.pending) == 1:  # a single file: whatever failed in the block concerns it
            _naming(exc, *reversed(group.pending[0]))
        raise
    finally:
        for partial, _dest in group.pending:
            if partial.exists():
                partial.unlink()


def _naming(exc: OSError, dest: Path, partial: Path | None = None) -> OSError:
    """`exc`, naming `dest` when it named no file or only the temporary one."""
    if exc.filename is None or (partial is not None and str(exc.filename) == str(partial)):
        exc.filename = str(dest)
    return exc


def owner_record() -> str:
    """Who is writing, as JSON: this process's id, the machine's name and the time it started (a lock's or a
    temporary folder's owner)."""
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")})


def owner_alive(owner: dict[str, Any]) -> bool:
    """Whether the owner an `owner_record` names may still be running (a process on another machine cannot be
    asked: assume so)."""
    if owner["host"] != socket.gethostname():
        return True
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError, TypeError):
        return True  # alive, owned by another user (or a number no process has: cannot tell)
    return True
