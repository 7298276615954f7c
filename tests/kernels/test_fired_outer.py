"""fired_outer: dU^T gathered per spiking neuron over chunks of rows equals the sum of outer products g s^T."""

import numba
import numpy as np
import pytest

from spikekit.kernels.fired_outer import gather_outer, note_fired
from spikekit.kernels.intrinsics.select import fired_indices


@numba.njit
def _gathered(spikes, grads, chunk, accumulator):
    """accumulator [N, M] += sum over rows r of outer(spikes[r], grads[r]), the rows noted ``chunk`` at a time."""
    width = spikes.shape[1]
    lists, counts = np.empty((width, chunk), np.int32), np.zeros(width, np.int64)
    fired = np.empty(width, np.int32)
    half = spikes.dtype.type(0.5)
    for row in range(spikes.shape[0]):
        note_fired(lists, counts, fired, fired_indices(spikes[row], half, fired), row)
        if (row + 1) % chunk == 0 or row + 1 == spikes.shape[0]:
            gather_outer(accumulator, grads, lists, counts)
    return counts


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_gathered_rows_equal_the_outer_products(dtype, chunk: int) -> None:
    rng = np.random.default_rng(chunk)
    spikes = (rng.random((50, 40)) < 0.3).astype(dtype)  # 50 rows (step, sample) of 40 neurons
    grads = rng.standard_normal((50, 33)).astype(dtype)  # each row's gradient, 33 wide (a masked last block)
    start = rng.standard_normal((40, 33)).astype(dtype)
    accumulator = start.copy()
    counts = _gathered(spikes, grads, chunk, accumulator)
    expected = start.astype(np.float64) + spikes.astype(np.float64).T @ grads.astype(np.float64)
    np.testing.assert_allclose(accumulator, expected, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)
    assert not counts.any()  # every list emptied by its gather


def test_a_neuron_that_never_spiked_keeps_its_row() -> None:
    spikes = np.zeros((9, 6))
    spikes[:, 2] = 1.0
    grads = np.arange(9 * 4, dtype=np.float64).reshape(9, 4)
    accumulator = np.ones((6, 4))
    _gathered(spikes, grads, 4, accumulator)
    assert np.array_equal(accumulator[2], 1.0 + grads.sum(0))
    assert np.array_equal(np.delete(accumulator, 2, axis=0), np.ones((5, 4)))
