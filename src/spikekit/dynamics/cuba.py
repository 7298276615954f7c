"""Current-based LIF (CubaLIF): a first-order synapse low-pass filters the input before the membrane.

With synaptic current ``J`` (the filtered input), membrane ``V`` and time constants in time steps, one step is

    J[t]     = J[t-1] + (I[t] - J[t-1]) / tau_syn    # the synapse leaks towards the input current I
    V_pre[t] = V[t-1] + (J[t] - V[t-1]) / tau        # the membrane leaks towards J, as LIF towards I
    S[t]     = 1 if V_pre[t] >= threshold else 0     # fire
    V[t]     = reset if S[t] else V_pre[t]           # reset (detached decision, as LIF)

A spike into the synapse thus reaches the membrane spread over ~tau_syn steps (NIR's ``CubaLIF`` with
``r = 1``, ``v_leak = 0``; snnTorch's ``Synaptic``). ``tau_syn`` -> 1 is LIF.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from spikekit.dynamics.lif import check_common, check_range, reset_where
from spikekit.dynamics.surrogate import spike


class CubaLIFParams(NamedTuple):
    """Constants of a CubaLIF layer; the numeric ones are floats or tensors broadcastable to the neurons."""

    tau: float | Tensor = 2.0  # membrane time constant, in time steps (> 1), as LIF's
    threshold: float | Tensor = 1.0
    reset: float | Tensor = 0.0
    # Synaptic time constant in steps (> 1): 2 steps, as the membrane's, keeps a T=25 presentation's response
    # as quick as LIF's while smoothing a Poisson input over two steps.
    tau_syn: float | Tensor = 2.0
    surrogate: str = "fast_sigmoid"
    slope: float = 5.0


class CubaLIFState(NamedTuple):
    synaptic: Tensor  # [B, N], J, in units of current
    membrane: Tensor  # [B, N], V after the reset


def check_cuba(params: CubaLIFParams) -> CubaLIFParams:
    """``ValueError`` naming the first out-of-range field (tensors element by element); else ``params``."""
    check_common(params)
    check_range("tau_syn", params.tau_syn, 1.0)
    return params


def cuba_step(current: Tensor, state: CubaLIFState, params: CubaLIFParams) -> tuple[Tensor, CubaLIFState]:
    """One step of the equations in the module docstring.

    Args:
        current: input current I[t], shape [B, N].
        state: J[t-1] and V[t-1], each [B, N].
    Returns:
        spikes S[t] in {0., 1.} [B, N] and the state (J[t], V[t]).
    """
    synaptic = state.synaptic + (current - state.synaptic) / params.tau_syn
    membrane = state.membrane + (synaptic - state.membrane) / params.tau
    spikes = spike(membrane - params.threshold, params.surrogate, params.slope)
    return spikes, CubaLIFState(synaptic, reset_where(spikes, params.reset, membrane))
