"""The one way spikekit replaces a file: never a half-written file, whatever instant the process dies at."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes, keep_previous: str | os.PathLike | None = None) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory, fsync, rename, fsync the directory.

    On any failure (full disk, no permission) ``path`` keeps its old contents and no temporary is left.
    With ``keep_previous``, the old ``path`` (if any) is renamed there once the new bytes are on disk.
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; a file of ours is as open() would make it
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if keep_previous is not None and path.exists():
            _keep(path, Path(keep_previous))
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        if error.filename is None:  # a full disk's ENOSPC names no file: name the one being written
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)  # make the rename itself durable


def create_directory(path: str | os.PathLike, populate: Callable[[Path], None]) -> None:
    """Make directory ``path`` whole or not at all: ``populate(staging)`` fills a temporary sibling, which is
    then renamed to ``path``. An existing ``path`` (the caller has decided it may go) is moved aside first
    and deleted after. Whatever instant the process dies at, ``path`` is absent, the old one, or the new one
    complete; the temporaries a killed call left (``.<name>.*.creating``) are removed by the next call.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.creating"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".creating"))
    try:
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700; a directory of ours is as mkdir would make it
        populate(staging)
        if path.is_dir():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".creating"))
            os.replace(path, old / "old")
            os.replace(staging, path)
            shutil.rmtree(old)
        else:
            os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_directory(path.parent)


def _umask() -> int:
    """The process's umask (read by setting it and putting it back: the only way the OS offers)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_directory(path: str | os.PathLike) -> None:
    """Flush ``path``'s directory entries (names created or renamed in it) to disk."""
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
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
