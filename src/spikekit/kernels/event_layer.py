"""An SNNLayer fed by spike events, fused: synaptic current and neuron scan in one pass per direction.

The input part is the event product, the neuron part any model (``spikekit.kernels.neurons``: LIF, ALIF,
CubaLIF, per-neuron and learned constants), the output part stores the spikes. Forward, per sample and
step: current = bias + default rows + on rows - off rows of W^T (the event product of ``spikekit.spike_events``),
then one step of the neuron model (``neurons.charge_and_fire``) while that row of current is still in L1.
Backward, steps in reverse: the model's adjoint (``neurons.adjoint``) gives the row g_I[t, b] (and adds
into the constants' gradient), which is at once scatter-added into dW^T at the row's events (+ on, - off);
its sum over t goes, once per sample, to the sample's defaults and to the bias gradient.

Why fused: run as two kernels, the [T, B, N] current and its gradient (1.6 MB each for a T=25 batch of
128 samples and 128 neurons) were written by one pass and read back by the next, and each pass had its
own launch and tensor glue. Alone, the fused kernels are no faster than the two they replace; inside
the training loop, where those tensors no longer fit in cache beside everything else, a step of the
784-128-10 network measured 3.1-4.9 -> 2.8-3.0 ms at T=25 and 10.2-11.4 -> 9.4-10.7 ms at T=100
(20th-percentile step time of 6 interleaved processes each).

Samples go in groups of ``GROUP`` consecutive ones, stepped together through time: the rows of a group
at one step are contiguous (4 KB for N=128), where one sample's rows lie [B, N] apart (64 KB). One
sample at a time measured slower than the unfused kernels at T=100.

Arithmetic is that of the unfused path in the same order for the forward (same currents, same spikes);
weight gradients are summed in a different order (float rounding only).

The events add rows of W^T, and the weight gradient is made as rows of dW^T. A weight stored as
``nn.Linear`` has it, [N, N_in] row-major, is transposed forward (0.24 ms for 2312x128 inside an
N-MNIST step, where numba makes the strided loop gathers) and its gradient transposed back (0.38 ms);
a weight stored input-major (W^T contiguous: the first layer of an ``SNN``) needs neither, and its
gradient is left where the threads summed it, in dW^T order, which is the weight's own layout. Same
values either way.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numba
import numpy as np
import torch
from torch import Tensor

from spikekit.dynamics.surrogate import SURROGATES
from spikekit.kernels.intrinsics.borrow import borrowed, held
from spikekit.kernels.intrinsics.denormals import flush_denormals, restore_denormals
from spikekit.kernels.intrinsics.rows import add_rows, scatter_rows
from spikekit.kernels.neurons import SHAPES, adjoint_at_margin, charge_and_fire, margin, prepared
from spikekit.kernels.scan import kernel_code, kernel_constants
from spikekit.spike_events import SpikeEvents

GROUP = 8  # samples stepped together through time (see above)


def thread_parts(batch_size: int) -> int:
    """Threads to use: each takes whole groups of samples."""
    return max(1, min(numba.get_num_threads(), -(-batch_size // GROUP)))


@numba.njit(inline="always")
def transpose_rows(source, start, stop, target):
    """target[i, :] = source[:, i] for start <= i < stop, in blocks of 16 rows of ``target``: each
    block reads 64-byte runs of ``source`` and writes rows that stay in L1 until complete."""
    for block in range(start, stop, 16):
        for o in range(source.shape[0]):
            for i in range(block, min(stop, block + 16)):
                target[i, o] = source[o, i]


@numba.njit(inline="always")
def sum_transposed_rows(partial, start, stop, target):
    """target[:, i] = sum over p (in order) of partial[p, i, :] for start <= i < stop, blocked as
    ``transpose_rows``."""
    for block in range(start, stop, 16):
        for o in range(partial.shape[2]):
            for i in range(block, min(stop, block + 16)):
                summed = partial[0, i, o]
                for p in range(1, partial.shape[0]):
                    summed += partial[p, i, o]
                target[o, i] = summed


@numba.njit(inline="always")
def part_groups(part, num_parts, batch_size):
    """The groups of ``GROUP`` consecutive samples that thread ``part`` of ``num_parts`` takes: [start, stop)."""
    num_groups = (batch_size + GROUP - 1) // GROUP
    per_part = (num_groups + num_parts - 1) // num_parts
    return part * per_part, min(num_groups, (part + 1) * per_part)


@numba.njit(inline="always")
def group_samples(group, batch_size):
    """The samples of group ``group``: [first, stop)."""
    return group * GROUP, min(batch_size, (group + 1) * GROUP)


@numba.njit(inline="always")
def transpose_part(weight, part, num_parts, weight_t):
    """Thread ``part``'s share (a block of rows of ``weight_t``) of weight_t = weight^T."""
    per_row_part = (weight.shape[1] + num_parts - 1) // num_parts
    transpose_rows(weight, part * per_row_part, min(weight.shape[1], (part + 1) * per_row_part), weight_t)


@numba.njit(inline="always")
def sum_partials_part(partial, part, transpose, grad_weight):
    """Thread ``part``'s share (a block of inputs) of summing the per-thread accumulators partial [P, N_in, N]
    (over p in order): into grad_weight as dW [N, N_in] if ``transpose``, else into partial[0] as dW^T. One
    pass for both (a torch sum, then a transposing copy, was two more passes over [P, N_in, N] and [N_in, N])."""
    num_parts, num_inputs = partial.shape[0], partial.shape[1]
    per_row_part = (num_inputs + num_parts - 1) // num_parts
    start, stop = part * per_row_part, min(num_inputs, (part + 1) * per_row_part)
    if transpose:
        sum_transposed_rows(partial, start, stop, grad_weight)
    else:
        for i in range(start, stop):
            for p in range(1, num_parts):
                partial[0, i] += partial[p, i]


@numba.njit(inline="always")
def sum_partials(partial, total):
    """total[j] = sum over p (in order) of partial[p, j]; partial [P, N], total [N]."""
    for j in range(total.shape[0]):
        summed = partial[0, j]
        for p in range(1, partial.shape[0]):
            summed += partial[p, j]
        total[j] = summed


@numba.njit(inline="always")
def event_current(base, weight_t, events, num_on, num_off, current):
    """current = base + the on rows - the off rows of W^T [N_in, N] for the events of one (step, sample):
    ``events`` is that row of ``SpikeEvents.indices`` [C], on events first, off events last."""
    one, capacity = current.dtype.type(1), events.shape[0]
    current[:] = base
    add_rows(current, weight_t, events, 0, num_on, one)
    add_rows(current, weight_t, events, capacity - num_off, capacity, -one)


@numba.njit(inline="always")
def start_group(bias, weight_t, defaults, first, stop, num_defaults, base, membrane):
    """For the samples first <= b < stop of a group: base[b - first] = bias + b's default rows of W^T
    (its current before any event), membrane[b - first] = 0 (rest). base, membrane: [GROUP, N]."""
    zero, one = base.dtype.type(0), base.dtype.type(1)
    for b in range(first, stop):
        base[b - first] = bias
        add_rows(base[b - first], weight_t, defaults[b], 0, num_defaults[b], one)
        membrane[b - first] = zero


@numba.njit(inline="always")
def adjoint_neuron_events(code, consts, saved, saved_prev, first, grad_spikes, surrogate, grad_state,
                          over_time, accumulator, accumulator_consts, events, num_on, num_off, x, h, grad_current):
    """One (step, sample) of the backward, rows [N]: the neuron's adjoint (``neurons.adjoint_at_margin``;
    surrogate = (code, slope, learn); x: the step's ``neurons.margin``; h: a scratch row) gives g_I into
    ``grad_current``, which is added to ``over_time`` and scattered into the dW^T accumulator at the events (as
    ``scatter_events``)."""
    adjoint_at_margin(code, consts, saved, saved_prev, first, grad_spikes, surrogate[0], surrogate[1], x, h,
                      grad_state, grad_current, accumulator_consts, surrogate[2])
    for j in range(over_time.shape[0]):
        over_time[j] += grad_current[j]
    scatter_events(accumulator, events, num_on, num_off, grad_current)


@numba.njit(inline="always")
def end_group(over_time, defaults, first, stop, num_defaults, accumulator, accumulator_bias):
    """After a group's backward: each sample's g_I summed over t (over_time [GROUP, N]) goes to its default
    rows of the dW^T accumulator and to the bias gradient's."""
    one = over_time.dtype.type(1)
    for b in range(first, stop):
        scatter_rows(accumulator, defaults[b], 0, num_defaults[b], over_time[b - first], one)
        for j in range(accumulator_bias.shape[0]):
            accumulator_bias[j] += over_time[b - first, j]


@numba.njit(inline="always")
def scatter_events(accumulator, events, num_on, num_off, grad_current):
    """dW^T accumulator [N_in, N]: + grad_current at the on events' rows, - at the off events' (one
    (step, sample), ``events`` as in ``event_current``)."""
    one, capacity = grad_current.dtype.type(1), events.shape[0]
    scatter_rows(accumulator, events, 0, num_on, grad_current, one)
    scatter_rows(accumulator, events, capacity - num_off, capacity, grad_current, -one)


@functools.cache
def kernels(code: int):
    """(forward, backward) compiled for neuron model ``code``, a closure constant (``scan.kernels`` says why)."""

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def forward(indices, num_on, num_off, defaults, num_defaults, weight, transpose, bias, neuron, num_parts, keep,
                weight_t, spikes, saved):
        """Events as ``SpikeEvents`` (arrays); weight_t: W^T [N_in, N] (its rows are what the events add),
        filled here from weight W [N, N_in] if ``transpose`` (else weight is not read); neuron: (constants
        [P, N], state variables S). Out: spikes [T, B, N] and the model's saved rows: [T, B, K, N] if
        keep, else [num_parts, 1, K, N] per-thread scratch (when backward will not need them). keep is an
        argument, not read off saved's shape: [num_parts, 1, ...] is [T, 1, ...] when T = num_parts."""
        num_steps, batch_size, _ = indices.shape
        width, dtype = weight_t.shape[1], spikes.dtype
        consts, num_state = neuron
        if transpose:
            # W^T here rather than as a torch transpose before the call: the two threads each write half of
            # it, and the copy stays in their caches for the gather below.
            for part in numba.prange(num_parts):
                transpose_part(weight, part, num_parts, weight_t)
        for part in numba.prange(num_parts):
            owned_consts = prepared(code, consts)  # private, with the factors (neurons.prepared)
            owned_base = np.empty((GROUP, width), dtype)  # bias + default rows, per sample of the group
            owned_state = np.empty((GROUP, num_state, width), dtype)
            # the loops' views are made from borrowed arrays: no reference counting per row (intrinsics.borrow)
            local, base, state = borrowed(owned_consts), borrowed(owned_base), borrowed(owned_state)
            events, saved_rows, spike_rows = borrowed(indices), borrowed(saved), borrowed(spikes)
            current = np.empty(width, dtype)
            for group in range(*part_groups(part, num_parts, batch_size)):
                first, stop = group_samples(group, batch_size)
                start_group(bias, weight_t, defaults, first, stop, num_defaults, base, state)
                for t in range(num_steps):
                    for b in range(first, stop):
                        event_current(base[b - first], weight_t, events[t, b], num_on[t, b], num_off[t, b], current)
                        charge_and_fire(code, local, state[b - first], current,
                                        saved_rows[t, b] if keep else saved_rows[part, 0], spike_rows[t, b])
            held(owned_consts)
            held(owned_base)
            held(owned_state)


    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def backward(indices, num_on, num_off, defaults, num_defaults, grad_spikes, saved, neuron, surrogate, partials,
                 transpose, grad_weight, grad_bias):
        """grad_spikes: [T, B, N]; saved: [T, B, K, N]; neuron: (constants [P, N], S); surrogate: (code,
        slope, learn: whether the constants want their gradient); partials: scratch, one accumulator per thread p of
        dW^T [P, N_in, N], of the bias gradient [P, N]
        and of the constants' gradient [P, P_c, N]. Out: grad_bias [N] and the weight gradient, sums of the
        accumulators (over p in order): if ``transpose``, written to grad_weight dW [N, N_in]; else left in
        partial[0] as dW^T (grad_weight is not read); the constants' gradient stays per thread."""
        num_steps, batch_size, _ = indices.shape
        partial, partial_bias, partial_consts = partials
        consts, num_state = neuron
        width, num_parts, dtype = saved.shape[3], partial.shape[0], saved.dtype
        zero = dtype.type(0)
        for part in numba.prange(num_parts):
            # the loops' views are made from borrowed arrays: no reference counting per row (intrinsics.borrow)
            accumulator, accumulator_bias = borrowed(partial)[part], borrowed(partial_bias)[part]
            events, saved_rows, grad_rows = borrowed(indices), borrowed(saved), borrowed(grad_spikes)
            accumulator[:] = zero
            accumulator_bias[:] = zero
            mxcsr = flush_denormals()  # the adjoint's decays make denormals (intrinsics.denormals)
            owned_consts = prepared(code, consts)  # private, with the adjoint's factors (neurons.prepared)
            accumulator_consts = np.zeros_like(consts)
            owned_state = np.empty((GROUP, num_state, width), dtype)
            owned_over_time = np.empty((GROUP, width), dtype)  # sum over t of g_I: what defaults and bias receive
            local, grad_state, over_time = borrowed(owned_consts), borrowed(owned_state), borrowed(owned_over_time)
            # x and h separate arrays: as two rows of one, a loop writing one and reading the other could overlap
            # for all LLVM knew, and ran scalar (CubaLIF's adjoint: 1.9 vs 1.3 ms for a T=25 batch)
            x, h = np.empty(width, dtype), np.empty(width, dtype)
            grad_current = np.empty(width, dtype)
            for group in range(*part_groups(part, num_parts, batch_size)):
                first, stop = group_samples(group, batch_size)
                grad_state[:] = zero
                over_time[:] = zero
                for t in range(num_steps - 1, -1, -1):
                    for b in range(first, stop):
                        margin(code, local, saved_rows[t, b], x)
                        adjoint_neuron_events(code, local, saved_rows[t, b], saved_rows[max(t - 1, 0), b], t == 0,
                                              grad_rows[t, b], surrogate, grad_state[b - first],
                                              over_time[b - first], accumulator, accumulator_consts, events[t, b],
                                              num_on[t, b], num_off[t, b], x, h, grad_current)
                end_group(over_time, defaults, first, stop, num_defaults, accumulator, accumulator_bias)
            partial_consts[part] = accumulator_consts
            restore_denormals(mxcsr)
            held(owned_consts)
            held(owned_state)
            held(owned_over_time)
        for part in numba.prange(num_parts):
            sum_partials_part(partial, part, transpose, grad_weight)
        sum_partials(partial_bias, grad_bias)

    return forward, backward


def kernel_weights(weight: Tensor) -> tuple[Tensor, Tensor, bool]:
    """A layer's weight W [N, N_in] as the kernels take it: (W or an empty stand-in, W^T [N_in, N],
    transpose). An input-major weight (``input_major``) is W^T in its own storage: the kernel reads and
    writes that (transpose False, W not passed). Otherwise the kernel fills a fresh W^T from W."""
    weight = weight.detach()
    if input_major(weight):
        return weight.new_empty(0, 0), weight.t(), False
    return weight.contiguous(), weight.new_empty(weight.shape[1], weight.shape[0]), True


def event_arrays(events: SpikeEvents) -> tuple:
    """The kernels' arrays, C-contiguous: the row intrinsics (``intrinsics.rows``) need it, and ``batch_slice``
    (inference chunks) gives strided views."""
    return tuple(np.ascontiguousarray(tensor.numpy()) for tensor in (
        events.indices, events.num_on, events.num_off, events.defaults, events.num_defaults))


class _EventNeurons(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor, bias: Tensor, consts: Tensor, events: SpikeEvents,  # type: ignore[override]
                model: tuple[int, int, float], keep: bool) -> Tensor:
        num_steps, batch_size, _ = events.shape
        width = weight.shape[0]
        code, surrogate, slope = model
        _, num_state, num_saved = SHAPES[code]
        num_parts = thread_parts(batch_size)
        weight, weight_t, transpose = kernel_weights(weight)
        spikes = torch.empty(num_steps, batch_size, width, dtype=weight.dtype)
        # Inference needs no saved rows: one scratch per thread (one shared row was measured 2.5x slower:
        # both threads writing the same cache line) saves writing and page-faulting a [T, B, K, N] tensor.
        saved = torch.empty(*((num_steps, batch_size) if keep else (num_parts, 1)), num_saved, width,
                            dtype=weight.dtype)
        packed = consts.detach().contiguous()
        kernels(code)[0](*event_arrays(events), weight.numpy(), transpose, bias.detach().contiguous().numpy(),
                         (packed.numpy(), num_state), num_parts, keep, weight_t.numpy(), spikes.numpy(), saved.numpy())
        ctx.save_for_backward(saved, packed)
        ctx.events, ctx.model = events, model  # events: integer tensors only, no autograd checks needed
        ctx.transpose = transpose
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes: Tensor):  # type: ignore[override]
        saved, packed = ctx.saved_tensors
        events: SpikeEvents = ctx.events
        code, surrogate, slope = ctx.model
        num_parts, width = thread_parts(saved.shape[1]), saved.shape[3]
        # One private accumulator per thread, summed after: no two threads write the same row.
        partials = (saved.new_empty(num_parts, events.num_inputs, width), saved.new_empty(num_parts, width),
                    saved.new_empty(num_parts, *packed.shape))
        # An input-major weight gets dW^T in its own layout (partial[0], no transpose), which autograd
        # hands on as the weight's .grad without a copy.
        grad_weight = saved.new_empty(width, events.num_inputs) if ctx.transpose else saved.new_empty(0, 0)
        grad_bias = saved.new_empty(width)
        dtype = saved.numpy().dtype.type
        kernels(code)[1](*event_arrays(events), grad_spikes.contiguous().numpy(), saved.numpy(),
                         (packed.numpy(), SHAPES[code][1]), (surrogate, dtype(slope), bool(ctx.needs_input_grad[2])),
                         tuple(p.numpy() for p in partials), ctx.transpose, grad_weight.numpy(), grad_bias.numpy())
        grad_consts = partials[2].sum(0) if ctx.needs_input_grad[2] else None
        return grad_weight if ctx.transpose else partials[0][0].t(), grad_bias, grad_consts, None, None, None


def input_major(weight: Tensor) -> bool:
    """Whether ``weight`` [N, N_in] is stored as W^T, a contiguous [N_in, N] (``nn.input_major.InputMajorLinear``)."""
    return weight.dim() == 2 and weight.t().is_contiguous() and not weight.is_contiguous()


def supports_event_layer(weight: Tensor) -> bool:
    """Whether ``event_lif_layer`` runs for this weight: float32/float64 on the CPU."""
    return weight.device.type == "cpu" and weight.dtype in (torch.float32, torch.float64)


def event_lif_layer(events: SpikeEvents, weight: Tensor, bias: Tensor, params: NamedTuple) -> Tensor:
    """Spikes of an SNNLayer (current = W x + b, then the neurons of ``params`` from rest) whose input spikes
    are ``events``.

    Args:
        events: input spikes standing for [T, B, N_in].
        weight: [N, N_in], float32 or float64, on the CPU (``supports_event_layer``); stored either way,
            input-major (``input_major``) saves a transpose of it forward and of its gradient backward.
        bias: [N].
        params: the layer's neuron constants, of any model (``dynamics.neuron.MODELS``); floats or per-neuron
            tensors, learned ones included.
    Returns:
        spikes [T, B, N] in {0., 1.}, differentiable in ``weight``, ``bias`` and tensor constants (surrogate
        gradient).
    """
    if events.num_inputs != weight.shape[1]:
        raise ValueError(f"events have {events.num_inputs} inputs but the weight expects {weight.shape[1]}")
    if not supports_event_layer(weight):
        raise ValueError(f"event_lif_layer needs a float32/float64 CPU weight, got {weight.dtype} on {weight.device}")
    consts = kernel_constants(params, (weight.shape[0],), weight)
    keep = torch.is_grad_enabled() and (weight.requires_grad or bias.requires_grad or consts.requires_grad)
    model = (kernel_code(params), SURROGATES[params.surrogate].code, params.slope)
    return _EventNeurons.apply(weight, bias, consts, events, model, keep)
