"""select_lanes, select_levels, select_fired and select_nonzero (vectorised compress-stores of the entries that pass
a test) against scalar loops, in both forms of ``_compress_store``: AVX-512 compress in a register (where the host
has it) and LLVM's generic ``masked.compressstore``."""

import contextlib
import functools
from unittest import mock

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikekit.kernels.intrinsics import select
from spikekit.kernels.intrinsics.select import LANES, nonzeros, select_fired, select_lanes, select_levels

FORMS = ["host", "generic"]


@numba.njit
def _select_all(out, pixels, uniforms, levels, count, silent):
    kept = 0
    for start in range(0, count, LANES):
        kept += select_lanes(out, kept, pixels, uniforms, levels, start, count - start, silent)
    return kept


@functools.cache
def _compiled(function, form: str):
    """``function`` compiled anew for both index dtypes, the generic form forced if ``form`` says so."""
    dispatcher = numba.njit(function.py_func)
    with mock.patch.object(select, "_register_compress", return_value=False) if form == "generic" \
            else contextlib.nullcontext():
        for index_dtype in (np.int16, np.int32):
            if function is _select_fired_all:
                for dtype in (np.float32, np.float64):
                    dispatcher(np.zeros(LANES, np.int32), np.zeros(LANES, dtype), dtype(1))
                break
            if function is _nonzeros_all:
                for dtype in (np.float32, np.float64):
                    dispatcher(np.zeros(LANES, dtype), np.zeros(LANES, np.int32), np.zeros(LANES, dtype))
                break
            if function is _select_all:
                dispatcher(np.zeros(LANES, index_dtype), np.zeros(LANES, index_dtype), np.zeros(LANES, np.uint16),
                           np.zeros(LANES, np.uint32), 0, False)
            else:
                dispatcher(np.zeros(LANES, index_dtype), np.zeros(LANES, np.uint32), np.zeros(LANES, np.uint32), 0,
                           0, 1)
    dispatcher.disable_compile()
    return dispatcher


def test_the_host_form_is_what_the_cpu_supports() -> None:
    # On an AVX-512 host the register form is compiled (it would not compile elsewhere); check it is chosen.
    from numba.core.registry import cpu_target
    features = set(cpu_target.target_context.codegen()._tm_features.split(","))
    assert select._register_compress(cpu_target.target_context, 32) == ("+avx512f" in features)


def _expected(pixels, uniforms, levels, count, silent):
    passed = uniforms[:count] >= levels[:count] if silent else uniforms[:count] < levels[:count]
    return pixels[:count][passed]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("index_dtype", [np.int16, np.int32])
@settings(max_examples=60, deadline=None)
@given(count=st.integers(0, 70), silent=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_keeps_exactly_the_passing_pixels_in_order(form, index_dtype, count, silent, seed) -> None:
    rng = np.random.default_rng(seed)
    size = count + LANES  # the padding select_lanes reads past ``count``
    pixels = rng.integers(0, np.iinfo(index_dtype).max, size).astype(index_dtype)
    uniforms = rng.integers(0, 2**16, size).astype(np.uint16)
    levels = rng.integers(0, 2**16 + 1, size).astype(np.uint32)  # 65536 = p of 1: always spikes, never silent
    near = rng.random(size) < 0.3  # ties and off-by-one: where < and >= are told apart
    levels[near] = uniforms[near].astype(np.uint32) + rng.integers(0, 2, int(near.sum()))
    out = np.full(size, -1, index_dtype)
    kept = _compiled(_select_all, form)(out, pixels, uniforms, levels, count, silent)
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


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("index_dtype", [np.int16, np.int32])
@settings(max_examples=60, deadline=None)
@given(count=st.integers(0, 70), low=st.integers(0, 2**16 + 1), width=st.integers(0, 2**16 + 1),
       seed=st.integers(0, 2**32 - 1))
def test_select_levels_keeps_the_pixels_in_range_in_order(form, index_dtype, count, low, width, seed) -> None:
    rng = np.random.default_rng(seed)
    size = count + LANES
    levels = rng.integers(0, 2**16 + 1, size).astype(np.uint32)
    levels[rng.random(size) < 0.3] = low  # the bounds themselves: [low, high) keeps low, drops high
    levels[rng.random(size) < 0.1] = low + width
    out_pixels, out_levels = np.full(size, -1, index_dtype), np.full(size, 7, np.uint32)
    kept = _compiled(_select_range, form)(out_pixels, out_levels, levels, count, low, low + width)
    expected = np.flatnonzero((levels[:count] >= low) & (levels[:count] < low + width))
    assert kept == len(expected)
    assert np.array_equal(out_pixels[:kept], expected) and np.array_equal(out_levels[:kept], levels[expected])
    assert (out_pixels[kept:] == -1).all() and (out_levels[kept:] == 7).all()


@numba.njit
def _select_fired_all(out, pre, threshold):
    kept = 0
    for start in range(0, pre.shape[0], LANES):
        kept += select_fired(out, kept, pre, start, pre.shape[0] - start, threshold)
    return kept


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=60, deadline=None)
@given(count=st.integers(0, 70), seed=st.integers(0, 2**32 - 1))
def test_select_fired_keeps_the_neurons_at_or_over_threshold_in_order(form, dtype, count, seed) -> None:
    rng = np.random.default_rng(seed)
    threshold = dtype(rng.uniform(-1, 1))
    memory = rng.uniform(-2, 2, count + LANES).astype(dtype)  # entries past ``count`` must not be read as neurons
    memory[:count][rng.random(count) < 0.2] = threshold  # exactly at threshold: fires
    memory[:count][rng.random(count) < 0.1] = np.nextafter(threshold, dtype(-np.inf))  # just under: does not
    pre = memory[:count]
    out = np.full(count + LANES, -1, np.int32)
    kept = _compiled(_select_fired_all, form)(out, pre, threshold)
    expected = np.flatnonzero(pre - threshold >= 0)
    assert kept == len(expected)
    assert np.array_equal(out[:kept], expected)
    assert (out[kept:] == -1).all()


@numba.njit
def _nonzeros_all(row, indices, values):
    return nonzeros(row, indices, values)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=60, deadline=None)
@given(count=st.integers(0, 70), density=st.sampled_from([0.0, 0.05, 0.5, 1.0]), seed=st.integers(0, 2**32 - 1))
def test_nonzeros_keeps_every_nonzero_and_its_value_in_order(form, dtype, count, density, seed) -> None:
    rng = np.random.default_rng(seed)
    memory = np.full(count + LANES, 3.0, dtype)  # entries past ``count`` (nonzero) must not be read
    row = memory[:count]
    row[:] = np.where(rng.random(count) < density, rng.choice([1.0, 2.5, -1.0], count), 0.0)
    row[rng.random(count) < 0.05] = -0.0  # a zero, as Python's ``!= 0`` says
    row[rng.random(count) < 0.02] = np.nan  # not a zero
    indices, values = np.full(count + LANES, -1, np.int32), np.full(count + LANES, 7.0, dtype)
    kept, same = _compiled(_nonzeros_all, form)(row, indices, values)
    expected = np.array([j for j in range(count) if row[j] != 0], dtype=np.int64)
    assert kept == len(expected)
    assert np.array_equal(indices[:kept], expected)
    np.testing.assert_array_equal(values[:kept], row[expected])  # NaN equals NaN here
    assert (indices[kept:] == -1).all() and (values[kept:] == 7.0).all()
    assert same == all(row[j] == row[expected[0]] for j in expected[1:])  # (== as the kernel: NaN differs)
