"""A recurrent layer fed by spike events, fused: input product, recurrent term and neuron scan in one pass per
direction.

    I[t] = W x[t] + b + U s[t-1]          (s[-1] = 0; x[t] the input events of step t)

The input part is ``event_layer``'s event product (bias + default rows + on rows - off rows of W^T), the recurrent
part ``recurrent``'s (the rows of U^T of the neurons that spiked at t-1), the neuron part any model
(``spikekit.kernels.neurons``). Forward, per group of ``event_layer.GROUP`` samples stepped together through time:
a row of current is made while it is in L1 and goes straight into one step of the model. Backward, steps in
reverse, per group: the spikes' gradient is the loss's plus U^T g_I[t+1] (``rows.weighted_rows_quad``, four
samples per pass over U), the model's adjoint gives g_I[t], which is at once scattered into dW^T at the step's
events and added to the sum over t that the defaults and the bias receive; one step later (at t-1) it is added to
the rows of dU^T of the neurons that spiked at t-1, found from that step's margin (dU = sum over t of
g_I[t] s[t-1]^T). g_I[t] and g_I[t+1] of the group are kept in a [2, GROUP, N] block, never as a [T, B, N] tensor.

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
    supports_event_layer,
    thread_parts,
    transpose_part,
)
from spikekit.kernels.intrinsics.borrow import borrowed, held
from spikekit.kernels.intrinsics.denormals import flush_denormals, restore_denormals
from spikekit.kernels.intrinsics.rows import QUAD, add_rows, scatter_rows, weighted_rows_quad
from spikekit.kernels.intrinsics.select import fired_indices
from spikekit.kernels.neurons import SHAPES, UNIFORM_LIF, charge_and_fire, margin, prepared
from spikekit.kernels.scan import kernel_code, kernel_constants
from spikekit.spike_events import SpikeEvents


@functools.cache
def kernels(code: int):
    """(forward, backward) compiled for neuron model ``code``, a closure constant (``scan.kernels`` says why)."""

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def forward(indices, num_on, num_off, defaults, num_defaults, weight, transpose, bias, recurrent_t, neuron,
                num_parts, keep, time_weights, weight_t, spikes, saved, summed):
        """Events as ``SpikeEvents`` (arrays); weight_t W^T [N_in, N], filled here from weight W [N, N_in] if
        ``transpose`` (``event_layer.kernels``); recurrent_t U^T [N, N]; neuron: (constants [P, N], state
        variables S); time_weights w [T] or empty. Out: spikes [T, B, N], the saved rows ([T, B, K, N] if keep,
        else per-thread scratch) and, if w is given, summed [B, N] += sum over t of w[t] s[t] (zeros on entry)."""
        num_steps, batch_size, _ = indices.shape
        width, dtype = weight_t.shape[1], spikes.dtype
        one, half = dtype.type(1), dtype.type(0.5)
        consts, num_state = neuron
        weighted = time_weights.shape[0] > 0
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
            summed_rows = borrowed(summed)
            current = np.empty(width, dtype)
            fired = np.empty(width, np.int32)
            for group in range(*part_groups(part, num_parts, batch_size)):
                first, stop = group_samples(group, batch_size)
                start_group(bias, weight_t, defaults, first, stop, num_defaults, base, state)
                for t in range(num_steps):
                    for b in range(first, stop):
                        event_current(base[b - first], weight_t, events[t, b], num_on[t, b], num_off[t, b], current)
                        if t > 0:  # the neurons that spiked at t-1 (spikes are 0 or 1), 16 at a time
                            add_rows(current, recurrent_t, fired, 0,
                                     fired_indices(spike_rows[t - 1, b], half, fired), one)
                        charge_and_fire(code, local, state[b - first], current,
                                        saved_rows[t, b] if keep else saved_rows[part, 0], spike_rows[t, b])
                        if weighted:  # while the spikes are in L1
                            total, row, weight_t_now = summed_rows[b], spike_rows[t, b], time_weights[t]
                            for j in range(width):
                                total[j] += weight_t_now * row[j]
            held(owned_consts)
            held(owned_base)
            held(owned_state)

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def backward(indices, num_on, num_off, defaults, num_defaults, grad_spikes, time_weights, grad_summed, saved,
                 spikes, recurrent, neuron, surrogate, learn_recurrent, partials, transpose, grad_weight, grad_bias):
        """grad_spikes dL/dS [T, B, N] or empty (no gradient reached the spikes themselves); time_weights w [T]
        and grad_summed dL/d(summed) [B, N], or both empty: the spikes' gradient is dL/dS[t] + w[t] dL/d(summed),
        made per step, never as a [T, B, N] tensor; saved [T, B, K, N]; spikes [T, B, N]; recurrent U [N, N]; neuron:
        (constants [P, N], S); surrogate: (code, slope, learn: whether the constants want their gradient);
        partials: one accumulator per thread p of dW^T [P, N_in, N], of the bias gradient [P, N], of the
        constants' gradient [P, P_c, N] and, if ``learn_recurrent``, of dU^T [P, N, N]. Out: grad_bias [N] and
        the weight gradient as in ``event_layer.kernels`` (``transpose``); the constants' and U's gradients stay
        per thread."""
        num_steps, batch_size, _ = indices.shape
        partial, partial_bias, partial_consts, partial_recurrent = partials
        consts, num_state = neuron
        width, num_parts, dtype = saved.shape[3], partial.shape[0], saved.dtype
        zero, one, half = dtype.type(0), dtype.type(1), dtype.type(0.5)
        direct, weighted = grad_spikes.shape[0] > 0, time_weights.shape[0] > 0
        for part in numba.prange(num_parts):
            # the loops' views are made from borrowed arrays: no reference counting per row (intrinsics.borrow)
            accumulator, accumulator_bias = borrowed(partial)[part], borrowed(partial_bias)[part]
            summed_grad_rows = borrowed(grad_summed)
            accumulator_recurrent = borrowed(partial_recurrent)[part]
            events, saved_rows, grad_rows = borrowed(indices), borrowed(saved), borrowed(grad_spikes)
            spike_rows = borrowed(spikes)
            accumulator[:] = zero
            accumulator_bias[:] = zero
            if learn_recurrent:
                accumulator_recurrent[:] = zero
            mxcsr = flush_denormals()  # the adjoint's decays make denormals (intrinsics.denormals)
            owned_consts = prepared(code, consts)  # private, with the adjoint's factors (neurons.prepared)
            accumulator_consts = np.zeros_like(consts)
            owned_state = np.empty((GROUP, num_state, width), dtype)
            owned_over_time = np.empty((GROUP, width), dtype)  # sum over t of g_I: what defaults and bias receive
            # g_I of the group at t+1 and at t, taking turns (index t % 2); the rows past a last group's samples
            # stay 0, so the products by U of a partial group's padding are 0
            owned_grad_current = np.empty((2, GROUP, width), dtype)
            owned_step = np.empty((GROUP, width), dtype)  # the spikes' gradient g_S[t] of the group
            local, grad_state, over_time = borrowed(owned_consts), borrowed(owned_state), borrowed(owned_over_time)
            grad_current, step_grad = borrowed(owned_grad_current), borrowed(owned_step)
            x, h = np.empty(width, dtype), np.empty(width, dtype)  # two arrays (event_layer.kernels says why)
            fired = np.empty(width, np.int32)
            for group in range(*part_groups(part, num_parts, batch_size)):
                first, stop = group_samples(group, batch_size)
                grad_state[:] = zero
                over_time[:] = zero
                grad_current[:] = zero
                for t in range(num_steps - 1, -1, -1):
                    now, after = grad_current[t % 2], grad_current[(t + 1) % 2]
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
                        if learn_recurrent and t + 1 < num_steps:  # dU^T[j] += g_I[t+1] for the j that spiked at t
                            # who spiked: the margin's sign (the forward's own test), in L1, where reading the spikes
                            # cost a pass over [T, B, N] (1.7 of a 12 ms backward, 700-256ra-20 at 1.3% firing);
                            # LIF with one value per constant has no margin row (uniform_lif.py): its spikes
                            if code == UNIFORM_LIF:
                                count = fired_indices(spike_rows[t, b], half, fired)
                            else:
                                count = fired_indices(x, zero, fired)
                            scatter_rows(accumulator_recurrent, fired, 0, count, after[b - first], one)
                        adjoint_neuron_events(code, local, saved_rows[t, b], saved_rows[max(t - 1, 0), b], t == 0,
                                              step_grad[b - first], surrogate, grad_state[b - first],
                                              over_time[b - first], accumulator, accumulator_consts, events[t, b],
                                              num_on[t, b], num_off[t, b], x, h, now[b - first])
                end_group(over_time, defaults, first, stop, num_defaults, accumulator, accumulator_bias)
            partial_consts[part] = accumulator_consts
            restore_denormals(mxcsr)
            held(owned_consts)
            held(owned_state)
            held(owned_over_time)
            held(owned_grad_current)
            held(owned_step)
        for part in numba.prange(num_parts):
            sum_partials_part(partial, part, transpose, grad_weight)
        sum_partials(partial_bias, grad_bias)

    return forward, backward


class _EventRecurrent(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor, bias: Tensor, recurrent: Tensor, consts: Tensor,  # type: ignore[override]
                events: SpikeEvents, model: tuple[int, int, float], keep: bool,
                time_weights: Tensor | None) -> tuple[Tensor, Tensor]:
        num_steps, batch_size, _ = events.shape
        width = weight.shape[0]
        code = model[0]
        _, num_state, num_saved = SHAPES[code]
        num_parts = thread_parts(batch_size)
        weight, weight_t, transpose = kernel_weights(weight)
        spikes = torch.empty(num_steps, batch_size, width, dtype=weight.dtype)
        saved = torch.empty(*((num_steps, batch_size) if keep else (num_parts, 1)), num_saved, width,
                            dtype=weight.dtype)
        summed = torch.zeros(*((0, 0) if time_weights is None else (batch_size, width)), dtype=weight.dtype)
        time_weights = weight.new_empty(0) if time_weights is None else time_weights  # the kernels' "none": empty
        packed, recurrent_t = consts.detach().contiguous(), recurrent.detach().t().contiguous()
        kernels(code)[0](*event_arrays(events), weight.numpy(), transpose, bias.detach().contiguous().numpy(),
                         recurrent_t.numpy(), (packed.numpy(), num_state), num_parts, keep, time_weights.numpy(),
                         weight_t.numpy(), spikes.numpy(), saved.numpy(), summed.numpy())
        ctx.save_for_backward(saved, spikes, recurrent, packed, time_weights)
        ctx.events, ctx.model, ctx.transpose = events, model, transpose
        ctx.set_materialize_grads(False)  # an output no loss reads gets None, and costs the backward nothing
        return spikes, summed

    @staticmethod
    def backward(ctx, grad_spikes: Tensor | None, grad_summed: Tensor | None):  # type: ignore[override]
        saved, spikes, recurrent, packed, time_weights = ctx.saved_tensors
        events: SpikeEvents = ctx.events
        code, surrogate, slope = ctx.model
        num_parts, width = thread_parts(saved.shape[1]), saved.shape[3]
        learn_recurrent = bool(ctx.needs_input_grad[2])
        # One private accumulator per thread, summed after: no two threads write the same row.
        partials = (saved.new_empty(num_parts, events.num_inputs, width), saved.new_empty(num_parts, width),
                    saved.new_empty(num_parts, *packed.shape),
                    saved.new_empty(num_parts, *((width, width) if learn_recurrent else (0, 0))))
        grad_weight = saved.new_empty(width, events.num_inputs) if ctx.transpose else saved.new_empty(0, 0)
        grad_bias = saved.new_empty(width)
        dtype = saved.numpy().dtype.type
        direct = saved.new_empty(0, 0, 0) if grad_spikes is None else grad_spikes.contiguous()
        weighted = grad_summed is not None and len(time_weights) > 0
        through_sum = grad_summed.contiguous() if weighted else saved.new_empty(0, 0)
        by_step = time_weights if weighted else time_weights[:0]
        kernels(code)[1](*event_arrays(events), direct.numpy(), by_step.numpy(), through_sum.numpy(), saved.numpy(),
                         spikes.numpy(), recurrent.detach().contiguous().numpy(), (packed.numpy(), SHAPES[code][1]),
                         (surrogate, dtype(slope), bool(ctx.needs_input_grad[3])),
                         learn_recurrent, tuple(p.numpy() for p in partials), ctx.transpose, grad_weight.numpy(),
                         grad_bias.numpy())
        grad_recurrent = partials[3].sum(0).t() if learn_recurrent else None
        grad_consts = partials[2].sum(0) if ctx.needs_input_grad[3] else None
        return (grad_weight if ctx.transpose else partials[0][0].t(), grad_bias, grad_recurrent, grad_consts,
                None, None, None, None)


def supports_event_recurrent(weight: Tensor, recurrent: Tensor, bias: Tensor | None) -> bool:
    """Whether ``event_recurrent_layer`` runs for these weights: float32/float64 on the CPU, W, U and a bias alike."""
    return (supports_event_layer(weight) and bias is not None and bias.dtype == weight.dtype
            and recurrent.device == weight.device and recurrent.dtype == weight.dtype)


def event_recurrent_layer(events: SpikeEvents, weight: Tensor, bias: Tensor, recurrent: Tensor, params,
                          time_weights: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
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
    Returns:
        spikes [T, B, N] in {0., 1.}, differentiable in W, b, U and the tensor constants (surrogate gradient),
        equal to ``reference.reference_recurrent`` of the same layer; with ``time_weights``, (spikes, sum).
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
    consts = kernel_constants(params, (weight.shape[0],), weight)
    keep = torch.is_grad_enabled() and (weight.requires_grad or bias.requires_grad or recurrent.requires_grad
                                        or consts.requires_grad)
    model = (kernel_code(params), SURROGATES[params.surrogate].code, params.slope)
    weights = None if time_weights is None else time_weights.to(weight.dtype).contiguous()
    spikes, summed = _EventRecurrent.apply(weight, bias, recurrent, consts, events, model, keep, weights)
    return spikes if time_weights is None else (spikes, summed)
