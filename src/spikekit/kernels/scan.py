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

import functools

import numba
import numpy as np
import torch
from torch import Tensor

from spikekit.dynamics.lif import LIFParams, initial_state
from spikekit.dynamics.neuron import model_of, neuron_scan, pack
from spikekit.dynamics.surrogate import SURROGATES
from spikekit.kernels.intrinsics.borrow import borrowed, held
from spikekit.kernels.intrinsics.denormals import flush_denormals, restore_denormals
from spikekit.kernels.lif_fused import fused_lif_scan
from spikekit.kernels.neurons import SHAPES, UNIFORM_LIF, adjoint, charge_and_fire, prepared


def sample_parts(batch_size: int) -> int:
    """Threads to use: each takes whole samples."""
    return max(1, min(numba.get_num_threads(), batch_size))


@numba.njit(inline="always")
def part_range(part, num_parts, batch_size):
    """Samples [start, stop) of thread ``part``."""
    per_part = (batch_size + num_parts - 1) // num_parts
    return part * per_part, min(batch_size, (part + 1) * per_part)


@functools.cache
def kernels(code: int):
    """(forward, backward) compiled for neuron model ``code``: the one generic source below, in which ``code``
    is a closure constant, so numba folds ``neurons``' dispatch away and compiles (and caches on disk, per
    value of ``code``) one kernel per model. With ``code`` a runtime argument instead, all models' branches
    sat in one loop nest and LLVM vectorised none of them (LIF forward 391 vs 177 us for T=25, B=128, N=128).
    """

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def forward(current, consts, num_state, num_parts, keep, spikes, saved):
        """current [T, B, N]; consts [P, N]. Out: spikes [T, B, N]; saved [T, B, K, N] if keep, else
        [num_parts, 1, K, N] per-thread scratch (inference)."""
        num_steps, batch_size, width = current.shape
        for part in numba.prange(num_parts):
            owned_consts = prepared(code, consts)  # private, with the factors (neurons.prepared)
            start, stop = part_range(part, num_parts, batch_size)
            # Steps outermost: a step's rows of the thread's samples are one contiguous block of current, spikes
            # and saved (one sample's rows lie [B, N] apart; walked sample by sample, 2.7x slower for T=25, B=128).
            owned_state = np.zeros((stop - start, num_state, width), current.dtype)
            # the loops' views are made from borrowed arrays: no reference counting per row (intrinsics.borrow)
            local, state = borrowed(owned_consts), borrowed(owned_state)
            current_rows, saved_rows, spike_rows = borrowed(current), borrowed(saved), borrowed(spikes)
            for t in range(num_steps):
                for b in range(start, stop):
                    saved_row = saved_rows[t, b] if keep else saved_rows[part, 0]
                    charge_and_fire(code, local, state[b - start], current_rows[t, b], saved_row, spike_rows[t, b])
            held(owned_consts)
            held(owned_state)


    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def backward(grad_spikes, saved, consts, num_state, surrogate, slope, learn, grad_current, partial_consts):
        """grad_spikes [T, B, N]; saved [T, B, K, N]. Out: grad_current [T, B, N]; if ``learn``, partial_consts
        [parts, P, N], one sum of the constants' gradient per thread."""
        num_steps, batch_size, width = grad_spikes.shape
        num_parts = partial_consts.shape[0]
        dtype = saved.dtype
        for part in numba.prange(num_parts):
            # Private copies (allocated here): LLVM then knows they overlap no argument and vectorises the rows'
            # loops without runtime overlap checks, which with this many arrays it gives up on.
            mxcsr = flush_denormals()  # the adjoint's decays make denormals (intrinsics.denormals)
            owned_consts, accumulator = prepared(code, consts), np.zeros_like(consts)
            x, h = np.empty(width, dtype), np.empty(width, dtype)
            start, stop = part_range(part, num_parts, batch_size)
            owned_state = np.zeros((stop - start, num_state, width), dtype)  # steps outermost, as forward
            # the loops' views are made from borrowed arrays: no reference counting per row (intrinsics.borrow)
            local, grad_state = borrowed(owned_consts), borrowed(owned_state)
            saved_rows, grad_rows, current_rows = borrowed(saved), borrowed(grad_spikes), borrowed(grad_current)
            for t in range(num_steps - 1, -1, -1):
                for b in range(start, stop):
                    adjoint(code, local, saved_rows[t, b], saved_rows[max(t - 1, 0), b], t == 0, grad_rows[t, b],
                            surrogate, slope, x, h, grad_state[b - start], current_rows[t, b], accumulator, learn)
            partial_consts[part] = accumulator
            restore_denormals(mxcsr)
            held(owned_consts)
            held(owned_state)

    return forward, backward


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
        kernels(code)[0](flat.numpy(), packed.numpy(), num_state, num_parts, keep, spikes.numpy(), saved.numpy())
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
        learn = ctx.needs_input_grad[1]
        kernels(ctx.code)[1](grad.numpy(), saved.numpy(), packed.numpy(), SHAPES[ctx.code][1], surrogate, dtype(slope),
                             learn, grad_current.numpy(), partial.numpy())
        return grad_current.reshape(ctx.shape), partial.sum(0) if learn else None, None, None, None


def supports_scan(current: Tensor) -> bool:
    """Whether ``fused_scan`` runs compiled: float32/float64 on the CPU."""
    return current.device.type == "cpu" and current.dtype in (torch.float32, torch.float64)


def fused_scan(current: Tensor, params) -> Tensor:
    """Spikes [T, B, *shape] of the neuron model of ``params`` (any ``dynamics.neuron.MODELS`` entry) driven by
    ``current`` [T, B, *shape] from rest: ``dynamics.neuron.neuron_scan``'s spikes, compiled (float32/float64
    on the CPU, ``supports_scan``). Differentiable in ``current`` and in every tensor field of ``params``."""
    consts = kernel_constants(params, tuple(current.shape[2:]), current)
    keep = torch.is_grad_enabled() and (current.requires_grad or consts.requires_grad)
    return _Scan.apply(current, consts, kernel_code(params), (SURROGATES[params.surrogate].code, params.slope), keep)


def kernel_constants(params, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """The constants as the kernels take them: ``dynamics.neuron.pack``'s [P, N], or for plain LIF (which the
    ``UNIFORM_LIF`` rows read at column 0 only) a [3, 1] tensor made in one call (``pack`` took ~19 us, ~1.5%
    of a seed training step, twice a step)."""
    if plain_lif(params):
        return torch.tensor([[params.tau], [params.threshold], [params.reset]], dtype=like.dtype)
    return pack(params, shape, like)


def kernel_code(params) -> int:
    """The ``neurons`` code that runs ``params``: its model's, or ``UNIFORM_LIF`` for plain LIF."""
    return UNIFORM_LIF if plain_lif(params) else model_of(params).code


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
