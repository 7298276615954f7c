"""A recurrent layer fed by spike events, fused: input product, recurrent term and neuron scan in one pass per
direction.

    I[t] = W x[t] + b + U s[t-1]          (s[-1] = 0; x[t] the input events of step t)

The input part is ``event_layer``'s event product (bias + default rows + on rows - off rows of W^T), the recurrent
part ``recurrent``'s (the rows of U^T of the neurons that spiked at t-1), the neuron part any model
(``spikekit.kernels.neurons``). Forward, per group of ``event_layer.GROUP`` samples stepped together through time:
a row of current is made while it is in L1 and goes straight into one step of the model. Backward, steps in
reverse, per group: the spikes' gradient is the loss's plus U^T g_I[t+1] (``rows.weighted_rows_quad``, four
samples per pass over U), the model's adjoint gives g_I[t], which is at once scattered into dW^T at the step's
events and added to the sum over t that the defaults and the bias receive; one step later (at t-1) its row is noted
for each neuron that spiked at t-1, found from that step's margin, and every CHUNK steps each neuron's noted rows
are summed into its row of dU^T at once (dU = sum over t of g_I[t] s[t-1]^T; ``fired_outer``). The group's g_I of
its last CHUNK + 1 steps are kept in a [RING, GROUP, N] block, never as a [T, B, N] tensor. Gathered so rather than
scattered (dU^T[j] += g_I[t] at each spike, a read and a write of a row of dU^T in L2 per spike), the 700-256ra-20
training step (20.5% hidden firing, leaky readout, 2 threads, 2026-12-07) took 31.1 against 33.3 ms (medians of
21 alternating pairs, 18 faster).

A LIF readout on the layer (``event_recurrent_counts``: the counts a training step reads) runs inside the same passes,
as ``event_readout`` does for a feed-forward layer: forward, its current is bias + the rows of W2^T of the neurons
that spiked (padded to whole vectors, ``event_readout.padded_rows``), written to [T, B, KP], then its LIF runs over
all B*KP columns at once; backward, its adjoint first (it does not depend on the layer), then the layer's spikes'
gradient takes W2^T g_I2[t] per step (``rows.weighted_rows``), and dW2^T is scattered at the neurons that spiked.
Unfused, the readout's current was one GEMM over T*B rows, and its backward two more, one of which wrote the
[T, B, N] spike gradient that the layer's backward read back.
``event_recurrent_layer(..., readout=)`` runs the same readout part and returns its current [T, B, K] itself (what
the leaky readout with learned or per-neuron time constants weighs over time: ``nn.network.SNN._leaky``).

Why fused: run as ``event_linear`` then ``recurrent.recurrent_scan``, the [T, B, N] current was written by one
pass and read by the next, and its gradient g_I written by the scan's backward and read back for dW (13 MB each
for SHD's shape: T = 100, batch 128, N = 256, float32), with a launch and autograd node per pass. The figures of
the change are in the changelog and ``docs/performance.md`` (``bench_engines.py --section recurrent``).

Tried and dropped (2026-12-06, Intel AVX-512, 2 threads, alternating in one process):
- A dense 0/1 input (another layer's spikes) turned into events here, with its gradient W^T g_I[t] made in the
  backward pass (four samples per pass over W): for S-MNIST's second layer (1-64ra-256ra-10) it spared the
  [T, B, 256] current and its gradient, but the training step took as long (batch 32: median 58.6 against 58.0 ms;
  batch 128: 309.6 against 307.6 ms). There the unfused path's products are small (64 inputs) and its scan's
  backward is as fast as this one's.
- (2026-12-07) W2^T g_I2[t] made in the pass over U, over the rows of [U; W2] weighted by each sample's g_I[t+1]
  and g_I2[t] copied side by side, as ``recurrent`` does: the CLI's 700-256ra-20 network (counts readout, T = 100,
  batch 128, no hidden spike) took 17.9 against 15.8 ms a training step (1 of 21 alternating pairs faster).
- dU's rows updated once per neuron for all the samples of a group in which it spiked (a bit mask per neuron),
  instead of once per sample: the same dU to the bit, and no faster (700-256ra-20 at 20.5% firing, layer forward
  and backward: new faster in 4 of 15 pairs, medians 41.4 against 39.7 ms).

Arithmetic: the forward's is the unfused path's to the bit (the same current, made by ``event_layer.event_current``,
then the same recurrent rows added in the same order, then the same neuron step: same spikes). Gradients are
summed in a different order (float rounding only).
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import torch
from torch import Tensor

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
from spikekit.kernels.event_readout import padded_rows, readout_step_grad
from spikekit.kernels.fired_outer import CHUNK_ROWS, gather_outer, note_fired
from spikekit.kernels.intrinsics.borrow import borrowed, held
from spikekit.kernels.intrinsics.denormals import flush_denormals, restore_denormals
from spikekit.kernels.intrinsics.rows import QUAD, add_rows, weighted_rows_quad
from spikekit.kernels.intrinsics.select import fired_indices
from spikekit.kernels.neurons import SHAPES, charge_and_fire, fired_at, keeps_spikes, margin, prepared
from spikekit.kernels.readout import readout_adjoint, readout_scan, supports_fused_readout
from spikekit.kernels.reference import check_recurrent_outputs
from spikekit.kernels.scan import kernel_code, kernel_constants, plain_lif
from spikekit.spike_events import SpikeEvents

CHUNK = CHUNK_ROWS // GROUP  # steps whose dU rows are gathered at once (``fired_outer``)
RING = CHUNK + 1  # steps of g_I the backward keeps: a chunk's rows (g_I[t+1] for its CHUNK steps t) and g_I[t]


@functools.cache
def kernels(code: int):
    """(forward, backward) compiled for neuron model ``code``, a closure constant (``scan.kernels`` says why)."""

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def forward(indices, num_on, num_off, defaults, num_defaults, weight, transpose, bias, recurrent_t, neuron,
                num_parts, keep, keep_spikes, time_weights, readout, weight_t, spikes, saved, summed, readout_current):
        """Events as ``SpikeEvents`` (arrays); weight_t W^T [N_in, N], filled here from weight W [N, N_in] if
        ``transpose`` (``event_layer.kernels``); recurrent_t U^T [N, N]; neuron: (constants [P, N], state
        variables S); time_weights w [T] or empty; readout: (W2^T [N, KP], b2 [KP]) of a readout fed by the
        spikes, zero past its K columns, or empty. Out: spikes [T, B, N] if keep_spikes (else per-thread scratch
        [P, GROUP, N]: no one reads them after the step), the saved rows ([T, B, K, N] if keep,
        else per-thread scratch), if w is given summed [B, N] += sum over t of w[t] s[t] (zeros on entry), and if
        the readout is given its current readout_current [T, B, KP] = b2 + the rows of W2^T of the neurons that
        spiked."""
        num_steps, batch_size, _ = indices.shape
        width, dtype = weight_t.shape[1], spikes.dtype
        one, half = dtype.type(1), dtype.type(0.5)
        consts, num_state = neuron
        weighted = time_weights.shape[0] > 0
        readout_weight_t, readout_bias = readout
        to_readout = readout_current.shape[0] > 0
        if transpose:
            for part in numba.prange(num_parts):
                transpose_part(weight, part, num_parts, weight_t)
        for part in numba.prange(num_parts):
            owned_consts = prepared(code, consts)  # private, with the factors (neurons.prepared)
            owned_base = np.empty((GROUP, width), dtype)  # bias + default rows, per sample of the group
            owned_state = np.empty((GROUP, num_state, width), dtype)
            # the loops' views are made from borrowed arrays: no reference counting per row (intrinsics.borrow)
            local, base, state = borrowed(owned_consts), borrowed(owned_base), borrowed(owned_state)
            events, saved_rows, spike_rows = borrowed(indices), borrowed(saved), borrowed(spikes)
            summed_rows, readout_rows = borrowed(summed), borrowed(readout_current)
            current = np.empty(width, dtype)
            # per sample of the group, the neurons that spiked at its last step (found 16 at a time, once: the
            # readout reads them at t, the recurrence at t+1)
            owned_fired, owned_counts = np.empty((GROUP, width), np.int32), np.zeros(GROUP, np.int64)
            fired, fired_counts = borrowed(owned_fired), borrowed(owned_counts)
            for group in range(*part_groups(part, num_parts, batch_size)):
                first, stop = group_samples(group, batch_size)
                start_group(bias, weight_t, defaults, first, stop, num_defaults, base, state)
                for t in range(num_steps):
                    for b in range(first, stop):
                        event_current(base[b - first], weight_t, events[t, b], num_on[t, b], num_off[t, b], current)
                        if t > 0:  # the rows of U^T of the neurons that spiked at t-1
                            add_rows(current, recurrent_t, fired[b - first], 0, fired_counts[b - first], one)
                        spike_row = spike_rows[t, b] if keep_spikes else spike_rows[part, b - first]
                        charge_and_fire(code, local, state[b - first], current,
                                        saved_rows[t, b] if keep else saved_rows[part, 0], spike_row)
                        if t + 1 < num_steps or to_readout:  # spikes are 0 or 1
                            fired_counts[b - first] = fired_indices(spike_row, half, fired[b - first])
                        if weighted:  # while the spikes are in L1
                            total, row, weight_t_now = summed_rows[b], spike_row, time_weights[t]
                            for j in range(width):
                                total[j] += weight_t_now * row[j]
                        if to_readout:  # the readout's current: its rows of the neurons that spiked, while in L1
                            readout_row = readout_rows[t, b]
                            readout_row[:] = readout_bias
                            add_rows(readout_row, readout_weight_t, fired[b - first], 0, fired_counts[b - first], one)
            held(owned_fired)
            held(owned_counts)
            held(owned_consts)
            held(owned_base)
            held(owned_state)

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def backward(indices, num_on, num_off, defaults, num_defaults, grad_spikes, time_weights, grad_summed, readout,
                 saved, spikes, recurrent, neuron, surrogate, learn_recurrent, partials, transpose, grad_weight,
                 grad_bias, readout_grads):
        """grad_spikes dL/dS [T, B, N] or empty (no gradient reached the spikes themselves); time_weights w [T]
        and grad_summed dL/d(summed) [B, N], or both empty: the spikes' gradient is dL/dS[t] + w[t] dL/d(summed),
        made per step, never as a [T, B, N] tensor; saved [T, B, K, N]; spikes [T, B, N], read for ``UNIFORM_LIF``
        only (the others' spikes are re-derived from the saved rows: ``neurons.margin``); recurrent U [N, N]; neuron:
        (constants [P, N], S); surrogate: (code, slope, learn: whether the constants want their gradient);
        partials: one accumulator per thread p of dW^T [P, N_in, N], of the bias gradient [P, N], of the
        constants' gradient [P, P_c, N] and, if ``learn_recurrent``, of dU^T [P, N, N], then of the readout's
        dW2^T [P, N, KP] and db2 [P, KP]; readout: (g_I2 [T, B, KP], the readout current's gradient, zero past
        column K, and W2 [K, N]) or both empty: then the spikes' gradient also takes W2^T g_I2[t], made per step.
        Out: grad_bias [N] and the weight gradient as in ``event_layer.kernels`` (``transpose``), and with the
        readout readout_grads (dW2 [K, N], db2 [K]); the constants' and U's gradients stay per thread."""
        num_steps, batch_size, _ = indices.shape
        partial, partial_bias, partial_consts, partial_recurrent, readout_partial, readout_partial_bias = partials
        readout_grad, readout_weight = readout
        to_readout = readout_grad.shape[0] > 0
        consts, num_state = neuron
        width, num_parts, dtype = saved.shape[3], partial.shape[0], saved.dtype
        zero, one = dtype.type(0), dtype.type(1)
        direct, weighted = grad_spikes.shape[0] > 0, time_weights.shape[0] > 0
        for part in numba.prange(num_parts):
            # the loops' views are made from borrowed arrays: no reference counting per row (intrinsics.borrow)
            accumulator, accumulator_bias = borrowed(partial)[part], borrowed(partial_bias)[part]
            summed_grad_rows = borrowed(grad_summed)
            accumulator_recurrent = borrowed(partial_recurrent)[part]
            events, saved_rows, grad_rows = borrowed(indices), borrowed(saved), borrowed(grad_spikes)
            spike_rows, readout_rows = borrowed(spikes), borrowed(readout_grad)
            readout_accumulator = borrowed(readout_partial)[part]
            readout_accumulator_bias = borrowed(readout_partial_bias)[part]
            accumulator[:] = zero
            accumulator_bias[:] = zero
            if learn_recurrent:
                accumulator_recurrent[:] = zero
            if to_readout:
                readout_accumulator[:] = zero
                readout_accumulator_bias[:] = zero
            mxcsr = flush_denormals()  # the adjoint's decays make denormals (intrinsics.denormals)
            owned_consts = prepared(code, consts)  # private, with the adjoint's factors (neurons.prepared)
            accumulator_consts = np.zeros_like(consts)
            owned_state = np.empty((GROUP, num_state, width), dtype)
            owned_over_time = np.empty((GROUP, width), dtype)  # sum over t of g_I: what defaults and bias receive
            # g_I of the group's last RING steps, step t at index t % RING: g_I[t+1] feeds U^T g_I[t+1] and, for
            # the neurons that spiked at t, dU (``fired_outer``: noted per neuron, gathered every CHUNK steps, so
            # the rows a chunk notes are still in the ring); the rows past a last group's samples stay 0, so the
            # products by U of a partial group's padding are 0
            owned_grad_current = np.empty((RING, GROUP, width), dtype)
            owned_ring_rows = owned_grad_current.reshape(RING * GROUP, width)
            owned_lists = np.empty((width, CHUNK * GROUP), np.int32)
            owned_counts = np.zeros(width, np.int64)
            owned_step = np.empty((GROUP, width), dtype)  # the spikes' gradient g_S[t] of the group
            local, grad_state, over_time = borrowed(owned_consts), borrowed(owned_state), borrowed(owned_over_time)
            grad_current, step_grad = borrowed(owned_grad_current), borrowed(owned_step)
            ring_rows, lists, counts = borrowed(owned_ring_rows), borrowed(owned_lists), borrowed(owned_counts)
            x, h = np.empty(width, dtype), np.empty(width, dtype)  # two arrays (event_layer.kernels says why)
            fired = np.empty(width, np.int32)
            for group in range(*part_groups(part, num_parts, batch_size)):
                first, stop = group_samples(group, batch_size)
                grad_state[:] = zero
                over_time[:] = zero
                grad_current[:] = zero
                for t in range(num_steps - 1, -1, -1):
                    now, after = grad_current[t % RING], grad_current[(t + 1) % RING]
                    if t + 1 < num_steps:  # g_S[t] = U^T g_I[t+1] + dL/dS[t], four samples per pass over U
                        for quad in range(first, stop, QUAD):
                            offset = quad - first
                            weighted_rows_quad(step_grad[offset:offset + QUAD], recurrent,
                                               after[offset:offset + QUAD])
                    else:
                        step_grad[:] = zero
                    for b in range(first, stop):  # + dL/dS[t] + w[t] dL/d(summed)
                        target = step_grad[b - first]
                        if direct:
                            loss_grad = grad_rows[t, b]
                            for j in range(width):
                                target[j] += loss_grad[j]
                        if weighted:
                            summed_grad, weight_t_now = summed_grad_rows[b], time_weights[t]
                            for j in range(width):
                                target[j] += weight_t_now * summed_grad[j]
                    for b in range(first, stop):
                        margin(code, local, saved_rows[t, b], x)
                        to_recurrent = learn_recurrent and t + 1 < num_steps
                        if to_readout or to_recurrent:
                            # who spiked at t, from the margin (reading the spikes back cost 1.7 of a 12 ms backward,
                            # 700-256ra-20 at 1.3% firing, and the forward writing them another)
                            count = fired_at(code, spike_rows, t, b, x, fired)
                            if to_readout:  # + W2^T g_I2[t]; dW2^T at the neurons that spiked, db2 (h: scratch)
                                readout_step_grad(step_grad[b - first], h, readout_weight, readout_rows[t, b], fired,
                                                  count, readout_accumulator, readout_accumulator_bias, one)
                            if to_recurrent:  # dU^T[j] += g_I[t+1] for the j that spiked at t
                                note_fired(lists, counts, fired, count, ((t + 1) % RING) * GROUP + b - first)
                        adjoint_neuron_events(code, local, saved_rows[t, b], saved_rows[max(t - 1, 0), b], t == 0,
                                              step_grad[b - first], surrogate, grad_state[b - first],
                                              over_time[b - first], accumulator, accumulator_consts, events[t, b],
                                              num_on[t, b], num_off[t, b], x, h, now[b - first])
                    if learn_recurrent and t < num_steps - 1 and (t == 0 or (num_steps - 1 - t) % CHUNK == 0):
                        gather_outer(accumulator_recurrent, ring_rows, lists, counts)  # the chunk's dU rows
                end_group(over_time, defaults, first, stop, num_defaults, accumulator, accumulator_bias)
            partial_consts[part] = accumulator_consts
            restore_denormals(mxcsr)
            held(owned_consts)
            held(owned_state)
            held(owned_over_time)
            held(owned_grad_current)
            held(owned_ring_rows)
            held(owned_lists)
            held(owned_counts)
            held(owned_step)
        for part in numba.prange(num_parts):
            sum_partials_part(partial, part, transpose, grad_weight)
        sum_partials(partial_bias, grad_bias)
        if to_readout:
            grad_readout_weight, grad_readout_bias = readout_grads
            num_outputs = grad_readout_weight.shape[0]
            sum_transposed_rows(readout_partial[:, :, :num_outputs], 0, width, grad_readout_weight)
            sum_partials(readout_partial_bias[:, :num_outputs], grad_readout_bias)

    return forward, backward


def _forward_pass(events: SpikeEvents, weight: Tensor, bias: Tensor, recurrent: Tensor, consts: Tensor, code: int,
                  keep: bool, time_weights: Tensor | None, readout: tuple[Tensor, Tensor] | None,
                  keep_spikes: bool = True) -> tuple:
    """Run the forward kernel: (spikes, saved, summed, readout current [T, B, KP] or empty, transpose, packed
    constants, the time weights as the kernel took them). ``readout``: (W2^T [N, KP], b2 [KP]) padded, or None.
    ``keep_spikes`` False (a caller that returns no spikes, and a model whose backward re-derives them from the saved
    rows: not ``UNIFORM_LIF``): the spikes go to per-thread scratch [P, GROUP, N], returned in their place."""
    num_steps, batch_size, _ = events.shape
    width = weight.shape[0]
    _, num_state, num_saved = SHAPES[code]
    num_parts = thread_parts(batch_size)
    weight, weight_t, transpose = kernel_weights(weight)
    spikes = torch.empty(*((num_steps, batch_size) if keep_spikes else (num_parts, GROUP)), width, dtype=weight.dtype)
    saved = torch.empty(*((num_steps, batch_size) if keep else (num_parts, 1)), num_saved, width, dtype=weight.dtype)
    summed = torch.zeros(*((0, 0) if time_weights is None else (batch_size, width)), dtype=weight.dtype)
    time_weights = weight_t.new_empty(0) if time_weights is None else time_weights  # the kernels' "none": empty
    readout = (weight_t.new_empty(0, 0), weight_t.new_empty(0)) if readout is None else readout
    readout_current = weight_t.new_empty(*((num_steps, batch_size, readout[1].shape[0]) if readout[1].shape[0]
                                           else (0, 0, 0)))
    packed, recurrent_t = consts.detach().contiguous(), recurrent.detach().t().contiguous()
    kernels(code)[0](*event_arrays(events), weight.numpy(), transpose, bias.detach().contiguous().numpy(),
                     recurrent_t.numpy(), (packed.numpy(), num_state), num_parts, keep, keep_spikes,
                     time_weights.numpy(),
                     tuple(r.numpy() for r in readout), weight_t.numpy(), spikes.numpy(), saved.numpy(),
                     summed.numpy(), readout_current.numpy())
    return spikes, saved, summed, readout_current, transpose, packed, time_weights


def _backward_pass(events: SpikeEvents, saved: Tensor, spikes: Tensor, recurrent: Tensor, packed: Tensor,
                   model: tuple[int, int, float], transpose: bool, wants: tuple[bool, bool],
                   grad_spikes: Tensor | None, through_sum: tuple[Tensor, Tensor] | None,
                   readout: tuple[Tensor, Tensor] | None) -> tuple:
    """Run the backward kernel: (dW, db, dU or None, the constants' gradient or None, (dW2, db2) or None).
    wants: (U's gradient, the constants'); through_sum: (time weights [T], the sum's gradient [B, N]) or None;
    readout: (g_I2 [T, B, KP], W2 [K, N]) or None."""
    code, surrogate, slope = model
    learn_recurrent, learn_consts = wants
    num_parts, width = thread_parts(saved.shape[1]), saved.shape[3]
    padded = readout[0].shape[2] if readout is not None else 0
    # One private accumulator per thread, summed after: no two threads write the same row.
    partials = (saved.new_empty(num_parts, events.num_inputs, width), saved.new_empty(num_parts, width),
                saved.new_empty(num_parts, *packed.shape),
                saved.new_empty(num_parts, *((width, width) if learn_recurrent else (0, 0))),
                saved.new_empty(num_parts, width if readout is not None else 0, padded),
                saved.new_empty(num_parts, padded))
    grad_weight = saved.new_empty(width, events.num_inputs) if transpose else saved.new_empty(0, 0)
    grad_bias = saved.new_empty(width)
    num_outputs = readout[1].shape[0] if readout is not None else 0
    readout_grads = (saved.new_empty(num_outputs, width), saved.new_empty(num_outputs))
    dtype = saved.numpy().dtype.type
    direct = saved.new_empty(0, 0, 0) if grad_spikes is None else grad_spikes.contiguous()
    by_step, summed_grad = through_sum if through_sum is not None else (saved.new_empty(0), saved.new_empty(0, 0))
    readout = readout if readout is not None else (saved.new_empty(0, 0, 0), saved.new_empty(0, 0))
    kernels(code)[1](*event_arrays(events), direct.numpy(), by_step.numpy(), summed_grad.contiguous().numpy(),
                     tuple(r.numpy() for r in readout), saved.numpy(), spikes.numpy(),
                     recurrent.detach().contiguous().numpy(), (packed.numpy(), SHAPES[code][1]),
                     (surrogate, dtype(slope), learn_consts), learn_recurrent, tuple(p.numpy() for p in partials),
                     transpose, grad_weight.numpy(), grad_bias.numpy(), tuple(g.numpy() for g in readout_grads))
    return (grad_weight if transpose else partials[0][0].t(), grad_bias,
            partials[3].sum(0).t() if learn_recurrent else None, partials[2].sum(0) if learn_consts else None,
            readout_grads if num_outputs else None)


class _EventRecurrent(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor, bias: Tensor, recurrent: Tensor, consts: Tensor,  # type: ignore[override]
                readout_weight: Tensor | None, readout_bias: Tensor | None, events: SpikeEvents,
                model: tuple[int, int, float], keep: bool,
                time_weights: Tensor | None, keep_spikes: bool) -> tuple[Tensor, Tensor, Tensor]:
        readout = None if readout_weight is None else (  # W2^T and b2 padded to whole vectors
            padded_rows(readout_weight.detach().t()), padded_rows(readout_bias.detach().view(1, -1))[0])
        spikes, saved, summed, readout_current, transpose, packed, time_weights = _forward_pass(
            events, weight, bias, recurrent, consts, model[0], keep, time_weights, readout, keep_spikes)
        ctx.save_for_backward(saved, spikes, recurrent, packed, time_weights, readout_weight)
        ctx.events, ctx.model, ctx.transpose = events, model, transpose
        ctx.set_materialize_grads(False)  # an output no loss reads gets None, and costs the backward nothing
        return (spikes if keep_spikes else spikes.new_empty(0), summed,
                readout_current[..., :0 if readout_weight is None else readout_weight.shape[0]])

    @staticmethod
    def backward(ctx, grad_spikes: Tensor | None, grad_summed: Tensor | None,  # type: ignore[override]
                 grad_readout: Tensor | None):
        saved, spikes, recurrent, packed, time_weights, readout_weight = ctx.saved_tensors
        weighted = grad_summed is not None and len(time_weights) > 0
        readout = None
        if grad_readout is not None:  # g_I2 padded as the forward's readout current, zeros past column K
            num_steps, batch_size, num_outputs = grad_readout.shape
            padded = padded_rows(grad_readout.reshape(num_steps * batch_size, num_outputs))
            readout = (padded.view(num_steps, batch_size, -1), readout_weight.detach().contiguous())
        grad_weight, grad_bias, grad_recurrent, grad_consts, readout_grads = _backward_pass(
            ctx.events, saved, spikes, recurrent, packed, ctx.model, ctx.transpose,
            (bool(ctx.needs_input_grad[2]), bool(ctx.needs_input_grad[3])), grad_spikes,
            (time_weights, grad_summed) if weighted else None, readout)
        grad_readout_weight, grad_readout_bias = readout_grads if readout_grads is not None else (None, None)
        return (grad_weight, grad_bias, grad_recurrent, grad_consts, grad_readout_weight, grad_readout_bias,
                None, None, None, None, None)


class _EventRecurrentCounts(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor, bias: Tensor, recurrent: Tensor, consts: Tensor,  # type: ignore[override]
                readout_weight: Tensor, readout_bias: Tensor, events: SpikeEvents, model: tuple[int, int, float],
                readout_params: LIFParams, keep: bool) -> Tensor:
        num_steps, batch_size, _ = events.shape
        num_outputs = readout_weight.shape[0]
        readout_weight_t = padded_rows(readout_weight.detach().t())  # [N, KP]
        padded = readout_weight_t.shape[1]
        # the spikes feed only the readout, made in the pass; the backward re-derives who spiked from the saved rows
        # (but UNIFORM_LIF's): no [T, B, N] spike tensor is written (1 kB a sample-step float32 at N = 256) or read
        spikes, saved, _, readout_current, transpose, packed, _ = _forward_pass(
            events, weight, bias, recurrent, consts, model[0], keep, None,
            (readout_weight_t, padded_rows(readout_bias.detach().view(1, -1))[0]), keeps_spikes(model[0], False))
        counts, readout_pre = readout_scan(readout_current, readout_params, keep)
        ctx.save_for_backward(saved, spikes, recurrent, packed, readout_pre, readout_weight)
        ctx.events, ctx.model, ctx.transpose, ctx.readout_params = events, model, transpose, readout_params
        return counts.view(batch_size, padded)[:, :num_outputs]

    @staticmethod
    def backward(ctx, grad_counts: Tensor):  # type: ignore[override]
        saved, spikes, recurrent, packed, readout_pre, readout_weight = ctx.saved_tensors
        readout_params: LIFParams = ctx.readout_params
        num_steps, batch_size = saved.shape[0], saved.shape[1]
        # g_I2 of every step first: the readout's adjoint does not depend on the recurrent layer.
        readout_grad = readout_adjoint(padded_rows(grad_counts), readout_pre, readout_params)
        grad_weight, grad_bias, grad_recurrent, grad_consts, (grad_readout_weight, grad_readout_bias) = _backward_pass(
            ctx.events, saved, spikes, recurrent, packed, ctx.model, ctx.transpose,
            (bool(ctx.needs_input_grad[2]), bool(ctx.needs_input_grad[3])), None, None,
            (readout_grad.view(num_steps, batch_size, -1), readout_weight.detach().contiguous()))
        return (grad_weight, grad_bias, grad_recurrent, grad_consts, grad_readout_weight, grad_readout_bias,
                None, None, None, None)


def supports_event_recurrent(weight: Tensor, recurrent: Tensor, bias: Tensor | None) -> bool:
    """Whether ``event_recurrent_layer`` runs for these weights: float32/float64 on the CPU, W, U and a bias alike."""
    return (supports_event_layer(weight) and bias is not None and bias.dtype == weight.dtype
            and recurrent.device == weight.device and recurrent.dtype == weight.dtype)


def event_recurrent_layer(events: SpikeEvents, weight: Tensor, bias: Tensor, recurrent: Tensor, params,
                          time_weights: Tensor | None = None, readout: torch.nn.Module | None = None,
                          spikes: bool = True) -> Tensor | tuple[Tensor | None, Tensor]:
    """Spikes of a recurrent layer (``I[t] = W x[t] + b + U s[t-1]``, then the neurons of ``params`` from rest)
    whose input spikes are ``events``.

    Args:
        events: input spikes standing for [T, B, N_in].
        weight: W [N, N_in], stored either way (``event_layer.input_major``); bias: b [N]; recurrent: U [N, N]; all
            float32 or float64 on the CPU (``supports_event_recurrent``).
        params: the neurons' constants, of any model (``dynamics.neuron.MODELS``), learned ones included.
        time_weights: w [T], constants (no gradient), or None. Given, the layer also returns sum over t of
            w[t] s[t] [B, N], made as the spikes are (what a readout linear in the spikes over time reads:
            ``nn.readout.leaky_scores``' weights), and its gradient reaches the spikes inside the backward pass,
            step by step, instead of as a [T, B, N] tensor.
        readout: an ``nn.Linear`` N -> K with a bias, of W's dtype, or None (not with ``time_weights``). Given, the
            layer also returns its current [T, B, K] = readout(spikes), made in the pass from the rows of W2^T of
            the neurons that spiked, and backward W2^T g_I2[t] reaches the spikes step by step (module docstring;
            what a leaky readout whose weights over time are learned reads).
        spikes: False (with ``time_weights`` or ``readout``, for a caller that reads only the sum or the current):
            None in the spikes' place, and no [T, B, N] spike tensor is made (the backward finds who spiked from
            the saved rows' margin; plain LIF with one value per constant, which has no margin row, keeps them).
    Returns:
        spikes [T, B, N] in {0., 1.}, differentiable in W, b, U and the tensor constants (surrogate gradient),
        equal to ``reference.reference_recurrent`` of the same layer; with ``time_weights``, (spikes, sum); with
        ``readout``, (spikes, its current), the current differentiable in the readout's weight and bias too.
    """
    if events.num_inputs != weight.shape[1]:
        raise ValueError(f"events have {events.num_inputs} inputs but the weight expects {weight.shape[1]}")
    if recurrent.shape != (weight.shape[0], weight.shape[0]):
        raise ValueError(f"U must be [{weight.shape[0]}, {weight.shape[0]}], got {list(recurrent.shape)}")
    if not supports_event_recurrent(weight, recurrent, bias):
        raise ValueError(f"event_recurrent_layer needs float32/float64 CPU weights and a bias of one dtype, got W "
                         f"{weight.dtype} on {weight.device}, U {recurrent.dtype} on {recurrent.device} and b "
                         f"{None if bias is None else bias.dtype}")
    if time_weights is not None and (time_weights.requires_grad or time_weights.shape != (events.shape[0],)):
        raise ValueError(f"time_weights must be constants [T] = [{events.shape[0]}] (no gradient), got "
                         f"{list(time_weights.shape)}{' requiring a gradient' if time_weights.requires_grad else ''}")
    check_recurrent_outputs(time_weights, readout, spikes)
    if readout is not None and not supports_fused_readout(weight, readout):
        raise ValueError("event_recurrent_layer's readout must be float32/float64 CPU weights [K, N] and a bias of "
                         "W's dtype")
    consts = kernel_constants(params, (weight.shape[0],), weight)
    parameters = (weight, bias, recurrent, consts) + (() if readout is None else (readout.weight, readout.bias))
    keep = torch.is_grad_enabled() and any(parameter.requires_grad for parameter in parameters)
    model = (kernel_code(params), SURROGATES[params.surrogate].code, params.slope)
    weights = None if time_weights is None else time_weights.to(weight.dtype).contiguous()
    output, summed, readout_current = _EventRecurrent.apply(
        weight, bias, recurrent, consts, None if readout is None else readout.weight,
        None if readout is None else readout.bias, events, model, keep, weights, keeps_spikes(model[0], spikes))
    output = output if spikes else None
    if readout is not None:
        return output, readout_current
    return output if time_weights is None else (output, summed)


def event_recurrent_counts(events: SpikeEvents, linear: torch.nn.Module, recurrent: Tensor, params,
                           readout: torch.nn.Module, readout_params: LIFParams) -> Tensor:
    """Spike counts over time of a LIF readout (``readout`` then LIF, from rest) fed by a recurrent layer fed by
    ``events`` (``event_recurrent_layer`` of ``linear``, ``recurrent`` and ``params``), as one pass each way: the
    readout's current is made from the rows of W2^T of the neurons that spiked, in the layer's pass, and backward the
    spikes' gradient W2^T g_I2[t] is made per step inside the layer's, never as a [T, B, N] tensor; dW2 and db2 are
    gathered there too (at the neurons that spiked). The same as ``readout.readout_counts`` of the layer's spikes up to
    float rounding in the readout's products (summed in another order).

    Args:
        events: input spikes standing for [T, B, N_in].
        linear: the recurrent layer's W [N, N_in] and b (``supports_event_recurrent``); recurrent: U [N, N].
        params: the recurrent layer's neurons, of any model, learned constants included.
        readout: the readout's synapses, W2 [K, N] and b2, of W's dtype.
        readout_params: its LIF constants (``scan.plain_lif``).
    Returns:
        counts [B, K] (float), differentiable in W, b, U, the recurrent layer's tensor constants, W2 and b2.
    """
    weight, bias = linear.weight, linear.bias
    if events.num_inputs != weight.shape[1]:
        raise ValueError(f"events have {events.num_inputs} inputs but the weight expects {weight.shape[1]}")
    if not supports_event_recurrent_counts(linear, recurrent, readout, readout_params):
        raise ValueError("event_recurrent_counts needs float32/float64 CPU weights and biases of one dtype, U "
                         f"[{weight.shape[0]}, {weight.shape[0]}], a readout [K, {weight.shape[0]}] and plain LIF "
                         "readout constants (floats, none learned)")
    consts = kernel_constants(params, (weight.shape[0],), weight)
    parameters = (weight, bias, recurrent, consts, readout.weight, readout.bias)
    keep = torch.is_grad_enabled() and any(parameter.requires_grad for parameter in parameters)
    model = (kernel_code(params), SURROGATES[params.surrogate].code, params.slope)
    return _EventRecurrentCounts.apply(*parameters, events, model, readout_params, keep)


def supports_event_recurrent_counts(linear: torch.nn.Module, recurrent: Tensor, readout: torch.nn.Module,
                                    readout_params) -> bool:
    """Whether ``event_recurrent_counts`` runs: the layer as ``supports_event_recurrent``, U square, a readout
    [K, N] with a bias, of the same dtype, and a plain LIF readout."""
    weight = linear.weight
    return (supports_event_recurrent(weight, recurrent, linear.bias)
            and recurrent.shape == (weight.shape[0], weight.shape[0]) and supports_fused_readout(weight, readout)
            and plain_lif(readout_params))

