"""Leaky integrate-and-fire neuron: the reference math, written once.

With membrane ``V``, synaptic current ``I`` and time constant ``tau`` (in time steps), one step is

    V_pre[t] = V[t-1] + (I[t] - V[t-1]) / tau       # charge: leak towards I
    S[t]     = 1 if V_pre[t] >= threshold else 0     # fire
    V[t]     = reset if S[t] else V_pre[t]           # reset

Backward, ``S`` takes the surrogate derivative of ``V_pre - threshold`` and the reset is detached:
gradients flow through the charge, not through the decision to reset. Every engine in
``spikekit.kernels`` must equal ``lif_scan`` forward and backward.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from spikekit.dynamics.surrogate import check_surrogate, spike


class LIFParams(NamedTuple):
    """Constants of a LIF layer. ``tau``, ``threshold`` and ``reset`` are floats, or tensors broadcastable to
    the neurons' shape (per-neuron values, learnable ones included; ``spikekit.nn.neurons``)."""

    tau: float | Tensor = 2.0  # membrane time constant, in time steps (> 1; 1 would forget everything each step)
    threshold: float | Tensor = 1.0  # membrane value at which a spike is emitted (> 0)
    reset: float | Tensor = 0.0  # membrane value after a spike (< threshold)
    surrogate: str = "fast_sigmoid"  # a key of spikekit.dynamics.surrogate.SURROGATES
    slope: float = 5.0  # surrogate sharpness, in inverse membrane units; 5 learns better than 25 (docs/accuracy.md)


class LIFState(NamedTuple):
    membrane: Tensor  # [B, N] (or [B, C, H, W] in a conv layer), dimensionless; spikes at params.threshold


def check_params(params: LIFParams) -> LIFParams:
    """Raise ``ValueError`` naming the first out-of-range field of ``params``; else return it. Tensor fields
    are checked element by element."""
    check_common(params)
    return params


def _values(value: float | Tensor) -> Tensor:
    return torch.as_tensor(value.detach() if isinstance(value, Tensor) else value, dtype=torch.float64)


def _describe(value: float | Tensor) -> str:
    return str(value) if not isinstance(value, Tensor) or value.numel() == 1 else f"a tensor holding {value}"


def check_range(name: str, value: float | Tensor, low: float, high: float = math.inf, *,
                low_open: bool = True) -> None:
    """``ValueError`` naming ``name`` unless every element of ``value`` is finite and in (low, high)
    (``low_open`` False: [low, high))."""
    values = _values(value)
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name} must be a finite number, got {_describe(value)}")
    above = values > low if low_open else values >= low
    if not bool((above & (values < high)).all()):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"{name} must be {bound}{'' if high == math.inf else f' and < {high}'}, "
                         f"got {_describe(value)}")


def check_common(params: NamedTuple) -> None:
    """The checks every neuron model shares: tau > 1 step, threshold > 0, reset below threshold, slope > 0,
    a known surrogate (``params`` has those fields, floats or tensors)."""
    check_range("tau", params.tau, 1.0)
    check_range("threshold", params.threshold, 0.0)
    check_range("reset", params.reset, -math.inf)
    if not bool((_values(params.reset) < _values(params.threshold)).all()):
        raise ValueError(f"reset must be below threshold ({_describe(params.threshold)}), got "
                         f"{_describe(params.reset)}")
    check_range("slope", params.slope, 0.0)
    check_surrogate(params.surrogate)


def initial_state(batch_size: int, neurons: int | tuple[int, ...], like: Tensor) -> LIFState:
    """Membrane at rest (0), shape [batch_size, neurons] (or [batch_size, *neurons] for a shape such as a
    conv layer's [C, H, W]), on the device and dtype of ``like``."""
    shape = (neurons,) if isinstance(neurons, int) else tuple(neurons)
    return LIFState(torch.zeros(batch_size, *shape, dtype=like.dtype, device=like.device))


def charge(current: Tensor, state: LIFState, params: LIFParams) -> Tensor:
    """V_pre[t] = V[t-1] + (I[t] - V[t-1]) / tau: the membrane before fire and reset, shape [B, N]."""
    return state.membrane + (current - state.membrane) / params.tau


def lif_step(current: Tensor, state: LIFState, params: LIFParams) -> tuple[Tensor, LIFState]:
    """One step of the LIF equations in the module docstring.

    Args:
        current: synaptic current I[t], shape [B, N].
        state: membrane V[t-1], shape [B, N].
        params: neuron constants.
    Returns:
        spikes S[t] in {0., 1.} of shape [B, N], and the state V[t] after the reset.
    """
    membrane = charge(current, state, params)
    spikes = spike(membrane - params.threshold, params.surrogate, params.slope)
    return spikes, LIFState(reset_where(spikes, params.reset, membrane))


def reset_where(spikes: Tensor, reset: float | Tensor, membrane: Tensor) -> Tensor:
    """``reset`` where ``spikes`` fired, else ``membrane``. Detached decision: the gradient flows through the
    charge (and into a tensor ``reset`` where it was used), not through the decision to reset."""
    if isinstance(reset, Tensor):
        return torch.where(spikes.detach().bool(), reset.to(membrane.dtype), membrane)
    return torch.where(spikes.detach().bool(), torch.full_like(membrane, reset), membrane)


def lif_scan(current: Tensor, state: LIFState, params: LIFParams) -> tuple[Tensor, LIFState]:
    """``lif_step`` over the leading time axis.

    Args:
        current: synaptic currents, shape [T, B, N].
        state: membrane before the first step, shape [B, N].
    Returns:
        spikes of shape [T, B, N] and the state after the last step.
    """
    spikes = []
    for current_t in current:
        spikes_t, state = lif_step(current_t, state, params)
        spikes.append(spikes_t)
    return torch.stack(spikes), state
