"""adLIF: a LIF neuron with an adaptation current driven by its own membrane and its spikes.

With membrane ``V``, adaptation current ``w`` (in the units of the input current) and time constants in time
steps, one step is

    V_pre[t] = V[t-1] + (I[t] - w[t-1] - V[t-1]) / tau                     # charge towards I - w
    S[t]     = 1 if V_pre[t] >= threshold else 0                           # fire (fixed threshold)
    V[t]     = reset if S[t] else V_pre[t]                                 # reset (detached decision, as LIF)
    w[t]     = w[t-1] + (coupling * V[t] + jump * S[t] - w[t-1]) / tau_adapt   # w follows V and the spikes

The adaptive LIF of Bittar & Garner 2022 (SHD 94.6% with a recurrent network of them) with the ordering of
Baronig et al. 2024's symplectic-Euler form: ``w`` reads the membrane of the same step, which keeps the pair's
subthreshold oscillation stable. ``coupling`` (``a``, dimensionless) feeds the membrane back into ``w``: with
``coupling > 0`` a neuron resonates at a frequency set by ``coupling``, ``tau`` and ``tau_adapt`` rather than
only leaking; ``jump`` (``b``, current per spike) is the spike-triggered part, which lowers the neuron's rate
after it fires as ALIF's threshold rise does (``spikekit.dynamics.alif``). ``coupling = jump = 0`` is LIF.
Backward, ``S`` takes the surrogate derivative of ``V_pre - threshold``; gradients reach ``w`` through
``jump * S`` (the surrogate) and ``coupling * V[t]``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from torch import Tensor

from spikekit.dynamics.lif import check_common, check_range, reset_where
from spikekit.dynamics.surrogate import spike


class AdLIFParams(NamedTuple):
    """Constants of an adLIF layer; the numeric ones are floats or tensors broadcastable to the neurons."""

    tau: float | Tensor = 2.0  # membrane time constant, in time steps (> 1), as LIF's
    threshold: float | Tensor = 1.0  # fixed: adaptation acts through the current w, not the threshold
    reset: float | Tensor = 0.0  # membrane after a spike (< threshold)
    # Adaptation time constant in steps (> 1): 20 steps spans most of a T=25 presentation, as ALIF's; the papers
    # learn it per neuron over tens to hundreds of steps on audio (--learn tau_adapt).
    tau_adapt: float | Tensor = 20.0
    # w's pull towards coupling * V (dimensionless, finite): 0.5 makes a damped resonance of V and w without
    # driving the membrane below rest for long; Bittar & Garner draw it in [-1, 1] and learn it.
    coupling: float | Tensor = 0.5
    # w's rise per spike, in current units (finite): 0.5 of a unit threshold, so a neuron that fires every
    # step settles at w ~ 0.5 + coupling * reset; Bittar & Garner draw it in [0, 2] and learn it.
    jump: float | Tensor = 0.5
    surrogate: str = "fast_sigmoid"
    slope: float = 5.0


class AdLIFState(NamedTuple):
    membrane: Tensor  # [B, N], V after the reset
    adaptation: Tensor  # [B, N], w, in current units


def check_adlif(params: AdLIFParams) -> AdLIFParams:
    """``ValueError`` naming the first out-of-range field (tensors element by element); else ``params``."""
    check_common(params)
    check_range("tau_adapt", params.tau_adapt, 1.0)
    check_range("coupling", params.coupling, -math.inf)
    check_range("jump", params.jump, -math.inf)
    return params


def adlif_step(current: Tensor, state: AdLIFState, params: AdLIFParams) -> tuple[Tensor, AdLIFState]:
    """One step of the equations in the module docstring.

    Args:
        current: synaptic current I[t], shape [B, N].
        state: V[t-1] and w[t-1], each [B, N].
    Returns:
        spikes S[t] in {0., 1.} [B, N] and the state (V[t], w[t]).
    """
    pre = state.membrane + (current - state.adaptation - state.membrane) / params.tau
    spikes = spike(pre - params.threshold, params.surrogate, params.slope)
    membrane = reset_where(spikes, params.reset, pre)
    adaptation = state.adaptation + (params.coupling * membrane + params.jump * spikes - state.adaptation) \
        / params.tau_adapt
    return spikes, AdLIFState(membrane, adaptation)
