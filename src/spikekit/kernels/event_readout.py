"""A two-layer network fed by spike events, as one pass: event input layer, then the readout's counts.

counts[b] = sum over t of the spikes of the readout (``Linear`` then LIF, from rest) driven by the
spikes of the hidden layer (an ``event_layer`` layer of any neuron model, from rest) driven by the events.
The seed network, 784-128-10, and the N-MNIST one, 2312-128-10, are of this shape, as are 784-128a-10 and
784-128s-10 (ALIF or CubaLIF hidden neurons). In the engine's terms: input events, the hidden neurons
(``neurons``), their spikes' output being the readout's events, then a LIF readout that counts.

Forward, per sample and step, in rows that stay in L1: the hidden current and neuron step as in
``event_layer``; the indices of the hidden neurons that fired (``_fired``); the readout current as
bias + their rows of W2^T (``intrinsics.rows.add_rows``: the hidden spikes are the readout's events), written to a
[T, B, K] current. The readout's LIF then runs over all B*K columns at once (``lif_fused.scan_kernel``,
adding the spikes into the counts). Backward: the readout's LIF adjoint first, over all columns
(``lif_fused.adjoint_kernel``; the counts' gradient is every step's spike gradient), since it does not
depend on the hidden layer; then, steps in reverse, per sample: g_I2 [K] is scattered into the rows of
dW2^T of the hidden neurons that fired (re-derived from the saved rows, ``neurons.margin``) and makes the hidden spikes'
gradient g_S = W2^T g_I2 (``rows.weighted_rows``), which goes into the hidden layer's adjoint as in
``event_layer``.

The readout's rows (W2^T, dW2^T, its current and g_I2) are padded from K to KP, whole 64-byte vectors
(16 float32), with zeros (``padded_rows``). Run on K-wide rows inside the per-sample loop, the
readout's LIF and adjoint (scalar on 10 elements) and masked row operations cost more than the fusion
saved (a version of 2026-12-02, dropped).

Why: run as two nodes (``event_layer``, then ``readout``), the hidden layer's [T, B, N] spikes and
their gradient (1.6 MB each for a T=25 batch of 128 and 128 neurons) were written by one pass and
read back by the next, through two readout products over all T*B rows, a scan and an adjoint kernel,
each with its own tensor glue. Here neither tensor exists (the readout's [T, B, KP] current and its
gradient, 8x smaller, do); the readout costs one row operation per hidden spike forward and backward.
A training step with Adam, alternating with the two-node path in one process (medians of 10-step
rounds): 0.84-0.90x the time at T=25 for 784-128-10 (hidden layers firing 11-20%), 0.96x for
2312-128-10, whose input layer is most of the step.

Arithmetic: the hidden layer's is ``event_layer``'s to the bit. The readout's products are summed in
another order than the GEMMs of ``readout`` (W2^T rows in ``add_rows``' tree order forward; g_S by
k in order, multiply then add), so its results differ from the two-node path by float rounding.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numba
import numpy as np
import torch
from torch import Tensor, nn

from spikekit.dynamics.lif import LIFParams
from spikekit.dynamics.surrogate import SURROGATES
from spikekit.kernels.event_layer import (
    GROUP,
    adjoint_neuron_events,
    end_group,
    event_arrays,
    event_current,
    group_samples,
    kernel_weights,
    part_groups,
    start_group,
    sum_partials,
    sum_partials_part,
    sum_transposed_rows,
    supports_event_layer,
    thread_parts,
    transpose_part,
)
from spikekit.kernels.intrinsics.borrow import borrowed, held
from spikekit.kernels.intrinsics.denormals import flush_denormals, restore_denormals
from spikekit.kernels.intrinsics.rows import add_rows, scatter_rows, weighted_rows
from spikekit.kernels.intrinsics.select import fired_indices
from spikekit.kernels.neurons import SHAPES, UNIFORM_LIF, charge_and_fire, margin, prepared
from spikekit.kernels.readout import readout_adjoint, readout_scan
from spikekit.kernels.scan import kernel_code, kernel_constants, plain_lif
from spikekit.spike_events import SpikeEvents


@functools.cache
def kernels(code: int):
    """(forward, backward) of the hidden layer and the readout's products, compiled for the hidden layer's
    neuron model ``code``, a closure constant (``scan.kernels`` says why)."""

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def forward(indices, num_on, num_off, defaults, num_defaults, weight, transpose, bias, hidden, readout_weight_t,
                readout_bias, num_parts, keep, weight_t, saved, readout_current):
        """Events as ``SpikeEvents`` (arrays); weight, transpose, bias, weight_t: the hidden layer's, as in
        ``event_layer``; hidden: its (constants [P, N], state variables S); readout_weight_t: W2^T [N, KP] and
        readout_bias [KP], zero past column K. Out: readout_current [T, B, KP]; the hidden layer's saved rows
        [T, B, K_s, N] if keep, else [num_parts, 1, K_s, N] per-thread scratch."""
        num_steps, batch_size, _ = indices.shape
        width, dtype = weight_t.shape[1], saved.dtype
        one, half = dtype.type(1), dtype.type(0.5)
        consts, num_state = hidden
        if transpose:
            for part in numba.prange(num_parts):
                transpose_part(weight, part, num_parts, weight_t)
        for part in numba.prange(num_parts):
            owned_consts = prepared(code, consts)  # private, with the factors (neurons.prepared)
            owned_base = np.empty((GROUP, width), dtype)  # bias + default rows, per sample of the group
            owned_state = np.empty((GROUP, num_state, width), dtype)
            # the loops' views are made from borrowed arrays: no reference counting per row (intrinsics.borrow)
            local, base, state = borrowed(owned_consts), borrowed(owned_base), borrowed(owned_state)
            saved_rows, events, readout_rows = borrowed(saved), borrowed(indices), borrowed(readout_current)
            current, spikes = np.empty(width, dtype), np.empty(width, dtype)
            fired = np.empty(width, np.int32)
            for group in range(*part_groups(part, num_parts, batch_size)):
                first, stop = group_samples(group, batch_size)
                start_group(bias, weight_t, defaults, first, stop, num_defaults, base, state)
                for t in range(num_steps):
                    for b in range(first, stop):
                        saved_row = saved_rows[t, b] if keep else saved_rows[part, 0]
                        event_current(base[b - first], weight_t, events[t, b], num_on[t, b], num_off[t, b], current)
                        charge_and_fire(code, local, state[b - first], current, saved_row, spikes)
                        readout_row = readout_rows[t, b]
                        readout_row[:] = readout_bias
                        add_rows(readout_row, readout_weight_t, fired, 0, fired_indices(spikes, half, fired), one)
            held(owned_consts)
            held(owned_base)
            held(owned_state)

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def backward(indices, num_on, num_off, defaults, num_defaults, readout_grad, saved, readout_weight, hidden,
                 surrogate, partials, transpose, grads):
        """readout_grad [T, B, KP]: g_I2, the readout current's gradient (zero past column K); saved [T, B, K_s,
        N]: the hidden layer's; readout_weight: W2 [K, N]; hidden: (constants [P, N], S); surrogate: (code,
        slope, learn). partials: per-thread accumulators (partial [P, N_in, N] of dW^T, partial_bias [P, N],
        readout_partial [P, N, KP] of dW2^T, readout_partial_bias [P, KP], partial_consts [P, P_c, N]); grads:
        (grad_weight, grad_bias, grad_readout_weight [K, N], grad_readout_bias [K]), the sums of the
        accumulators over p in order, the hidden weight's as in ``event_layer`` (``transpose``)."""
        partial, partial_bias, readout_partial, readout_partial_bias, partial_consts = partials
        grad_weight, grad_bias, grad_readout_weight, grad_readout_bias = grads
        consts, num_state = hidden
        num_steps, batch_size, _ = indices.shape
        width, num_outputs, num_parts, dtype = saved.shape[3], readout_weight.shape[0], partial.shape[0], saved.dtype
        zero, one = dtype.type(0), dtype.type(1)
        for part in numba.prange(num_parts):
            # the loops' views are made from borrowed arrays: no reference counting per row (intrinsics.borrow)
            accumulator, accumulator_bias = borrowed(partial)[part], borrowed(partial_bias)[part]
            readout_accumulator = borrowed(readout_partial)[part]
            readout_accumulator_bias = borrowed(readout_partial_bias)[part]
            saved_rows, events, readout_rows = borrowed(saved), borrowed(indices), borrowed(readout_grad)
            accumulator[:] = zero
            accumulator_bias[:] = zero
            readout_accumulator[:] = zero
            readout_accumulator_bias[:] = zero
            mxcsr = flush_denormals()  # the adjoint's decays make denormals (intrinsics.denormals)
            # private (neurons.prepared)
            owned_consts, accumulator_consts = prepared(code, consts), np.zeros_like(consts)
            owned_state = np.empty((GROUP, num_state, width), dtype)
            owned_over_time = np.empty((GROUP, width), dtype)  # sum over t of g_I: what defaults and bias receive
            local, grad_state, over_time = borrowed(owned_consts), borrowed(owned_state), borrowed(owned_over_time)
            x, h = np.empty(width, dtype), np.empty(width, dtype)  # two arrays (event_layer.kernels says why)
            grad_current, grad_spikes = np.empty(width, dtype), np.empty(width, dtype)
            fired = np.empty(width, np.int32)
            for group in range(*part_groups(part, num_parts, batch_size)):
                first, stop = group_samples(group, batch_size)
                grad_state[:] = zero
                over_time[:] = zero
                for t in range(num_steps - 1, -1, -1):
                    for b in range(first, stop):
                        readout_row = readout_rows[t, b]
                        for k in range(readout_row.shape[0]):
                            readout_accumulator_bias[k] += readout_row[k]
                        # the hidden neurons that fired, from the step's saved rows: where V_pre >= threshold, or
                        # where the model's margin (kept in x for the adjoint) is >= 0
                        if code == UNIFORM_LIF:
                            count = fired_indices(saved_rows[t, b, 0], local[1, 0], fired)
                        else:
                            margin(code, local, saved_rows[t, b], x)
                            count = fired_indices(x, zero, fired)
                        scatter_rows(readout_accumulator, fired, 0, count, readout_row, one)
                        weighted_rows(grad_spikes, readout_weight, readout_row)
                        adjoint_neuron_events(code, local, saved_rows[t, b], saved_rows[max(t - 1, 0), b], t == 0,
                                              grad_spikes, surrogate, grad_state[b - first], over_time[b - first],
                                              accumulator, accumulator_consts, events[t, b], num_on[t, b],
                                              num_off[t, b], x, h, grad_current)
                end_group(over_time, defaults, first, stop, num_defaults, accumulator, accumulator_bias)
            partial_consts[part] = accumulator_consts
            restore_denormals(mxcsr)
            held(owned_consts)
            held(owned_state)
            held(owned_over_time)
        for part in numba.prange(num_parts):
            sum_partials_part(partial, part, transpose, grad_weight)
        sum_partials(partial_bias, grad_bias)
        sum_transposed_rows(readout_partial[:, :, :num_outputs], 0, width, grad_readout_weight)
        sum_partials(readout_partial_bias[:, :num_outputs], grad_readout_bias)

    return forward, backward


def _padded(width: int, like: Tensor) -> int:
    """``width`` rounded up to whole 64-byte vectors of ``like``'s dtype (16 float32, 8 float64)."""
    lanes = 64 // like.element_size()
    return -(-width // lanes) * lanes


def padded_rows(rows: Tensor) -> Tensor:
    """rows [N, K] copied into [N, _padded(K)], zeros after column K.

    Why: the readout's rows of W2^T and dW2^T are K = 10 wide. Unpadded, each is a masked 40-byte
    vector that shares cache lines with its neighbours; a masked store does not forward to a load of
    the same line (``intrinsics.rows``), and the hidden neurons that fire together are often neighbours.
    Padded, each row is one whole, aligned vector; the zero columns add zeros."""
    padded = rows.new_zeros(rows.shape[0], _padded(rows.shape[1], rows))
    padded[:, : rows.shape[1]] = rows
    return padded


@numba.njit(inline="always")
def readout_step_grad(target, free, readout_weight, readout_row, fired, count, accumulator, accumulator_bias, one):
    """One sample-step of a fused readout's backward inside a recurrent layer's: g_S += W2^T g_I2; dW2^T += g_I2 at
    the neurons that spiked; db2 += g_I2.

    target: g_S [N]; free: [N] scratch, overwritten; readout_weight: W2 [K, N]; readout_row: g_I2 [KP], zero
    past K; fired[:count]: the neurons that spiked at the step (``select.fired_indices``); accumulator: this
    thread's dW2^T [N, KP]; accumulator_bias: its db2 [KP]. Both recurrent kernels (``recurrent``,
    ``event_recurrent``) call it per sample and step, in reverse."""
    weighted_rows(free, readout_weight, readout_row)
    for j in range(target.shape[0]):
        target[j] += free[j]
    scatter_rows(accumulator, fired, 0, count, readout_row, one)
    for k in range(readout_row.shape[0]):
        accumulator_bias[k] += readout_row[k]


class _EventReadout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor, bias: Tensor, consts: Tensor, readout_weight: Tensor,  # type: ignore[override]
                readout_bias: Tensor, events: SpikeEvents, params: tuple[NamedTuple, LIFParams], keep: bool) -> Tensor:
        num_steps, batch_size, _ = events.shape
        width = weight.shape[0]
        num_outputs = readout_weight.shape[0]
        num_parts = thread_parts(batch_size)
        hidden, readout = params
        code = kernel_code(hidden)
        _, num_state, num_saved = SHAPES[code]
        weight, weight_t, transpose = kernel_weights(weight)
        # Saved rows only where backward will read them; else a one-row scratch per thread (see event_layer).
        saved = torch.empty(*((num_steps, batch_size) if keep else (num_parts, 1)), num_saved, width,
                            dtype=weight.dtype)
        packed = consts.detach().contiguous()
        readout_weight_t = padded_rows(readout_weight.detach().t())  # [N, KP]
        padded = readout_weight_t.shape[1]
        readout_current = weight_t.new_empty(num_steps, batch_size, padded)
        kernels(code)[0](*event_arrays(events), weight.numpy(), transpose, bias.detach().contiguous().numpy(),
                         (packed.numpy(), num_state), readout_weight_t.numpy(),
                         padded_rows(readout_bias.detach().view(1, -1))[0].numpy(), num_parts, keep,
                         weight_t.numpy(), saved.numpy(), readout_current.numpy())
        counts, readout_pre = readout_scan(readout_current, readout, keep)
        ctx.save_for_backward(saved, packed, readout_pre, readout_weight)
        ctx.events, ctx.params, ctx.transpose, ctx.code = events, params, transpose, code
        return counts.view(batch_size, padded)[:, :num_outputs]

    @staticmethod
    def backward(ctx, grad_counts: Tensor):  # type: ignore[override]
        saved, packed, readout_pre, readout_weight = ctx.saved_tensors
        events: SpikeEvents = ctx.events
        hidden, readout = ctx.params
        num_steps, batch_size, _, width = saved.shape
        num_parts, num_outputs = thread_parts(batch_size), readout_weight.shape[0]
        dtype = saved.numpy().dtype.type
        # g_I2 of every step first: the readout's adjoint does not depend on the hidden layer.
        readout_grad = readout_adjoint(padded_rows(grad_counts), readout_pre, readout)
        padded = _padded(num_outputs, saved)
        # One private accumulator per thread, summed after: no two threads write the same row.
        partials = (saved.new_empty(num_parts, events.num_inputs, width), saved.new_empty(num_parts, width),
                    saved.new_empty(num_parts, width, padded), saved.new_empty(num_parts, padded),
                    saved.new_empty(num_parts, *packed.shape))
        # An input-major weight gets dW^T in its own layout (partials[0][0]), as in event_layer.
        grad_weight = saved.new_empty(width, events.num_inputs) if ctx.transpose else saved.new_empty(0, 0)
        grads = (grad_weight, saved.new_empty(width), saved.new_empty(num_outputs, width),
                 saved.new_empty(num_outputs))
        learn = bool(ctx.needs_input_grad[2])
        kernels(ctx.code)[1](*event_arrays(events), readout_grad.view(num_steps, batch_size, padded).numpy(),
                             saved.numpy(), readout_weight.detach().contiguous().numpy(),
                             (packed.numpy(), SHAPES[ctx.code][1]),
                             (SURROGATES[hidden.surrogate].code, dtype(hidden.slope), learn),
                             tuple(p.numpy() for p in partials), ctx.transpose, tuple(g.numpy() for g in grads))
        _, grad_bias, grad_readout_weight, grad_readout_bias = grads
        return (grad_weight if ctx.transpose else partials[0][0].t(), grad_bias, partials[4].sum(0) if learn else None,
                grad_readout_weight, grad_readout_bias, None, None, None)


def supports_event_readout(hidden: nn.Module, readout: nn.Module) -> bool:
    """Whether ``event_readout_counts`` runs: both layers' weights float32/float64 on the CPU
    (``event_layer.supports_event_layer``), of one dtype, the readout's [K, N] fed by the hidden N."""
    weight, readout_weight = hidden.weight, readout.weight
    return (supports_event_layer(weight) and supports_event_layer(readout_weight)
            and weight.dtype == readout_weight.dtype and readout_weight.shape[1] == weight.shape[0])


def event_readout_counts(events: SpikeEvents, hidden: nn.Module, hidden_params: NamedTuple, readout: nn.Module,
                         readout_params: LIFParams) -> Tensor:
    """Spike counts over time of a two-layer network fed by ``events`` (the same as ``readout.readout_counts``
    of ``event_layer.event_lif_layer``'s spikes, up to float rounding in the readout's products).

    Args:
        events: input spikes standing for [T, B, N_in].
        hidden: the first layer's synapses (``nn.Linear`` or ``InputMajorLinear``), weight [N, N_in].
        hidden_params: its neurons' constants, of any model (``dynamics.neuron.MODELS``), learned ones included.
        readout: the second layer's synapses, weight [K, N].
        readout_params: its LIF constants (``scan.plain_lif``).
    Returns:
        counts [B, K] (float), differentiable in both layers' weights and biases and in the hidden layer's
        tensor constants (surrogate gradient).
    """
    if events.num_inputs != hidden.weight.shape[1]:
        raise ValueError(f"events have {events.num_inputs} inputs but the weight expects {hidden.weight.shape[1]}")
    if not plain_lif(readout_params):
        raise ValueError("event_readout_counts needs a plain LIF readout (float constants, none learned)")
    if not supports_event_readout(hidden, readout):
        raise ValueError("event_readout_counts needs float32/float64 CPU weights of one dtype, the readout's "
                         f"[K, {hidden.weight.shape[0]}]")
    consts = kernel_constants(hidden_params, (hidden.weight.shape[0],), hidden.weight)
    parameters = (hidden.weight, hidden.bias, consts, readout.weight, readout.bias)
    keep = torch.is_grad_enabled() and any(p.requires_grad for p in parameters)
    return _EventReadout.apply(*parameters, events, (hidden_params, readout_params), keep)
