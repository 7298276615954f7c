"""select_lanes and select_levels (vectorised compress-stores of the entries that pass a test) against
scalar loops."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikekit.kernels.select import LANES, select_lanes, select_levels


@numba.njit
def _select_all(out, pixels, uniforms, levels, count, silent):
    kept = 0
    for start in range(0, count, LANES):
        kept += select_lanes(out, kept, pixels, uniforms, levels, start, count - start, silent)
    return kept


def _expected(pixels, uniforms, levels, count, silent):
    passed = uniforms[:count] >= levels[:count] if silent else uniforms[:count] < levels[:count]
    return pixels[:count][passed]


@pytest.mark.parametrize("index_dtype", [np.int16, np.int32])
@settings(max_examples=60, deadline=None)
@given(count=st.integers(0, 70), silent=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_keeps_exactly_the_passing_pixels_in_order(index_dtype, count, silent, seed) -> None:
    rng = np.random.default_rng(seed)
    size = count + LANES  # the padding select_lanes reads past ``count``
    pixels = rng.integers(0, np.iinfo(index_dtype).max, size).astype(index_dtype)
    uniforms = rng.integers(0, 2**16, size).astype(np.uint16)
    levels = rng.integers(0, 2**16 + 1, size).astype(np.uint32)  # 65536 = p of 1: always spikes, never silent
    near = rng.random(size) < 0.3  # ties and off-by-one: where < and >= are told apart
    levels[near] = uniforms[near].astype(np.uint32) + rng.integers(0, 2, int(near.sum()))
    out = np.full(size, -1, index_dtype)
    kept = _select_all(out, pixels, uniforms, levels, count, silent)
    expected = _expected(pixels, uniforms, levels, count, silent)
    assert kept == len(expected)
    assert np.array_equal(out[:kept], expected)
    assert (out[kept:] == -1).all()  # nothing written past the kept entries


@numba.njit
def _select_range(out_pixels, out_levels, levels, count, low, high):
    kept = 0
    for start in range(0, count, LANES):
        kept += select_levels(out_pixels, out_levels, kept, levels, start, count - start, low, high)
    return kept


@pytest.mark.parametrize("index_dtype", [np.int16, np.int32])
@settings(max_examples=60, deadline=None)
@given(count=st.integers(0, 70), low=st.integers(0, 2**16 + 1), width=st.integers(0, 2**16 + 1),
       seed=st.integers(0, 2**32 - 1))
def test_select_levels_keeps_the_pixels_in_range_in_order(index_dtype, count, low, width, seed) -> None:
    rng = np.random.default_rng(seed)
    size = count + LANES
    levels = rng.integers(0, 2**16 + 1, size).astype(np.uint32)
    levels[rng.random(size) < 0.3] = low  # the bounds themselves: [low, high) keeps low, drops high
    levels[rng.random(size) < 0.1] = low + width
    out_pixels, out_levels = np.full(size, -1, index_dtype), np.full(size, 7, np.uint32)
    kept = _select_range(out_pixels, out_levels, levels, count, low, low + width)
    expected = np.flatnonzero((levels[:count] >= low) & (levels[:count] < low + width))
    assert kept == len(expected)
    assert np.array_equal(out_pixels[:kept], expected) and np.array_equal(out_levels[:kept], levels[expected])
    assert (out_pixels[kept:] == -1).all() and (out_levels[kept:] == 7).all()
