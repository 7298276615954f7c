"""The recurrent scan: any neuron model whose current adds its own spikes of the previous step through ``U``.

    I[t] = c[t] + U s[t-1]          (s[-1] = 0; c[t] = W x[t] + b, made before the call by the input part)

The input part is any current [T, B, N] (``fast.input_current``: a GEMM over T*B rows, or the product made from
the input's nonzeros); the neuron part is ``spikekit.kernels.neurons`` (any model, per-neuron and learned
constants); the output part stores the spikes, which the recurrence reads back.

Forward, per thread over its samples, steps in order: a row of current is c[t, b] plus the rows of U^T of the
neurons that spiked at t-1 (spikes are sparse: at 5% firing, 13 of 256 rows, where a dense U s costs all 256;
found 16 at a time, ``intrinsics.select.fired_indices``),
then one step of the model. Backward, steps in reverse: the spikes' gradient at t is the loss's plus what the
next step's current passes back through U,

    g_S[t] = dL/dS[t] + U^T g_I[t+1]        (dense: the surrogate reaches every neuron, spiking or not)

then the model's adjoint gives g_I[t]. Each thread walks its own samples through all steps in one compiled call:
samples are independent, so no thread waits for another. The product U^T g_I[t+1] is made in the kernel, four
samples at a time, as the sums of U's rows weighted by each sample's g_I[t+1], kept in registers over each block
of columns, each row of U loaded once for all four (``rows.weighted_rows_quad``, with fused multiply-adds; U,
256 KB for N = 256, in L2). It is most of the backward: 65,536 multiply-adds per sample and step for N = 256.
Tried and dropped: one torch GEMM per step for the whole batch and one compiled call per step for the adjoint
(the threads then meet twice a step, and on a loaded machine each meeting waited for a thread to be scheduled:
784-step backward of 128 samples, N = 256, 0.06 s to 4 s for the same work); numpy's ``np.dot`` (BLAS) inside
the kernel (OpenBLAS under numba's OpenMP threads: "may hang" warnings, 1.4-4.9 s for a T=100 backward); plain
loops over 8 samples sharing each row of U (180 ms for that backward, against 145 ms for ``rows.weighted_rows``
one sample at a time and 75-140 ms for two samples at a time, the machine equally loaded; two samples, multiply
then add, were replaced by four with FMA: ``rows.weighted_rows_quad`` gives the figures).
dU = sum over t of g_I[t+1] s[t]^T is made in the same pass, from the spiking neurons only: at step t, a sample's
g_I[t+1] row is noted for each neuron that spiked at t (found from the margin of the step's saved rows, the forward's
own test, ``neurons.margin``), and every few steps (``fired_outer.CHUNK_ROWS`` rows
of the thread's samples) each neuron's noted rows are summed into its row of dU^T at once (``fired_outer``; one dU^T
per thread, summed after), while they are in L2. Against adding g_I[t] to dU^T at each spike (``rows.scatter_rows``;
2026-12-07, alternating in one process): the S-MNIST ALIF training step (1-64ra-256ra-10, T = 784) 258.6 against
268.7 ms at batch 128 (6 of 9 pairs faster), 74.7 against 73.8 ms at batch 32 (6 of 15): kept, as the one way both
recurrent kernels make dU (``event_recurrent``'s gain is larger). Before the scatter, dU was made after the scan,
over all T*B rows of the spikes and of g_I (``sparse_linear.weight_grad``: 4.1-5.1 ms of a 28-45 ms training step
of 700-256ra-20, T=100, batch 128, 22% firing, 2 threads), which read both back from memory; the scatter in the
pass measured the same backward alone (3,025 against 3,042 ns a sample-step, one thread, T=100, B=64) and a training
step 5% less (median of 12 pairs, 49.8 against 52.4 ms; 2026-12-06), and was kept as the simpler pass.

A readout fed by the spikes (an ``nn.Linear`` N -> K: the output layer under the leaky readout with learned or
per-neuron time constants, ``nn.network.SNN._leaky``) can run inside the same passes, as in ``event_recurrent``:
forward, its current b2 + W2 s[t] is made from the rows of W2^T of the neurons that spiked (padded to whole vectors,
``event_readout.padded_rows``) into [T, B, KP]; backward, g_S[t] takes W2^T g_I2[t] per sample and step
(``rows.weighted_rows``), and dW2^T is scattered at the neurons that spiked. Unfused, the readout's current was a
GEMM over T*B rows, and its backward two more, one of which wrote the [T, B, N] spike gradient (103 MB for S-MNIST at
batch 128) that this backward read back. Measured (2026-12-07, Intel AVX-512, 2 threads, training step alternating
in one process): S-MNIST ALIF (1-64ra-256ra-10, leaky readout, learned tau) 306.4 against 288.4 ms at batch 128
(14 of 15 pairs faster; an earlier run 221.4 against 210.7, 7 of 9), 76.7 against 71.8 at batch 32 (14 of 15).
Tried: W2^T g_I2[t] made in the pass over U, over the rows of [U; W2] weighted by g_I[t+1] and g_I2[t] copied side
by side: at batch 32 57.9 against 54.1 ms (2 of 15 faster), at batch 128 227.3 / 212.8 and 260.9 / 275.1 ms (3 of 9
and 5 of 11 faster): no gain, dropped.

Saved for backward: the model's K rows per (step, sample), and the spikes when they are an output (autograd keeps
them). A caller that reads only the readout's current (``recurrent_scan(..., spikes=False)``: the leaky readout's
training step, the counts readout) gets no spike tensor: the forward keeps each sample's last step only, and the
backward finds who spiked from the margin (plain LIF with one value per constant, which saves no margin row, keeps
its spikes). That spares writing and reading back [T, B, N] (26 MB for S-MNIST at batch 32).
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import torch
from torch import Tensor

from spikekit.dynamics.surrogate import SURROGATES
from spikekit.kernels.event_readout import padded_rows, readout_step_grad
from spikekit.kernels.fired_outer import CHUNK_ROWS, gather_outer, note_fired
from spikekit.kernels.intrinsics.borrow import borrowed, held
from spikekit.kernels.intrinsics.denormals import flush_denormals, restore_denormals
from spikekit.kernels.intrinsics.rows import QUAD, add_rows, weighted_rows_quad
from spikekit.kernels.intrinsics.select import fired_indices
from spikekit.kernels.neurons import (
    SHAPES,
    adjoint_at_margin,
    charge_and_fire,
    fired_at,
    keeps_spikes,
    margin,
    prepared,
)
from spikekit.kernels.readout import supports_fused_readout
from spikekit.kernels.scan import kernel_code, kernel_constants, part_range, sample_parts


@functools.cache
def kernels(code: int):
    """(forward, backward) compiled for neuron model ``code`` (a closure constant: see
    ``scan.kernels``)."""

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def forward(current, weight_t, consts, num_state, num_parts, keep, keep_spikes, readout, spikes, saved,
                readout_current):
        """current c [T, B, N]; weight_t U^T [N, N]; consts [P, N]; readout: (W2^T [N, KP], b2 [KP]) of a readout
        fed by the spikes, zero past its K columns, or both empty. Out: spikes [T, B, N] if keep_spikes, else
        [1, B, N] scratch (each sample's last step: the recurrence reads it once, before the step overwrites it);
        saved [T, B, K, N] if keep, else [num_parts, 1, K, N] per-thread scratch; with the readout,
        readout_current [T, B, KP] = b2 + the rows of W2^T of the neurons that spiked."""
        num_steps, batch_size, width = current.shape
        one, half = current.dtype.type(1), current.dtype.type(0.5)
        readout_weight_t, readout_bias = readout
        to_readout = readout_current.shape[0] > 0
        for part in numba.prange(num_parts):
            owned_consts = prepared(code, consts)  # private, with the factors (neurons.prepared)
            start, stop = part_range(part, num_parts, batch_size)
            owned_state = np.zeros((stop - start, num_state, width), current.dtype)
            # the loops' views are made from borrowed arrays: no reference counting per row (intrinsics.borrow)
            local, state = borrowed(owned_consts), borrowed(owned_state)
            current_rows, saved_rows, spike_rows = borrowed(current), borrowed(saved), borrowed(spikes)
            readout_rows = borrowed(readout_current)
            row = np.empty(width, current.dtype)
            fired = np.empty(width, np.int32)
            for t in range(num_steps):
                now = t if keep_spikes else 0
                for b in range(start, stop):
                    row[:] = current_rows[t, b]
                    if t > 0:  # the neurons that spiked at t-1 (spikes are 0 or 1), 16 at a time
                        add_rows(row, weight_t, fired, 0,
                                 fired_indices(spike_rows[t - 1 if keep_spikes else 0, b], half, fired), one)
                    saved_row = saved_rows[t, b] if keep else saved_rows[part, 0]
                    charge_and_fire(code, local, state[b - start], row, saved_row, spike_rows[now, b])
                    if to_readout:  # the readout's current: its rows of the neurons that spiked, while in L1
                        readout_row = readout_rows[t, b]
                        readout_row[:] = readout_bias
                        add_rows(readout_row, readout_weight_t, fired, 0,
                                 fired_indices(spike_rows[now, b], half, fired), one)
            held(owned_consts)
            held(owned_state)

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def backward(grad_spikes, saved, spikes, weight, consts, num_state, surrogate, slope, learn, learn_weight,
                 readout, grad_current, partial_consts, partial_weight, partial_readout):
        """grad_spikes dL/dS [T, B, N], or empty (no gradient reached the spikes themselves); saved [T, B, K, N];
        spikes [T, B, N], read for ``UNIFORM_LIF`` only (every other model's spikes are re-derived from its saved
        rows, ``neurons.margin``); weight U [N, N]; consts [P, N]; readout: (g_I2 [T, B, KP], the gradient of the
        forward's readout_current, and W2 [K, N]) or both empty: then the spikes' gradient also takes W2^T g_I2[t],
        made per step. Out: grad_current g_I [T, B, N]; if ``learn``, partial_consts [parts, P, N], one sum of the
        constants' gradient per thread; if ``learn_weight``, partial_weight [parts, N, N], one dU^T per thread;
        with the readout, partial_readout: (dW2^T [parts, N, KP], db2 [parts, KP]) per thread."""
        num_steps, batch_size, width = grad_current.shape
        num_parts = partial_consts.shape[0]
        dtype = saved.dtype
        zero, one = dtype.type(0), dtype.type(1)
        direct = grad_spikes.shape[0] > 0
        readout_grad, readout_weight = readout
        to_readout = readout_grad.shape[0] > 0
        for part in numba.prange(num_parts):
            mxcsr = flush_denormals()  # the adjoint's decays make denormals (intrinsics.denormals)
            owned_consts, accumulator = prepared(code, consts), np.zeros_like(consts)
            x, h = np.empty(width, dtype), np.empty(width, dtype)
            start, stop = part_range(part, num_parts, batch_size)
            owned_state = np.zeros((stop - start, num_state, width), dtype)
            owned_step = np.empty((QUAD, width), dtype)
            padded = np.zeros((QUAD, width), dtype)  # a last group's g_I[t+1] rows, zero rows after them
            fired = np.empty(width, np.int32)
            weight_grad = partial_weight[part]
            if learn_weight:
                weight_grad[:] = 0
            # dU's rows, noted per neuron over chunk_steps steps of the thread's samples and gathered at once
            # (``fired_outer``), about CHUNK_ROWS rows a chunk
            chunk_steps = max(1, CHUNK_ROWS // max(1, stop - start))
            owned_lists = np.empty((width, chunk_steps * (stop - start)), np.int32)
            owned_counts = np.zeros(width, np.int64)
            lists, counts = borrowed(owned_lists), borrowed(owned_counts)
            current_flat = borrowed(grad_current.reshape(num_steps * batch_size, width))
            # the loops' views are made from borrowed arrays: no reference counting per row (intrinsics.borrow)
            local, grad_state, step_grad = borrowed(owned_consts), borrowed(owned_state), borrowed(owned_step)
            saved_rows, grad_rows, current_rows = borrowed(saved), borrowed(grad_spikes), borrowed(grad_current)
            spike_rows, readout_rows = borrowed(spikes), borrowed(readout_grad)
            readout_accumulator, readout_accumulator_bias = partial_readout[0][part], partial_readout[1][part]
            if to_readout:
                readout_accumulator[:] = zero
                readout_accumulator_bias[:] = zero
            for t in range(num_steps - 1, -1, -1):
                for first in range(start, stop, QUAD):
                    group = min(QUAD, stop - first)
                    if t + 1 < num_steps:  # g_S[t] = U^T g_I[t+1] (+ dL/dS[t] below), four samples per pass over U
                        if group == QUAD:
                            weighted_rows_quad(step_grad, weight, current_rows[t + 1, first:first + QUAD])
                        else:
                            padded[:group] = current_rows[t + 1, first:first + group]
                            weighted_rows_quad(step_grad, weight, padded)
                    else:
                        step_grad[:group] = zero
                    for r in range(group):
                        b, target = first + r, step_grad[r]
                        if direct:
                            loss_grad = grad_rows[t, b]
                            for j in range(width):
                                target[j] += loss_grad[j]
                        margin(code, local, saved_rows[t, b], x)
                        to_weight = learn_weight and t + 1 < num_steps
                        if to_readout or to_weight:
                            count = fired_at(code, spike_rows, t, b, x, fired)  # who spiked at t
                            if to_readout:  # + W2^T g_I2[t]; dW2^T at the neurons that spiked, db2 (h: scratch)
                                readout_step_grad(target, h, readout_weight, readout_rows[t, b], fired, count,
                                                  readout_accumulator, readout_accumulator_bias, one)
                            if to_weight:  # dU^T[j] += g_I[t+1] for the neurons j that spiked at t
                                note_fired(lists, counts, fired, count, (t + 1) * batch_size + b)
                        adjoint_at_margin(code, local, saved_rows[t, b], saved_rows[max(t - 1, 0), b], t == 0, target,
                                          surrogate, slope, x, h, grad_state[b - start], current_rows[t, b],
                                          accumulator, learn)
                if learn_weight and t < num_steps - 1 and (t == 0 or (num_steps - 1 - t) % chunk_steps == 0):
                    gather_outer(weight_grad, current_flat, lists, counts)
            partial_consts[part] = accumulator
            restore_denormals(mxcsr)
            held(owned_consts)
            held(owned_state)
            held(owned_step)
            held(owned_lists)
            held(owned_counts)

    return forward, backward


class _RecurrentScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current: Tensor, weight: Tensor, consts: Tensor,  # type: ignore[override]
                readout_weight: Tensor | None, readout_bias: Tensor | None, code: int, surrogate: tuple[int, float],
                keep: bool, keep_spikes: bool) -> tuple[Tensor, Tensor]:
        flat = current.detach().contiguous()
        num_steps, batch_size, width = flat.shape
        _, num_state, num_saved = SHAPES[code]
        num_parts = sample_parts(batch_size)
        spikes = flat.new_empty(num_steps if keep_spikes else 1, batch_size, width)
        saved = flat.new_empty(*((num_steps, batch_size) if keep else (num_parts, 1)), num_saved, width)
        packed, weight_t = consts.detach().contiguous(), weight.detach().t().contiguous()
        if readout_weight is None:  # the kernels' "no readout": empty arrays
            readout, readout_current = (flat.new_empty(0, 0), flat.new_empty(0)), flat.new_empty(0, 0, 0)
        else:  # W2^T and b2 padded to whole vectors (event_readout.padded_rows)
            readout = (padded_rows(readout_weight.detach().t()), padded_rows(readout_bias.detach().view(1, -1))[0])
            readout_current = flat.new_empty(num_steps, batch_size, readout[1].shape[0])
        kernels(code)[0](flat.numpy(), weight_t.numpy(), packed.numpy(), num_state, num_parts, keep, keep_spikes,
                         tuple(r.numpy() for r in readout), spikes.numpy(), saved.numpy(), readout_current.numpy())
        ctx.save_for_backward(saved, spikes, weight, packed, readout_weight)
        ctx.code, ctx.surrogate = code, surrogate
        ctx.set_materialize_grads(False)  # an output no loss reads gets None, and costs the backward nothing
        num_outputs = 0 if readout_weight is None else readout_weight.shape[0]
        return spikes if keep_spikes else spikes.new_empty(0), readout_current[..., :num_outputs]

    @staticmethod
    def backward(ctx, grad_spikes: Tensor | None, grad_readout: Tensor | None):  # type: ignore[override]
        saved, spikes, weight, packed, readout_weight = ctx.saved_tensors
        num_steps, batch_size, _, width = saved.shape
        surrogate, slope = ctx.surrogate
        num_parts = sample_parts(batch_size)
        direct = saved.new_empty(0, 0, 0) if grad_spikes is None else grad_spikes.contiguous()
        grad_current = saved.new_empty(num_steps, batch_size, width)
        partial = saved.new_empty(num_parts, *packed.shape)
        learn, learn_weight = ctx.needs_input_grad[2], ctx.needs_input_grad[1]
        # dU = sum over t >= 1 of g_I[t] s[t-1]^T, from the spikes' nonzeros (dU^T per thread, summed)
        partial_weight = saved.new_empty(num_parts, *((width, width) if learn_weight else (0, 0)))
        if grad_readout is None:  # the kernels' "no readout": empty arrays
            readout = (saved.new_empty(0, 0, 0), saved.new_empty(0, 0))
        else:  # g_I2 padded as the forward's readout current, zeros past column K
            num_outputs = readout_weight.shape[0]
            padded = padded_rows(grad_readout.reshape(num_steps * batch_size, num_outputs))
            readout = (padded.view(num_steps, batch_size, -1), readout_weight.detach().contiguous())
        partial_readout = (saved.new_empty(num_parts, width if grad_readout is not None else 0, readout[0].shape[2]),
                           saved.new_empty(num_parts, readout[0].shape[2]))
        dtype = saved.numpy().dtype.type
        kernels(ctx.code)[1](direct.numpy(), saved.numpy(), spikes.numpy(), weight.detach().contiguous().numpy(),
                             packed.numpy(), SHAPES[ctx.code][1], surrogate, dtype(slope), learn, learn_weight,
                             tuple(r.numpy() for r in readout), grad_current.numpy(), partial.numpy(),
                             partial_weight.numpy(), tuple(r.numpy() for r in partial_readout))
        grad_weight = partial_weight.sum(0).t() if learn_weight else None
        grad_readout_weight = grad_readout_bias = None
        if grad_readout is not None:
            grad_readout_weight = partial_readout[0].sum(0)[:, :num_outputs].t()
            grad_readout_bias = partial_readout[1].sum(0)[:num_outputs]
        return (grad_current, grad_weight, partial.sum(0) if learn else None, grad_readout_weight, grad_readout_bias,
                None, None, None, None)


def supports_recurrent_scan(current: Tensor, weight: Tensor) -> bool:
    """Whether ``recurrent_scan`` runs compiled: float32/float64 on the CPU, current and U alike."""
    return (current.device.type == "cpu" and weight.device.type == "cpu" and current.dtype == weight.dtype
            and current.dtype in (torch.float32, torch.float64) and current.dim() == 3)


def recurrent_scan(current: Tensor, weight: Tensor, params, readout: torch.nn.Module | None = None,
                   spikes: bool = True) -> Tensor | tuple[Tensor | None, Tensor]:
    """Spikes [T, B, N] of the neurons of ``params`` (any model) driven by ``current`` [T, B, N] plus their own
    spikes of the step before through ``weight`` U [N, N] (module docstring), from rest. Differentiable in
    ``current``, ``weight`` and every tensor field of ``params``; equals ``reference.reference_recurrent``.

    Given ``readout`` (an ``nn.Linear`` N -> K with a bias: ``readout.supports_fused_readout``), also its current
    [T, B, K] = ``readout(spikes)``, made in the same passes (module docstring): returns (spikes, current), both
    differentiable, the current in the readout's weight and bias too; with ``spikes=False`` (a caller that reads
    only the current), (None, current), and no [T, B, N] spike tensor is made (module docstring)."""
    consts = kernel_constants(params, (current.shape[2],), current)
    code = kernel_code(params)
    parameters = (current, weight, consts) + (() if readout is None else (readout.weight, readout.bias))
    keep = torch.is_grad_enabled() and any(parameter.requires_grad for parameter in parameters)
    if readout is not None and not supports_fused_readout(weight, readout):
        raise ValueError("recurrent_scan's readout must be weights [K, N] and a bias of U's dtype and device")
    if not spikes and readout is None:
        raise ValueError("recurrent_scan(spikes=False) needs a readout: its current is then the only output")
    output, readout_current = _RecurrentScan.apply(
        current, weight, consts, None if readout is None else readout.weight,
        None if readout is None else readout.bias, code, (SURROGATES[params.surrogate].code, params.slope), keep,
        keeps_spikes(code, spikes))
    if readout is None:
        return output
    return (output if spikes else None), readout_current
