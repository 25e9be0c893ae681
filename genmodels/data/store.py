"""Where datasets live and how their files arrive: the data and feature cache folders, verified downloads, file
digests.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from genmodels.core.atomic import atomic_path
from genmodels.core.errors import ChecksumError, DatasetError


DATA_DIR_VARIABLE = "GENMODELS_DATA_DIR"

FEATURES_DIR_VARIABLE = "GENMODELS_FEATURES_DIR"

DOWNLOAD_TIMEOUT_S = 30

# What a failed download raises; other OSErrors (a full disk while saving it) reach cli.main as they are.
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


def data_dir() -> Path:
    """The dataset cache: $GENMODELS_DATA_DIR, else $XDG_CACHE_HOME/genmodels, else ~/.cache/genmodels."""
    configured = os.environ.get(DATA_DIR_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "genmodels"


def features_dir() -> Path:
    """Where feature networks and the features of real images are cached: $GENMODELS_FEATURES_DIR, else
    the `features` folder of the data folder (`data_dir()`)."""
    configured = os.environ.get(FEATURES_DIR_VARIABLE)
    return Path(configured).expanduser() if configured else data_dir() / "features"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, sha256: str, url: str) -> None:
    """Raise ChecksumError unless the file at `path` has the given SHA-256."""
    actual = sha256_of(path)
    if actual != sha256:
        raise ChecksumError(
            f"{path} does not have the expected SHA-256 (expected {sha256}, found {actual}). "
            f"It is corrupt or not the file from {url}; delete it to download it again."
        )


def fetch(url: str, dest: Path, *, sha256: str | None = None, quiet: bool = False) -> Path:
    """Return `dest`, downloading it from `url` first if it is absent.

    The download shows a progress bar, is checked against `sha256` when given, and lands
    atomically: a partial or corrupt download never takes the place of `dest`. Offline, the
    error names the file, the URL and the variable that points genmodels at a local copy.
    """
    dest = Path(dest)
    if dest.exists():
        if sha256:
            verify(dest, sha256, url)
        return dest
    dest.parent.mkdir(
        parents=True, exist_ok=True
    )  # an OSError here (no permission, a full disk) is for cli.main to report
    try:
        with atomic_path(dest) as partial:
            with open(partial, "wb") as out:
                _download(url, out, dest.name, quiet=quiet)
            if sha256:
                verify(partial, sha256, url)
    except NETWORK_ERRORS as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DatasetError(
            f"{dest.name} is not in {dest.parent} and could not be downloaded from {url} ({reason}). "
            f"Download it into that folder by hand, or set {DATA_DIR_VARIABLE} to a folder that has it."
        ) from None
    return dest


def _download(url: str, out, label: str, *, quiet: bool) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        columns = (TextColumn(f"Downloading {label}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        from rich.console import Console

        console = Console(file=sys.stderr, quiet=quiet)
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(label, total=total)
            while block := response.read(1 << 16):
                out.write(block)
                progress.advance(task, len(block))
