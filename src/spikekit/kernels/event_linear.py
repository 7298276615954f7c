"""A synaptic product fed by spike events: ``current = W x + b`` [T, B, N] straight from ``SpikeEvents``.

Where a layer's neurons are not fused with its input product (the recurrent scan, ``kernels.recurrent``, takes
the input current as a dense tensor), events used to be turned into a dense [T, B, N_in] spike tensor first,
which ``sparse_linear`` then read back to find its nonzeros: two passes over a tensor that is mostly zeros
(SHD's 700 channels at ~1.5% density). Here the events are the nonzeros:

    forward, per sample b:  base[b] = b + sum of W^T[i] over its defaults i (complement coding,
                            ``spike_events``), then per step: current[t, b] = base[b] + sum of W^T[on events]
                            - sum of W^T[off events]
    backward:               dW^T[i] += g_I[t, b] for each on event, -= for each off event, += sum_t g_I[t, b]
                            for each default (one accumulator per thread, summed after); db = sum of g_I.

No gradient reaches the events (they are data). Arithmetic: the same sums as the dense product, in another
order (float rounding only).
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import Tensor

from spikekit.kernels.event_layer import event_current, scatter_events
from spikekit.kernels.intrinsics.rows import add_rows, scatter_rows
from spikekit.kernels.scan import part_range, sample_parts
from spikekit.spike_events import SpikeEvents


@numba.njit(parallel=True, cache=True)
def _forward(indices, num_on, num_off, defaults, num_defaults, weight_t, bias, num_parts, current):
    """indices [T, B, C]; num_on, num_off [T, B]; defaults [B, D]; num_defaults [B]; weight_t [N_in, N];
    bias [N]. Out: current [T, B, N]."""
    num_steps, batch_size = num_on.shape
    one = weight_t.dtype.type(1)
    for part in numba.prange(num_parts):
        base = np.empty(weight_t.shape[1], weight_t.dtype)
        start, stop = part_range(part, num_parts, batch_size)
        for b in range(start, stop):
            base[:] = bias
            add_rows(base, weight_t, defaults[b], 0, num_defaults[b], one)
            for t in range(num_steps):
                event_current(base, weight_t, indices[t, b], num_on[t, b], num_off[t, b], current[t, b])


@numba.njit(parallel=True, cache=True)
def _weight_grad(indices, num_on, num_off, defaults, num_defaults, grad, partial):
    """partial[p] <- thread p's share of dW^T [N_in, N]; grad [T, B, N] (g_I)."""
    num_steps, batch_size = num_on.shape
    num_parts, one = partial.shape[0], grad.dtype.type(1)
    for part in numba.prange(num_parts):
        accumulator = partial[part]
        accumulator[:] = 0
        over_time = np.empty(grad.shape[2], grad.dtype)
        start, stop = part_range(part, num_parts, batch_size)
        for b in range(start, stop):
            over_time[:] = 0
            for t in range(num_steps):
                over_time += grad[t, b]
                scatter_events(accumulator, indices[t, b], num_on[t, b], num_off[t, b], grad[t, b])
            scatter_rows(accumulator, defaults[b], 0, num_defaults[b], over_time, one)


class _EventLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: Tensor, bias: Tensor, events: SpikeEvents) -> Tensor:  # type: ignore[override]
        num_steps, batch_size, _ = events.shape
        weight_t = weight.detach().t().contiguous()
        current = weight_t.new_empty(num_steps, batch_size, weight.shape[0])
        arrays = _arrays(events)
        _forward(*arrays, weight_t.numpy(), bias.detach().contiguous().numpy(), sample_parts(batch_size),
                 current.numpy())
        ctx.events = events
        ctx.weight_shape = weight.shape
        return current

    @staticmethod
    def backward(ctx, grad_current: Tensor):  # type: ignore[override]
        grad = grad_current.contiguous()
        grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            num_out, num_in = ctx.weight_shape
            partial = grad.new_empty(sample_parts(grad.shape[1]), num_in, num_out)
            _weight_grad(*_arrays(ctx.events), grad.numpy(), partial.numpy())
            grad_weight = partial.sum(0).t()
        if ctx.needs_input_grad[1]:
            grad_bias = grad.sum((0, 1))
        return grad_weight, grad_bias, None


def _arrays(events: SpikeEvents) -> tuple:
    return (events.indices.numpy(), events.num_on.numpy(), events.num_off.numpy(), events.defaults.numpy(),
            events.num_defaults.numpy())


def supports_event_linear(weight: Tensor, bias: Tensor | None) -> bool:
    """Whether ``event_linear`` runs: a bias, and float32/float64 weight and bias of one dtype on the CPU."""
    return (bias is not None and weight.device.type == "cpu" and weight.dtype in (torch.float32, torch.float64)
            and bias.dtype == weight.dtype)


def event_linear(events: SpikeEvents, weight: Tensor, bias: Tensor) -> Tensor:
    """``W x + b`` [T, B, N] for the spikes x [T, B, N_in] that ``events`` stand for, differentiable in
    ``weight`` [N, N_in] and ``bias`` [N] (``supports_event_linear``)."""
    return _EventLinear.apply(weight, bias, events)
