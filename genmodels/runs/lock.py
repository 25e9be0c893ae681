"""The run directory's lock: one training at a time writes a run directory, and a lock left by a process that died is
taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from genmodels.core.atomic import TEMPORARY_PREFIX, owner_alive, owner_record
from genmodels.core.errors import TrainingError
from genmodels.runs.format import LOCK_FILE, RUN_FILES, _refuse_a_file


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock for one writer, with the temporary files of a checkpoint that an earlier
    writer never finished removed.

    The lock is an operating-system lock (`fcntl.flock`) on `.lock`, which therefore ends with its process,
    however that process ends: no lock is ever stale. The file holds its owner (process, machine, start) for the
    message that refuses a second writer. A `.lock` that no process holds but that names a live process on this
    machine, or any process on another machine (left by a version that locked by the file alone, or on a
    file system that does not share such locks), is respected too. Where `fcntl` is missing (Windows), the
    lock is the file itself, created complete in one step, and one left by a process that is gone is taken over.
    """
    run_dir = Path(run_dir)
    _refuse_a_file(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    release = _hold_os_lock(path) if fcntl is not None else _hold_file_lock(path)
    try:
        for name in RUN_FILES:  # temporaries of a checkpoint that an earlier writer never finished
            for partial in run_dir.glob(f"{TEMPORARY_PREFIX}*-{name}"):
                partial.unlink(missing_ok=True)
        yield
    finally:
        release()


def _refuse_held(path: Path, owner: dict[str, Any] | None) -> TrainingError:
    who = (
        f"process {owner['pid']} on {owner['host']}, since {owner['started']}"
        if owner
        else "its owner is still writing its name"
    )
    return TrainingError(
        f"{path.parent} is being written by another training ({who}). Wait for it to finish or train into another "
        f"--run-dir; if that process is really gone, delete {path}."
    )


def _hold_os_lock(path: Path):
    """Take the flock on `path` (retrying when the file was replaced while waiting) and return its release."""
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(handle)
            raise _refuse_held(path, _read_owner(path)) from None
        try:
            same = os.fstat(handle).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False  # its holder removed it as we took it: take the new one
        if not same:
            os.close(handle)
            continue
        owner = _read_owner(path)
        mine = owner is not None and owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        if owner is not None and not mine and owner_alive(owner):
            os.close(handle)  # a lock that a live process holds by the file alone
            raise _refuse_held(path, owner)
        os.ftruncate(handle, 0)
        os.write(handle, owner_record().encode())

        def release() -> None:
            path.unlink(missing_ok=True)  # before the flock ends, so that a waiter sees the file gone
            os.close(handle)

        return release


def _hold_file_lock(path: Path):
    """Create `path` already holding its owner (a hard link of a finished file, which fails if `path` exists)."""
    record = path.with_name(f"{TEMPORARY_PREFIX}{os.getpid()}-{time.monotonic_ns()}{LOCK_FILE}")
    record.write_text(owner_record())
    try:
        while True:
            try:
                os.link(record, path)
                break
            except FileExistsError:
                owner = _read_owner(path)
                if owner is None or owner_alive(owner):
                    raise _refuse_held(path, owner) from None
                path.unlink(missing_ok=True)  # its process is gone
    finally:
        record.unlink(missing_ok=True)
    return lambda: path.unlink(missing_ok=True)


def _read_owner(path: Path) -> dict[str, Any] | None:
    """The owner written in the lock at `path`, or None when it is missing, empty or unreadable."""
    try:
        owner = json.loads(path.read_text())
        return {"pid": int(owner["pid"]), "host": str(owner["host"]), "started": str(owner.get("started", "?"))}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
