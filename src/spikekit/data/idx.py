"""The IDX file format of MNIST: read (raw or gzip) with strict checks, and write.

Layout: two zero bytes, a type code (0x08 = unsigned byte, the only one MNIST uses), the number
of dimensions d, then d big-endian uint32 sizes, then the data in C order.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from spikekit.errors import DataError

_UBYTE = 0x08


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: cannot read ({error})") from None


def read_idx(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file with ``ndim`` dimensions.

    Args:
        path: file, raw or gzip-compressed.
        ndim: dimensions expected (3 for images [N, 28, 28], 1 for labels [N]).
    Returns:
        uint8 array of the stored shape.
    Raises:
        DataError: naming the file, for a bad magic number, wrong dimensions or a wrong length.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != _UBYTE:
        raise DataError(f"{path}: not an unsigned-byte IDX file (bad magic number {data[:4].hex() or 'empty'})")
    if data[3] != ndim:
        raise DataError(f"{path}: has {data[3]} dimensions, expected {ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated header ({len(data)} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(f"{path}: {kind}: header {list(shape)} needs {expected} bytes, file has {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes of a uint8 array."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return bytes([0, 0, _UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as IDX (gzip-compressed when the name ends in ``.gz``)."""
    data = encode_idx(array)
    path = Path(path)
    path.write_bytes(gzip.compress(data, compresslevel=1) if path.suffix == ".gz" else data)
