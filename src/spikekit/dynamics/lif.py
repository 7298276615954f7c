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

from typing import NamedTuple

import torch
from torch import Tensor

from spikekit.dynamics.surrogate import check_surrogate, spike


class LIFParams(NamedTuple):
    tau: float = 2.0  # membrane time constant, in time steps (> 1; 1 would forget everything each step)
    threshold: float = 1.0  # membrane value at which a spike is emitted (> 0)
    reset: float = 0.0  # membrane value after a spike (< threshold)
    surrogate: str = "fast_sigmoid"  # a key of spikekit.dynamics.surrogate.SURROGATES
    slope: float = 5.0  # surrogate sharpness, in inverse membrane units; 5 learns better than 25 here (README)


class LIFState(NamedTuple):
    membrane: Tensor  # [B, N] (or [B, C, H, W] in a conv layer), dimensionless; spikes at params.threshold


def check_params(params: LIFParams) -> LIFParams:
    """Raise ``ValueError`` naming the first out-of-range field of ``params``; else return it."""
    values = {"tau": params.tau, "threshold": params.threshold, "reset": params.reset, "slope": params.slope}
    for name, value in values.items():
        if not torch.isfinite(torch.tensor(float(value))):
            raise ValueError(f"{name} must be a finite number, got {value}")
    if params.tau <= 1.0:
        raise ValueError(f"tau must be > 1 time step, got {params.tau}")
    if params.threshold <= 0.0:
        raise ValueError(f"threshold must be > 0, got {params.threshold}")
    if params.reset >= params.threshold:
        raise ValueError(f"reset must be below threshold ({params.threshold}), got {params.reset}")
    if params.slope <= 0.0:
        raise ValueError(f"slope must be > 0, got {params.slope}")
    check_surrogate(params.surrogate)
    return params


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
    # Detached reset: the gradient flows through the charge, not through the reset decision.
    membrane = torch.where(spikes.detach().bool(), torch.full_like(membrane, params.reset), membrane)
    return spikes, LIFState(membrane)


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
