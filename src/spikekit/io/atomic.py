"""The one way spikekit replaces a file: never a half-written file, whatever instant the process dies at."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes, keep_previous: str | os.PathLike | None = None) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory, fsync, rename, fsync the directory.

    On any failure (full disk, no permission) ``path`` keeps its old contents and no temporary is left.
    With ``keep_previous``, the old ``path`` (if any) is renamed there once the new bytes are on disk.
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if keep_previous is not None and path.exists():
            _keep(path, Path(keep_previous))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)


def _keep(path: Path, previous: Path) -> None:
    """Make ``previous`` a copy of ``path`` atomically, leaving ``path`` in place (so that it never
    goes missing, even for an instant): a hard link (or a copy where links are not supported) to a
    temporary name, then a rename."""
    staging = previous.with_name(f".{previous.name}.keep.tmp")
    staging.unlink(missing_ok=True)
    try:
        os.link(path, staging)
    except OSError:
        shutil.copyfile(path, staging)
    os.replace(staging, previous)
