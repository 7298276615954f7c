import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikekit.data.idx import encode_idx, read_idx, write_idx
from spikekit.errors import DataError


@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / name, array)
    assert np.array_equal(read_idx(tmp_path / name, 3), array)


@pytest.mark.parametrize(("data", "message"), [
    (b"\x00\x00\x09\x01" + struct.pack(">I", 1) + b"\x00", "bad magic number"),
    (b"\x01\x02\x08\x01", "bad magic number"),
    (b"", "bad magic number empty"),
    (encode_idx(np.zeros((2, 28, 28), np.uint8)), "has 3 dimensions, expected 1"),
    (encode_idx(np.zeros(5, np.uint8))[:-1], "truncated"),
    (encode_idx(np.zeros(5, np.uint8)) + b"\x00", "longer than its header says"),
    (b"\x00\x00\x08\x01\x00", "truncated header"),
])
def test_corrupt_files_name_the_file_and_the_fault(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "labels"
    path.write_bytes(data)
    with pytest.raises(DataError, match=message) as error:
        read_idx(path, 1)
    assert str(path) in str(error.value)


def test_broken_gzip_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(encode_idx(np.zeros(100, np.uint8)))[:-10])
    with pytest.raises(DataError, match="cannot read"):
        read_idx(path, 1)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=64), ndim=st.integers(1, 3))
def test_random_bytes_give_only_data_errors(tmp_path: Path, data: bytes, ndim: int) -> None:
    path = tmp_path / "fuzz"
    path.write_bytes(data)
    try:
        array = read_idx(path, ndim)
    except DataError:
        return
    assert array.ndim == ndim
