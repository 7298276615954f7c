"""Adaptive LIF (ALIF): a LIF neuron whose threshold rises after each of its spikes and decays back.

With membrane ``V``, adaptation ``a`` (a low-pass trace of the neuron's own spikes, dimensionless, in [0, 1)
from rest) and time constants in time steps, one step is

    V_pre[t] = V[t-1] + (I[t] - V[t-1]) / tau                    # charge, as LIF
    S[t]     = 1 if V_pre[t] >= threshold + beta * a[t-1] else 0  # fire against the adapted threshold
    V[t]     = reset if S[t] else V_pre[t]                        # reset (detached decision, as LIF)
    a[t]     = a[t-1] + (S[t] - a[t-1]) / tau_adapt               # adaptation follows the spikes

(Bellec et al. 2018's LSNN neuron in this package's units.) Backward, ``S`` takes the surrogate derivative
of ``V_pre - threshold - beta * a[t-1]``, and the gradient flows from ``a`` back through ``S`` (the spikes'
surrogate) as autograd gives it. ``beta = 0`` is LIF.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from spikekit.dynamics.lif import charge, check_common, check_range, reset_where
from spikekit.dynamics.surrogate import spike


class ALIFParams(NamedTuple):
    """Constants of an ALIF layer; the numeric ones are floats or tensors broadcastable to the neurons."""

    tau: float | Tensor = 2.0  # membrane time constant, in time steps (> 1), as LIF's
    threshold: float | Tensor = 1.0  # the threshold at rest (> 0)
    reset: float | Tensor = 0.0  # membrane after a spike (< threshold)
    # Adaptation time constant in steps (> 1): 20 steps spans most of a T=25 presentation, so a neuron's
    # threshold reads its recent rate; the LSNN papers use 100s of steps for longer sequences.
    tau_adapt: float | Tensor = 20.0
    # Threshold increase per unit of adaptation (>= 0). A neuron firing at rate r settles at a ~ r, i.e. its
    # threshold at 1 + beta * r: 1.0 doubles the threshold of a neuron that fires every step.
    beta: float | Tensor = 1.0
    surrogate: str = "fast_sigmoid"
    slope: float = 5.0


class ALIFState(NamedTuple):
    membrane: Tensor  # [B, N], V after the reset
    adaptation: Tensor  # [B, N], a, dimensionless


def check_alif(params: ALIFParams) -> ALIFParams:
    """``ValueError`` naming the first out-of-range field (tensors element by element); else ``params``."""
    check_common(params)
    check_range("tau_adapt", params.tau_adapt, 1.0)
    check_range("beta", params.beta, 0.0, low_open=False)
    return params


def alif_step(current: Tensor, state: ALIFState, params: ALIFParams) -> tuple[Tensor, ALIFState]:
    """One step of the equations in the module docstring.

    Args:
        current: synaptic current I[t], shape [B, N].
        state: V[t-1] and a[t-1], each [B, N].
    Returns:
        spikes S[t] in {0., 1.} [B, N] and the state (V[t], a[t]).
    """
    membrane = charge(current, state, params)
    spikes = spike(membrane - (params.threshold + params.beta * state.adaptation), params.surrogate, params.slope)
    adaptation = state.adaptation + (spikes - state.adaptation) / params.tau_adapt
    return spikes, ALIFState(reset_where(spikes, params.reset, membrane), adaptation)
