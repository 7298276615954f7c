"""rows.add_rows, scatter_rows, weighted_rows and weighted_rows_quad equal plain loops of the same arithmetic, to the
bit."""

import numba
import numpy as np
import pytest

from spikekit.kernels.intrinsics.rows import add_rows, lanes_computed, scatter_rows, weighted_rows, weighted_rows_quad


@numba.njit
def _add_rows_loop(total, weight_t, events, start, stop, sign):
    """The documented order: trees of 8 rows, then one of 4, then single rows, each added to total."""
    k = start
    while k + 8 <= stop:
        for j in range(total.shape[0]):
            w = [weight_t[events[k + i], j] for i in range(8)]
            total[j] += sign * (((w[0] + w[1]) + (w[2] + w[3])) + ((w[4] + w[5]) + (w[6] + w[7])))
        k += 8
    if k + 4 <= stop:
        for j in range(total.shape[0]):
            w = [weight_t[events[k + i], j] for i in range(4)]
            total[j] += sign * ((w[0] + w[1]) + (w[2] + w[3]))
        k += 4
    while k < stop:
        for j in range(total.shape[0]):
            total[j] += sign * weight_t[events[k], j]
        k += 1


@numba.njit
def _scatter_rows_loop(target, events, start, stop, values, sign):
    for k in range(start, stop):
        for j in range(values.shape[0]):
            target[events[k], j] += sign * values[j]


@numba.njit
def _add_rows_kernel(total, weight_t, events, start, stop, sign):
    add_rows(total, weight_t, events, start, stop, sign)


@numba.njit
def _scatter_rows_kernel(target, events, start, stop, values, sign):
    scatter_rows(target, events, start, stop, values, sign)


@numba.njit
def _weighted_rows_loop(total, rows, weights):
    for j in range(total.shape[0]):
        total[j] = 0.0
    for k in range(rows.shape[0]):
        for j in range(total.shape[0]):
            total[j] += weights[k] * rows[k, j]


@numba.njit
def _weighted_rows_kernel(total, rows, weights):
    weighted_rows(total, rows, weights)


# widths: narrower than a vector, ragged, whole vectors short of a block (16, 48, 112 float32), exactly one
# block of float32 (128) or float64 (64), several blocks
WIDTHS = [1, 5, 16, 48, 50, 64, 112, 128, 129, 300]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int16, np.int32])
def test_add_rows_is_the_plain_loop_to_the_bit(dtype, index_dtype) -> None:
    rng = np.random.default_rng(0)
    for width in WIDTHS:
        weight_t = rng.standard_normal((40, width)).astype(dtype)
        events = rng.permutation(40).astype(index_dtype)
        # 0 events, a lone row, a group of 4 plus singles, groups of 8 with every remainder, from an offset
        for start, stop in [(0, 0), (3, 4), (2, 9), (0, 8), (1, 21), (5, 40), (7, 3)]:
            for sign in (dtype(1), dtype(-1)):
                initial = rng.standard_normal(width).astype(dtype)
                expected, got = initial.copy(), initial.copy()
                _add_rows_loop(expected, weight_t, events, start, stop, sign)
                _add_rows_kernel(got, weight_t, events, start, stop, sign)
                assert got.tobytes() == expected.tobytes(), (width, start, stop, sign)
                if stop > start:
                    assert not np.array_equal(got, initial)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_rows_tree_order_matters_and_is_kept(dtype) -> None:
    # Values whose sum depends on the order: a kernel that added the 8 rows one by one would differ.
    weight_t = np.array([[1e8], [1.0], [-1e8], [1.0], [0.5], [0.25], [3.0], [-0.75]], dtype=dtype)
    events = np.arange(8, dtype=np.int16)
    expected, got = np.zeros(1, dtype), np.zeros(1, dtype)
    _add_rows_loop(expected, weight_t, events, 0, 8, dtype(1))
    _add_rows_kernel(got, weight_t, events, 0, 8, dtype(1))
    sequential = np.zeros(1, dtype)
    for row in weight_t:
        sequential += row
    assert got.tobytes() == expected.tobytes()
    assert dtype is np.float64 or got[0] != sequential[0]  # float32: the orders really differ here


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int16, np.int32])
def test_scatter_rows_is_the_plain_loop_to_the_bit(dtype, index_dtype) -> None:
    rng = np.random.default_rng(1)
    for width in WIDTHS:
        events = rng.permutation(30).astype(index_dtype)
        for start, stop in [(0, 0), (4, 5), (0, 17), (3, 30), (9, 2)]:
            for sign in (dtype(1), dtype(-1)):
                values = rng.standard_normal(width).astype(dtype)
                initial = rng.standard_normal((30, width)).astype(dtype)
                expected, got = initial.copy(), initial.copy()
                _scatter_rows_loop(expected, events, start, stop, values, sign)
                _scatter_rows_kernel(got, events, start, stop, values, sign)
                assert got.tobytes() == expected.tobytes(), (width, start, stop, sign)
                touched = np.zeros(30, bool)
                touched[events[start:stop]] = True
                assert np.array_equal(got[~touched], initial[~touched])  # other rows untouched


def test_ragged_block_writes_nothing_past_the_row() -> None:
    # A row of 50 float32 is one ragged block, run as 8 masked vectors (128 lanes): the 128 entries after
    # it in memory, past the block's end, must be left alone.
    rng = np.random.default_rng(2)
    memory = rng.standard_normal(50 + 128).astype(np.float32)
    guard = memory[50:].copy()
    weight_t = rng.standard_normal((6, 50)).astype(np.float32)
    _add_rows_kernel(memory[:50], weight_t, np.arange(6, dtype=np.int16), 0, 6, np.float32(1))
    assert np.array_equal(memory[50:], guard)
    values = memory[:50].copy()
    target = rng.standard_normal(6 * 50 + 128).astype(np.float32)
    guard = target[300:].copy()
    _scatter_rows_kernel(target[:300].reshape(6, 50), np.arange(6, dtype=np.int16), 0, 6, values, np.float32(1))
    assert np.array_equal(target[300:], guard)


def test_refuses_arrays_that_are_not_c_contiguous() -> None:
    weight_t = np.zeros((4, 20), np.float32)
    with pytest.raises(numba.core.errors.TypingError, match="weight_t must be a C-contiguous 2-d array"):
        _add_rows_kernel(np.zeros(4, np.float32), weight_t.T, np.arange(2, dtype=np.int16), 0, 2, np.float32(1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_rows_is_the_plain_loop_to_the_bit(dtype) -> None:
    rng = np.random.default_rng(3)
    for width in WIDTHS:
        for num_rows in (1, 3, 10, 17):
            rows = rng.standard_normal((num_rows, width)).astype(dtype)
            weights = rng.standard_normal(num_rows + 6).astype(dtype)  # longer than K: the rest is not read
            expected, got = np.full(width, np.nan, dtype), np.full(width, np.nan, dtype)
            _weighted_rows_loop(expected, rows, weights)
            _weighted_rows_kernel(got, rows, weights)
            assert got.tobytes() == expected.tobytes(), (width, num_rows)
    # the order over k is kept: (1e8 + 1) - 1e8 is 0 in float32, not 1
    rows = np.array([[1e8], [1.0], [-1e8]], dtype=dtype)
    got = np.zeros(1, dtype)
    _weighted_rows_kernel(got, rows, np.ones(3, dtype))
    assert got[0] == (dtype(1e8) + dtype(1.0)) - dtype(1e8)


@numba.njit
def _weighted_rows_quad_kernel(totals, rows, weights):
    weighted_rows_quad(totals, rows, weights)


def _fma_loop_float32(rows, weights):
    """The documented arithmetic for float32, exactly: each term w * row is exact in float64 (24 + 24 bits < 53),
    so one rounding of the float64 sum to float32 is the fused multiply-add's one rounding."""
    totals = np.zeros((weights.shape[0], rows.shape[1]), np.float32)
    for k in range(rows.shape[0]):
        product = weights[:, k:k + 1].astype(np.float64) * rows[k].astype(np.float64)
        totals = (totals.astype(np.float64) + product).astype(np.float32)
    return totals


def test_weighted_rows_quad_is_four_fused_multiply_add_loops_to_the_bit() -> None:
    rng = np.random.default_rng(4)
    for width in WIDTHS:
        for num_rows in (1, 3, 10, 17):
            rows = rng.standard_normal((num_rows, width)).astype(np.float32)
            weights = rng.standard_normal((4, num_rows + 6)).astype(np.float32)  # longer than K: the rest unread
            got = np.full((4, width), np.nan, np.float32)
            _weighted_rows_quad_kernel(got, rows, weights)
            assert got.tobytes() == _fma_loop_float32(rows, weights).tobytes(), (width, num_rows)
    # one rounding, not two: -1 + (1 + 2^-12)^2 is 2^-11 + 2^-24 fused, 2^-11 multiplied then added
    rows = np.array([[-1.0], [1 + 2**-12]], np.float32)
    weights = np.array([[1.0, 1 + 2**-12]] * 4, np.float32)
    got = np.zeros((4, 1), np.float32)
    _weighted_rows_quad_kernel(got, rows, weights)
    assert (got == np.float32(2**-11 + 2**-24)).all()


def test_weighted_rows_quad_float64_is_the_product_within_rounding() -> None:
    rng = np.random.default_rng(5)
    for width in WIDTHS:
        rows, weights = rng.standard_normal((17, width)), rng.standard_normal((4, 23))
        got = np.full((4, width), np.nan)
        _weighted_rows_quad_kernel(got, rows, weights)
        bound = 17 * np.finfo(np.float64).eps * (np.abs(weights[:, :17]) @ np.abs(rows))
        assert (np.abs(got - weights[:, :17] @ rows) <= bound).all(), width


@pytest.mark.parametrize(("width", "itemsize", "lanes"), [
    (20, 4, 128), (32, 4, 32), (256, 4, 256), (100, 4, 128), (130, 4, 256), (144, 4, 144), (20, 8, 64), (24, 8, 24),
    (64, 8, 64), (70, 8, 128)])
def test_lanes_computed_counts_whole_blocks_whole_vectors_and_a_masked_block(width, itemsize, lanes) -> None:
    # A block is 8 vectors of 64 bytes (128 float32, 64 float64); a last part that ends on a vector boundary
    # computes only its vectors, any other last part a whole masked block.
    assert lanes_computed(width, itemsize) == lanes
