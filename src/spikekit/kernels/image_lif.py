"""LIF over images with the max pooling that follows fused in: a conv layer's scan that emits pooled spikes.

A conv LIF layer followed by K x K max pooling (``12c5-p2``) would write its full-resolution spikes
[T, B, H, W, C] only for the pooling to read them back, keep an int64 index per pooled value, and in
backward zero-fill and scatter a full-resolution gradient. Here each (step, sample) row of currents,
[H*W*C] in NHWC order, is charged and fired (``lif_fused.charge_and_fire_row``) into a scratch row that
``pool_row`` reduces at once: only the pooled spikes [T, B, (H//K)*(W//K)*C] leave the kernel. Backward
re-derives which input of each window the pooling chose from the saved membrane V_pre (a spike is
``V_pre >= threshold``), so no index is stored.

Pooling semantics are ``torch.nn.functional.max_pool2d``'s on spikes: the output is 1 where any input of
the window spiked, and its gradient goes to one input, the first maximum in row-major order (the first
spiking input, or the window's first input if none spiked); a remainder row or column is dropped.
Measured on a 12c5-p2-32c5-p2-10 training step (T=8, batch 128, two alternating runs each): 117-133 ms
with the scan and torch's max pooling apart, 110 ms fused; the event-driven first layer with its pooling
fused, forward and backward alone: 58-89 -> 45-57 ms.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import Tensor

from spikekit.dynamics.lif import LIFParams
from spikekit.dynamics.surrogate import SURROGATES, derivative_row
from spikekit.kernels.lif_fused import adjoint_row, charge_and_fire_row


@numba.njit(inline="always")
def pool_row(spikes, height, width, channels, pool, pooled):
    """pooled [(H//K)*(W//K)*C] = max of spikes [H*W*C] (NHWC) over each K x K window (K = pool)."""
    out_width = width // pool
    for out_y in range(height // pool):
        for out_x in range(out_width):
            target = (out_y * out_width + out_x) * channels
            first = (out_y * pool * width + out_x * pool) * channels
            for j in range(channels):
                pooled[target + j] = spikes[first + j]
            for dy in range(pool):
                for dx in range(pool):
                    source = ((out_y * pool + dy) * width + out_x * pool + dx) * channels
                    for j in range(channels):
                        pooled[target + j] = max(pooled[target + j], spikes[source + j])


@numba.njit(inline="always")
def unpool_row(grad_pooled, pre, threshold, height, width, channels, pool, remaining, grad_spikes):
    """The adjoint of ``pool_row`` given the row's V_pre [H*W*C]: grad_spikes [H*W*C] is zero but at each
    window's chosen input (first with V_pre >= threshold in row-major order, else the first), which
    receives the window's grad_pooled. ``remaining`` [C] is scratch.

    Each window is walked in row-major order with, per channel, the gradient not yet given out: a spiking
    input takes all of it (leaving exactly 0), and what is left after the walk goes to the first input.
    Branch-free over the contiguous channels, so the loops vectorise (one scalar search per channel and
    window was the slowest part of the backward)."""
    zero = grad_spikes.dtype.type(0)
    if height % pool or width % pool:  # remainder rows or columns: no window reaches them
        grad_spikes[:] = zero
    out_width = width // pool
    for out_y in range(height // pool):
        for out_x in range(out_width):
            target = (out_y * out_width + out_x) * channels
            for j in range(channels):
                remaining[j] = grad_pooled[target + j]
            for dy in range(pool):
                for dx in range(pool):
                    source = ((out_y * pool + dy) * width + out_x * pool + dx) * channels
                    for j in range(channels):
                        taken = remaining[j] if pre[source + j] - threshold >= zero else zero
                        grad_spikes[source + j] = taken
                        remaining[j] -= taken
            first = (out_y * pool * width + out_x * pool) * channels
            for j in range(channels):
                grad_spikes[first + j] += remaining[j]


@numba.njit(parallel=True, cache=True)
def _forward(current, height, width, pool, tau, threshold, reset, num_parts, keep_pre, pooled, pre):
    """current [T, B, H*W*C] (NHWC rows). Out: pooled [T, B, (H//K)*(W//K)*C]; V_pre [T, B, H*W*C] if
    keep_pre, else [num_parts, 1, H*W*C] per-thread scratch."""
    num_steps, batch_size, size = current.shape
    channels = size // (height * width)
    dtype = current.dtype
    per_part = (batch_size + num_parts - 1) // num_parts
    for part in numba.prange(num_parts):
        membrane = np.empty(size, dtype)
        spikes = np.empty(size, dtype)
        for b in range(part * per_part, min(batch_size, (part + 1) * per_part)):
            membrane[:] = dtype.type(0)
            for t in range(num_steps):
                charge_and_fire_row(current[t, b], membrane, tau, threshold, reset,
                                    pre[t, b] if keep_pre else pre[part, 0], spikes)
                pool_row(spikes, height, width, channels, pool, pooled[t, b])


@numba.njit(parallel=True, cache=True)
def _backward(grad_pooled, pre, height, width, pool, tau, threshold, surrogate, slope, num_parts, grad_current):
    """grad_pooled [T, B, (H//K)*(W//K)*C], pre [T, B, H*W*C]; surrogate: ``Surrogate.code``.
    Out: grad_current [T, B, H*W*C]."""
    num_steps, batch_size, size = pre.shape
    channels = size // (height * width)
    dtype = pre.dtype
    per_part = (batch_size + num_parts - 1) // num_parts
    for part in numba.prange(num_parts):
        grad_membrane = np.empty(size, dtype)
        grad_spikes = np.empty(size, dtype)
        slope_row = np.empty(size, dtype)
        remaining = np.empty(channels, dtype)
        for b in range(part * per_part, min(batch_size, (part + 1) * per_part)):
            grad_membrane[:] = dtype.type(0)
            for t in range(num_steps - 1, -1, -1):
                unpool_row(grad_pooled[t, b], pre[t, b], threshold, height, width, channels, pool, remaining,
                           grad_spikes)
                derivative_row(surrogate, pre[t, b], threshold, slope, slope_row)
                adjoint_row(grad_spikes, pre[t, b], slope_row, threshold, tau, grad_membrane, grad_current[t, b])


def parts(batch_size: int) -> int:
    """Threads to use: each takes whole samples."""
    return max(1, min(numba.get_num_threads(), batch_size))


class _PooledLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current: Tensor, params: LIFParams, pool: int, keep_pre: bool):  # type: ignore[override]
        num_steps, batch_size, height, width, channels = current.shape
        flat = current.detach().contiguous().reshape(num_steps, batch_size, -1)
        num_parts = parts(batch_size)
        pooled = flat.new_empty(num_steps, batch_size, (height // pool) * (width // pool) * channels)
        pre = flat.new_empty(*((num_steps, batch_size) if keep_pre else (num_parts, 1)), flat.shape[2])
        dtype = flat.numpy().dtype.type
        _forward(flat.numpy(), height, width, pool, dtype(params.tau), dtype(params.threshold), dtype(params.reset),
                 num_parts, keep_pre, pooled.numpy(), pre.numpy())
        ctx.save_for_backward(pre)
        ctx.params, ctx.pool, ctx.shape = params, pool, current.shape
        return pooled.reshape(num_steps, batch_size, height // pool, width // pool, channels)

    @staticmethod
    def backward(ctx, grad_pooled: Tensor):  # type: ignore[override]
        (pre,) = ctx.saved_tensors
        params: LIFParams = ctx.params
        num_steps, batch_size, height, width, _ = ctx.shape
        grad_current = torch.empty_like(pre)
        dtype = pre.numpy().dtype.type
        _backward(grad_pooled.contiguous().reshape(num_steps, batch_size, -1).numpy(), pre.numpy(), height, width,
                  ctx.pool, dtype(params.tau), dtype(params.threshold), SURROGATES[params.surrogate].code,
                  dtype(params.slope), parts(batch_size), grad_current.numpy())
        return grad_current.reshape(ctx.shape), None, None, None


def pooled_lif_scan(current: Tensor, params: LIFParams, pool: int) -> Tensor:
    """LIF from rest over currents [T, B, H, W, C] (NHWC), then K x K max pooling (K = ``pool``), fused.

    Returns:
        pooled spikes [T, B, H // K, W // K, C] in {0., 1.}, differentiable in ``current``
        (float32/float64 CPU tensors; ``supports_pooled_scan``).
    """
    keep_pre = torch.is_grad_enabled() and current.requires_grad
    return _PooledLIF.apply(current, params, pool, keep_pre)


def supports_pooled_scan(current: Tensor) -> bool:
    """Whether ``pooled_lif_scan`` runs: float32/float64 on the CPU."""
    return current.device.type == "cpu" and current.dtype in (torch.float32, torch.float64)
