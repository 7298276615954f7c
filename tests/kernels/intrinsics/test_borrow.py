"""intrinsics.borrow: a borrowed array is the same memory, shape and strides, and views of it read and write
that memory inside parallel loops, with thread-allocated owners kept alive by ``held``."""

import numba
import numpy as np

from spikekit.kernels.intrinsics.borrow import borrowed, held


@numba.njit
def _write_through(array, value):
    view = borrowed(array)
    for i in range(view.shape[0]):
        view[i, 1] = value
    return view.shape[0], view.shape[1], view.strides[0], view.strides[1]


def test_a_borrowed_array_is_the_same_memory_shape_and_strides() -> None:
    array = np.zeros((3, 4), np.float32)
    assert _write_through(array, 2.5) == (3, 4, 16, 4)
    assert (array[:, 1] == 2.5).all() and array.sum() == 7.5
    sliced = np.zeros((6, 4))[::2]  # a non-contiguous argument keeps its strides
    assert _write_through(sliced, 1.0)[2:] == (64, 8)
    assert (sliced[:, 1] == 1.0).all()


@numba.njit(parallel=True)
def _rows_times_private(rows, factor, out):
    """out[b] = rows[b] * factor, row by row through borrowed views, the factor in a thread-allocated array."""
    for part in numba.prange(2):
        owner = np.full(rows.shape[1], factor, rows.dtype)
        scale, source, target = borrowed(owner), borrowed(rows), borrowed(out)
        for b in range(part, rows.shape[0], 2):
            row, result = source[b], target[b]
            for j in range(row.shape[0]):
                result[j] = row[j] * scale[j]
        held(owner)


def test_borrowed_views_in_a_parallel_loop_equal_the_plain_product() -> None:
    rows = np.random.default_rng(0).standard_normal((33, 40))
    out = np.full_like(rows, np.nan)
    _rows_times_private(rows, 3.0, out)
    np.testing.assert_array_equal(out, rows * 3.0)
