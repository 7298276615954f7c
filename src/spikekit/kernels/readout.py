"""The last layer when only its spike counts are wanted (training's logits): one autograd node.

counts[b] = sum over t of the spikes of ``Linear`` then LIF, from rest. Run as separate pieces, this
is a ``Linear`` node, a LIF scan node that writes its [T, B, K] spikes, and a sum over time whose
backward expands the counts' gradient back to [T, B, K], each with its own tensor glue; for the
784-128-10 network that glue cost more than the arithmetic. Here the LIF kernel (``lif_fused``) adds
each step's spikes into the counts instead of storing them, and its backward reads the counts'
gradient as the spike gradient of every step. A T=25 training step measured 2.52-2.78 -> 2.45-2.49 ms
(20th percentiles of 6 interleaved processes each). Same arithmetic as the separate pieces.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spikekit.dynamics.lif import LIFParams
from spikekit.dynamics.surrogate import SURROGATES
from spikekit.kernels.lif_fused import adjoint_kernel, column_chunks, scan_kernel


def readout_scan(current: Tensor, params: LIFParams, keep: bool) -> tuple[Tensor, Tensor]:
    """A readout's LIF over all samples at once, vectorised across the B*K columns, from its current [T, B, K]
    (K may be padded: ``event_readout.padded_rows``): (counts [B*K], its pre-reset membranes [T, B*K] for the
    adjoint if ``keep``, else [T, 0])."""
    num_steps, columns = current.shape[0], current.shape[1] * current.shape[2]
    counts = current.new_zeros(columns)
    pre = current.new_empty(num_steps, columns if keep else 0)
    dtype = current.numpy().dtype.type
    scan_kernel(current.view(num_steps, columns).numpy(), current.new_zeros(columns).numpy(), dtype(params.tau),
                dtype(params.threshold), dtype(params.reset), column_chunks(columns), (False, keep),
                current.new_empty(0, 0).numpy(), pre.numpy(), counts.numpy())
    return counts, pre


def readout_adjoint(grad_counts: Tensor, pre: Tensor, params: LIFParams) -> Tensor:
    """g_I [T, B*K], the readout current's gradient, from the counts' gradient [B, K] (every step's spike gradient;
    laid out as ``readout_scan``'s columns, padding included) and ``readout_scan``'s ``pre``."""
    columns = pre.shape[1]
    grad = torch.empty_like(pre)
    dtype = pre.numpy().dtype.type
    adjoint_kernel(grad_counts.contiguous().view(1, columns).numpy(), pre.numpy(), dtype(params.threshold),
                   dtype(params.tau), SURROGATES[params.surrogate].code, dtype(params.slope),
                   pre.new_zeros(columns).numpy(), column_chunks(columns), grad.numpy())
    return grad


class _Readout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs: Tensor, weight: Tensor, bias: Tensor, params: LIFParams,  # type: ignore[override]
                keep_pre: bool) -> Tensor:
        num_steps, batch_size, num_inputs = inputs.shape
        flat = inputs.detach().reshape(num_steps * batch_size, num_inputs)
        current = torch.addmm(bias.detach(), flat, weight.detach().t())  # [T*B, K]: one GEMM over all steps
        counts, pre = readout_scan(current.view(num_steps, batch_size, weight.shape[0]), params, keep_pre)
        ctx.save_for_backward(flat, weight, pre)
        ctx.params, ctx.shape = params, inputs.shape
        return counts.view(batch_size, weight.shape[0])

    @staticmethod
    def backward(ctx, grad_counts: Tensor):  # type: ignore[override]
        flat, weight, pre = ctx.saved_tensors
        grad_current = readout_adjoint(grad_counts, pre, ctx.params).view(flat.shape[0], weight.shape[0])  # [T*B, K]
        grad_inputs = (grad_current @ weight).view(ctx.shape) if ctx.needs_input_grad[0] else None
        return grad_inputs, grad_current.t() @ flat, grad_current.sum(0), None, None


def supports_readout(inputs: Tensor, linear: nn.Linear) -> bool:
    """Whether ``readout_counts`` runs: dense float32/float64 inputs and weights of one dtype, on the CPU."""
    weight = linear.weight
    return (isinstance(inputs, Tensor) and inputs.device.type == weight.device.type == "cpu"
            and inputs.dtype == weight.dtype and weight.dtype in (torch.float32, torch.float64))


def readout_counts(inputs: Tensor, linear: nn.Linear, params: LIFParams) -> Tensor:
    """Spike counts over time of an SNNLayer (``linear`` then LIF, from rest).

    Args:
        inputs: input spikes [T, B, N_in], float32/float64 on the CPU (``supports_readout``).
        linear: the layer's synapses, weight [K, N_in].
        params: its LIF constants.
    Returns:
        counts [B, K] (float), differentiable in ``inputs``, the weight and the bias (surrogate gradient).
    """
    if not supports_readout(inputs, linear):
        raise ValueError("readout_counts needs dense CPU inputs and weights of one dtype, float32 or float64")
    keep_pre = torch.is_grad_enabled() and (inputs.requires_grad or linear.weight.requires_grad
                                            or linear.bias.requires_grad)
    return _Readout.apply(inputs.contiguous(), linear.weight, linear.bias, params, keep_pre)


class _CurrentCounts(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current: Tensor, params: LIFParams, keep_pre: bool) -> Tensor:  # type: ignore[override]
        counts, pre = readout_scan(current.detach().contiguous(), params, keep_pre)
        ctx.save_for_backward(pre)
        ctx.params = params
        return counts.view(current.shape[1], current.shape[2])

    @staticmethod
    def backward(ctx, grad_counts: Tensor):  # type: ignore[override]
        pre, = ctx.saved_tensors
        return readout_adjoint(grad_counts, pre, ctx.params).view(pre.shape[0], *grad_counts.shape), None, None


def counts_from_current(current: Tensor, params: LIFParams) -> Tensor:
    """Spike counts [B, K] over time of LIF neurons (``params``: ``scan.plain_lif``) driven by ``current`` [T, B, K]
    (float32/float64, CPU) from rest: ``readout_counts`` without its product, for a readout whose current another
    pass made (``recurrent.recurrent_scan``'s ``readout``). Differentiable in ``current`` (surrogate gradient)."""
    if not (current.device.type == "cpu" and current.dtype in (torch.float32, torch.float64) and current.dim() == 3):
        raise ValueError(f"counts_from_current needs a float32/float64 CPU current [T, B, K], got {current.dtype} "
                         f"{list(current.shape)} on {current.device}")
    return _CurrentCounts.apply(current, params, torch.is_grad_enabled() and current.requires_grad)


def supports_fused_readout(weight: Tensor, readout: nn.Module) -> bool:
    """Whether ``readout`` can run inside the passes of the layer of weight W [N, N_in] that feeds it
    (``event_recurrent``, ``recurrent``): weights [K, N] and a bias, of W's dtype and device."""
    readout_weight, readout_bias = readout.weight, readout.bias
    return (readout_bias is not None and readout_weight.dim() == 2 and readout_weight.shape[1] == weight.shape[0]
            and readout_weight.dtype == readout_bias.dtype == weight.dtype
            and readout_weight.device == readout_bias.device == weight.device)
