"""The generic fused scan: any neuron model over dense currents [T, B, N], one compiled pass per direction.

The input part is a dense current (one product over all T*B rows, made by torch before the call: a
``nn.Linear``, a conv, or whatever a user's model computes); the neuron part is
``spikekit.kernels.neurons`` (any model, per-neuron constants); the output part stores the spikes. Samples are
split between threads; each runs its samples' rows through time with the state in a private [S, N] array that
stays in L1. The forward saves K rows per (step, sample) (the model's ``SHAPES``) and nothing else; the backward
walks the steps in reverse through the model's adjoint, giving the currents' gradient and, per thread, the
constants' gradients, summed after over threads and returned for the [P, N] constants tensor (so learned
constants get theirs through autograd: ``dynamics.neuron.pack``).

Why not the reference loop: it launches ~6-10 torch ops per step and autograd keeps every intermediate of
every step; here one tensor of K rows is kept and no op is launched per step.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import Tensor

from spikekit.dynamics.lif import LIFParams, initial_state
from spikekit.dynamics.neuron import model_of, neuron_scan, pack
from spikekit.dynamics.surrogate import SURROGATES
from spikekit.kernels.lif_fused import fused_lif_scan
from spikekit.kernels.neurons import SHAPES, adjoint, charge_and_fire


def sample_parts(batch_size: int) -> int:
    """Threads to use: each takes whole samples."""
    return max(1, min(numba.get_num_threads(), batch_size))


@numba.njit(inline="always")
def part_range(part, num_parts, batch_size):
    """Samples [start, stop) of thread ``part``."""
    per_part = (batch_size + num_parts - 1) // num_parts
    return part * per_part, min(batch_size, (part + 1) * per_part)


@numba.njit(parallel=True, cache=True)
def _forward(code, current, consts, num_state, num_parts, keep, spikes, saved):
    """current [T, B, N]; consts [P, N]. Out: spikes [T, B, N]; saved [T, B, K, N] if keep, else
    [num_parts, 1, K, N] per-thread scratch (inference)."""
    num_steps, batch_size, width = current.shape
    for part in numba.prange(num_parts):
        state = np.empty((num_state, width), current.dtype)
        start, stop = part_range(part, num_parts, batch_size)
        for b in range(start, stop):
            state[:] = current.dtype.type(0)
            for t in range(num_steps):
                charge_and_fire(code, consts, state, current[t, b], saved[t, b] if keep else saved[part, 0],
                                spikes[t, b])


@numba.njit(parallel=True, cache=True)
def _backward(code, grad_spikes, saved, consts, num_state, surrogate, slope, grad_current, partial_consts):
    """grad_spikes [T, B, N]; saved [T, B, K, N]. Out: grad_current [T, B, N]; partial_consts [parts, P, N],
    one accumulator of the constants' gradient per thread."""
    num_steps, batch_size, width = grad_spikes.shape
    num_parts = partial_consts.shape[0]
    dtype = saved.dtype
    for part in numba.prange(num_parts):
        accumulator = partial_consts[part]
        accumulator[:] = dtype.type(0)
        grad_state = np.empty((num_state, width), dtype)
        x, h = np.empty(width, dtype), np.empty(width, dtype)
        start, stop = part_range(part, num_parts, batch_size)
        for b in range(start, stop):
            grad_state[:] = dtype.type(0)
            for t in range(num_steps - 1, -1, -1):
                adjoint(code, consts, saved[t, b], saved[max(t - 1, 0), b], t == 0, grad_spikes[t, b], surrogate,
                        slope, x, h, grad_state, grad_current[t, b], accumulator)


class _Scan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current: Tensor, consts: Tensor, code: int, surrogate: tuple[int, float],  # type: ignore[override]
                keep: bool) -> Tensor:
        flat = current.detach().contiguous().reshape(current.shape[0], current.shape[1], -1)
        num_steps, batch_size, width = flat.shape
        _, num_state, num_saved = SHAPES[code]
        num_parts = sample_parts(batch_size)
        spikes = torch.empty_like(flat)
        saved = flat.new_empty(*((num_steps, batch_size) if keep else (num_parts, 1)), num_saved, width)
        packed = consts.detach().contiguous()
        _forward(code, flat.numpy(), packed.numpy(), num_state, num_parts, keep, spikes.numpy(), saved.numpy())
        ctx.save_for_backward(saved, packed)
        ctx.code, ctx.surrogate, ctx.shape = code, surrogate, current.shape
        return spikes.reshape(current.shape)

    @staticmethod
    def backward(ctx, grad_spikes: Tensor):  # type: ignore[override]
        saved, packed = ctx.saved_tensors
        num_steps, batch_size, _, width = saved.shape
        surrogate, slope = ctx.surrogate
        grad = grad_spikes.contiguous().reshape(num_steps, batch_size, width)
        grad_current = torch.empty_like(grad)
        partial = saved.new_empty(sample_parts(batch_size), *packed.shape)
        dtype = saved.numpy().dtype.type
        _backward(ctx.code, grad.numpy(), saved.numpy(), packed.numpy(), SHAPES[ctx.code][1], surrogate,
                  dtype(slope), grad_current.numpy(), partial.numpy())
        return grad_current.reshape(ctx.shape), partial.sum(0), None, None, None


def supports_scan(current: Tensor) -> bool:
    """Whether ``fused_scan`` runs compiled: float32/float64 on the CPU."""
    return current.device.type == "cpu" and current.dtype in (torch.float32, torch.float64)


def fused_scan(current: Tensor, params) -> Tensor:
    """Spikes [T, B, *shape] of the neuron model of ``params`` (any ``dynamics.neuron.MODELS`` entry) driven by
    ``current`` [T, B, *shape] from rest: ``dynamics.neuron.neuron_scan``'s spikes, compiled (float32/float64
    on the CPU, ``supports_scan``). Differentiable in ``current`` and in every tensor field of ``params``."""
    model = model_of(params)
    consts = pack(params, tuple(current.shape[2:]), current)
    keep = torch.is_grad_enabled() and (current.requires_grad or consts.requires_grad)
    return _Scan.apply(current, consts, model.code, (SURROGATES[params.surrogate].code, params.slope), keep)


def plain_lif(params) -> bool:
    """Whether ``params`` is LIF with float constants only: what the LIF-specialised kernels (``lif_fused``,
    ``readout``, ``event_readout``, ``event_conv``, ``image_lif``) take. Any other model, per-neuron or learned
    constants go through the generic kernels (this file, ``event_layer``), which give them gradients."""
    return type(params) is LIFParams and not any(isinstance(getattr(params, name), Tensor)
                                                 for name in ("tau", "threshold", "reset"))


def scan_neurons(current: Tensor, params) -> Tensor:
    """Spikes [T, B, *shape] from rest of the neurons of ``params`` driven by ``current`` [T, B, *shape]: the
    LIF-specialised scan for plain LIF, the generic one for anything else, the reference loop off the CPU or
    in other dtypes. Every path equals ``dynamics.neuron.neuron_scan`` (tests)."""
    if not supports_scan(current):
        return neuron_scan(current, params)[0]
    if plain_lif(params):
        return fused_lif_scan(current, initial_state(current.shape[1], tuple(current.shape[2:]), like=current),
                              params)[0]
    return fused_scan(current, params)
