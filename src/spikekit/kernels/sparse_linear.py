"""A synaptic product whose input is mostly zeros, made from its nonzeros: ``current = W x + b`` over [T*B] rows.

The input part of a layer fed dense spikes that are not events: another layer's spikes after dropout
(values 0 or 1/(1-p)), a residual sum of spike trains (0, 1, 2), any [T, B, N_in] tensor of few nonzeros.
Forward, per row: the row's nonzeros (index and value) are gathered, 16 entries at a time
(``intrinsics.select.nonzeros``), then current = b + sum over them of value * W^T[index]. Backward:
dW^T[index] += value * g_I for the same nonzeros (one accumulator per thread, summed after), db = sum of g_I;
the input's gradient g_x = g_I W is one GEMM (torch), since a surrogate gradient reaches every input, spiking
or not.

Why: a GEMM costs the same whatever the input holds; at the 5-15% of nonzeros a hidden layer's spikes have,
two of a layer's three products (forward and the weight's gradient) do 7-20x less work from the nonzeros.
Measured in the README's own model (LIF 784-256, dropout, LIF 256-256 added back, linear head, T=25, batch 128),
see docs/performance.md's ``custom`` rows. Above ``DENSITY`` nonzeros the GEMM is kept (``fast_layer``), and
above ``DENSITY`` times the share of useful lanes in what a row visit computes (``rows.lanes_computed``): an
output row that ends inside a vector is computed as a whole masked block. A readout of 20 float32 outputs
(8 vectors for 20 lanes) took 2.5-6.2 ms forward and backward over [12800, 256] spikes at 2-22% nonzeros,
against 1.8-2.3 ms for the GEMM; 10 outputs 2.5-8.6 against 1.7; 32 and 48 outputs (whole vectors) won below
~20%, as 256 does (2 threads, Intel AVX-512, 2026-12-06).

Arithmetic: the same products as the GEMM, summed in another order (float rounding only).
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import Tensor

from spikekit.kernels.intrinsics.rows import add_rows, lanes_computed, scatter_rows
from spikekit.kernels.intrinsics.select import nonzeros
from spikekit.kernels.scan import part_range, sample_parts  # each thread takes a block of rows

DENSITY = 0.25  # at most this fraction of nonzeros for the product to be made from them (see above)


@numba.njit(parallel=True, cache=True)
def count_nonzero(inputs, num_parts):
    """The number of nonzeros of inputs [R, N] (what torch.count_nonzero gives, without its ~0.6 ms over a
    T=25 batch's [3200, 256])."""
    num_rows = inputs.shape[0]
    counts = np.zeros(num_parts, np.int64)
    for part in numba.prange(num_parts):
        start, stop = part_range(part, num_parts, num_rows)
        total = 0
        for r in range(start, stop):
            row = inputs[r]
            for i in range(row.shape[0]):
                total += row[i] != 0
        counts[part] = total
    return counts.sum()


@numba.njit(parallel=True, cache=True)
def _forward(inputs, weight_t, bias, num_parts, current):
    """inputs [R, N_in]; weight_t W^T [N_in, N]; bias [N]. Out: current [R, N]."""
    num_rows, num_inputs = inputs.shape
    for part in numba.prange(num_parts):
        indices, values = np.empty(num_inputs, np.int32), np.empty(num_inputs, inputs.dtype)
        start, stop = part_range(part, num_parts, num_rows)
        for r in range(start, stop):
            out = current[r]
            out[:] = bias
            count, same = nonzeros(inputs[r], indices, values)
            if same and count > 0:  # one value: value * (sum of the rows), the sum kept in registers
                add_rows(out, weight_t, indices, 0, count, values[0])
            else:
                for k in range(count):
                    row, value = weight_t[indices[k]], values[k]
                    for j in range(out.shape[0]):
                        out[j] += value * row[j]


@numba.njit(parallel=True, cache=True)
def weight_grad(inputs, grad_current, partial):
    """partial[p] <- thread p's share of dW^T = sum over rows of x^T g_I, from the nonzeros of inputs [R, N_in];
    grad_current [R, N]; partial [P, N_in, N]."""
    num_rows, num_inputs = inputs.shape
    num_parts = partial.shape[0]
    for part in numba.prange(num_parts):
        accumulator = partial[part]
        accumulator[:] = 0
        indices, values = np.empty(num_inputs, np.int32), np.empty(num_inputs, inputs.dtype)
        start, stop = part_range(part, num_parts, num_rows)
        for r in range(start, stop):
            grad = grad_current[r]
            count, same = nonzeros(inputs[r], indices, values)
            if same and count > 0:  # one value: its rows each get value * g_I
                scatter_rows(accumulator, indices, 0, count, grad, values[0])
            else:
                for k in range(count):
                    row, value = accumulator[indices[k]], values[k]
                    for j in range(grad.shape[0]):
                        row[j] += value * grad[j]


class _SparseLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs: Tensor, weight: Tensor, bias: Tensor) -> Tensor:  # type: ignore[override]
        rows = inputs.detach().reshape(-1, inputs.shape[-1]).contiguous()
        current = rows.new_empty(rows.shape[0], weight.shape[0])
        weight_t = weight.detach().t().contiguous()
        _forward(rows.numpy(), weight_t.numpy(), bias.detach().contiguous().numpy(), sample_parts(rows.shape[0]),
                 current.numpy())
        ctx.save_for_backward(rows, weight)
        ctx.shape = inputs.shape
        return current.view(*inputs.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad_current: Tensor):  # type: ignore[override]
        rows, weight = ctx.saved_tensors
        grad = grad_current.reshape(-1, weight.shape[0]).contiguous()
        grad_inputs = (grad @ weight.detach()).view(ctx.shape) if ctx.needs_input_grad[0] else None
        grad_weight = None
        if ctx.needs_input_grad[1]:
            partial = grad.new_empty(sample_parts(rows.shape[0]), rows.shape[1], grad.shape[1])
            weight_grad(rows.numpy(), grad.numpy(), partial.numpy())
            grad_weight = partial.sum(0).t()
        grad_bias = grad.sum(0) if ctx.needs_input_grad[2] else None
        return grad_inputs, grad_weight, grad_bias


def supports_sparse_linear(inputs: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    """Whether ``sparse_linear`` runs: CPU float32/float64 input and weight of one dtype, a bias, and at most
    ``DENSITY`` of the inputs nonzero, scaled by the share of the lanes a row visit computes that are outputs
    (``rows.lanes_computed``; counted here, ``count_nonzero``: one pass over the input)."""
    if not (inputs.device.type == "cpu" and weight.device.type == "cpu" and bias is not None
            and inputs.dtype in (torch.float32, torch.float64) and weight.dtype == inputs.dtype == bias.dtype
            and inputs.numel() > 0 and inputs.is_contiguous()):
        return False
    width = weight.shape[0]
    return _density(inputs) <= DENSITY * width / lanes_computed(width, inputs.element_size())


def _density(inputs: Tensor) -> float:
    rows = inputs.detach().view(-1, inputs.shape[-1])
    return count_nonzero(rows.numpy(), sample_parts(rows.shape[0])) / inputs.numel()


def sparse_linear(inputs: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``inputs @ weight.T + bias`` (as ``nn.functional.linear``) made from the inputs' nonzeros.

    Args:
        inputs: [..., N_in], mostly zeros, any values.
        weight: [N, N_in]; bias: [N].
    Returns:
        [..., N], differentiable in all three (the inputs' gradient by one GEMM).
    """
    return _SparseLinear.apply(inputs, weight, bias)
