"""io.atomic: files and directories take the user's umask; an error names the file being written."""

import errno
import os
import stat
from pathlib import Path

import pytest

from spikekit.io import atomic


@pytest.fixture
def umask():
    previous = os.umask(0o022)
    def set_mask(mask: int) -> None:
        os.umask(mask)
    yield set_mask
    os.umask(previous)


@pytest.mark.parametrize(("mask", "file_mode", "directory_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                                    (0o002, 0o664, 0o775)])
def test_files_and_directories_take_the_umask(tmp_path: Path, umask, mask: int, file_mode: int,
                                              directory_mode: int) -> None:
    umask(mask)
    atomic.write_atomic(tmp_path / "file.bin", b"data")
    atomic.create_directory(tmp_path / "run", lambda staging: (staging / "inside").write_bytes(b"x"))
    assert stat.S_IMODE((tmp_path / "file.bin").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == directory_mode


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "last.safetensors"
    target.write_bytes(b"old")

    def full(_descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device") as caught:
        atomic.write_atomic(target, b"new")
    assert caught.value.filename == str(target) and caught.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["last.safetensors"]
