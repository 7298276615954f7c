"""BRF: the balanced resonate-and-fire neuron (Higuchi, Kairat, Bohte & Otte 2024), a damped oscillator that fires.

A resonate-and-fire neuron's membrane is a complex number ``u + i v`` that rotates at angular frequency ``omega``
while it decays, driven by the real input current (Izhikevich 2001). With the step ``dt`` (in the model's time
units: omega is in radians per unit, so one step turns the membrane by ``dt * omega`` radians), the refractory
variable ``q`` and Euler's step, one step is

    p        = (-1 + sqrt(1 - (dt * omega)^2)) / dt          # the divergence boundary: |1 + dt (p + i omega)| = 1
    b[t]     = p - b_offset - q[t-1]                         # damping: never above the boundary, more after spikes
    u[t]     = u[t-1] + dt * (b[t] * u[t-1] - omega * v[t-1] + I[t])
    v[t]     = v[t-1] + dt * (omega * u[t-1] + b[t] * v[t-1])
    S[t]     = 1 if u[t] - threshold - q[t-1] >= 0 else 0    # fire; q raises the threshold after spikes
    q[t]     = refractory_decay * q[t-1] + S[t]

The three changes from the plain RF neuron, each from the paper: the **refractory** ``q`` (a spike raises the
threshold, decaying by ``refractory_decay`` a step), the **smooth reset** (no jump of ``u``: ``q`` adds damping, so
the oscillation dies out after a spike instead of being reset), and the **divergence boundary** ``p``: Euler's step
of an undamped oscillator grows by ``|1 + i dt omega| > 1`` a step, and ``b <= p`` keeps every neuron's
amplitude from growing whatever it learns (``b_offset >= 0``). The paper's networks (one recurrent layer of 256,
S-MNIST 99.1%, PS-MNIST 95.2%, SHD 92.7%) train in far fewer epochs than ALIF ones, with few spikes.

Units: ``dt`` is the step in the model's time units (the paper's 0.01), ``omega`` radians per time unit (the
paper draws it per neuron, uniform over [15, 50] for S-MNIST: periods of 13 to 42 steps), ``b_offset`` per time
unit (>= 0; the paper draws it over [0.1, 1]), ``threshold`` and ``q`` in units of ``u``. The input is scaled by
``dt``: a current held for 1/dt steps moves ``u`` by about the current.

Backward, ``S`` takes the surrogate derivative of ``u[t] - threshold - q[t-1]``; gradients flow through every
path (``u``, ``v``, ``q`` and the damping it sets), as the paper's. No state is reset, so the neuron is smooth
below threshold in every constant.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from spikekit.dynamics.lif import check_range
from spikekit.dynamics.surrogate import check_surrogate, spike


class BRFParams(NamedTuple):
    """Constants of a BRF layer; the numeric ones are floats or tensors broadcastable to the neurons."""

    # Angular frequency, radians per time unit (> 0, dt * omega < 1): 10 turns 0.1 rad a step (a period of 63 steps)
    # with dt 0.01; the paper draws it per neuron over a range (spikekit.config: a (low, high) pair).
    omega: float | Tensor = 10.0
    # Damping beyond the divergence boundary, per time unit (>= 0): 1 halves an undriven amplitude in ~70 steps.
    b_offset: float | Tensor = 1.0
    threshold: float | Tensor = 1.0  # u must pass threshold + q to fire (> 0)
    dt: float | Tensor = 0.01  # the step, in the model's time units (> 0): the paper's
    refractory_decay: float | Tensor = 0.9  # q's factor a step (in [0, 1)): the paper's 0.9, ~10 steps of memory
    surrogate: str = "fast_sigmoid"
    slope: float = 5.0


class BRFState(NamedTuple):
    membrane: Tensor  # [B, N], u: the real part, which fires
    quadrature: Tensor  # [B, N], v: the imaginary part
    refractory: Tensor  # [B, N], q


def check_brf(params: BRFParams) -> BRFParams:
    """``ValueError`` naming the first out-of-range field (tensors element by element); else ``params``."""
    check_range("omega", params.omega, 0.0)
    check_range("b_offset", params.b_offset, 0.0, low_open=False)
    check_range("threshold", params.threshold, 0.0)
    check_range("dt", params.dt, 0.0)
    turn = torch.as_tensor(params.dt, dtype=torch.float64) * torch.as_tensor(params.omega, dtype=torch.float64)
    if not bool((turn < 1).all()):
        raise ValueError(f"dt * omega must be < 1 (one step turns the membrane by less than a radian), got up to "
                         f"{float(turn.max()):g}")
    check_range("refractory_decay", params.refractory_decay, 0.0, 1.0, low_open=False)
    check_range("slope", params.slope, 0.0)
    check_surrogate(params.surrogate)
    return params


# 1 - (dt omega)^2 is taken as at least this: a learned omega is not kept below 1/dt (the checks run when a layer is
# built), and past it the square root would turn the membrane, then every weight, to NaN; inside the valid range
# (the presets: 1 - (dt omega)^2 >= 0.27) the floor changes nothing. The compiled rows apply the same floor.
ROOT_FLOOR = 1e-6


def divergence_boundary(omega: Tensor, dt: Tensor) -> Tensor:
    """p(omega) = (-1 + sqrt(1 - (dt omega)^2)) / dt: the damping at which Euler's step of the oscillator keeps
    its amplitude (``|1 + dt (p + i omega)| = 1``); <= 0, and 0 only at omega = 0 (``ROOT_FLOOR`` bounds the
    square root's argument from below).

    >>> omega, dt = torch.tensor(10.0, dtype=torch.float64), torch.tensor(0.01, dtype=torch.float64)
    >>> round(float(divergence_boundary(omega, dt)), 6)   # about -dt omega^2 / 2 for small dt omega
    -0.501256
    """
    turn = dt * omega
    return (torch.sqrt(torch.clamp(1 - turn * turn, min=ROOT_FLOOR)) - 1) / dt


def brf_step(current: Tensor, state: BRFState, params: BRFParams) -> tuple[Tensor, BRFState]:
    """One step of the equations in the module docstring, in the current's dtype (the compiled rows,
    ``spikekit.kernels.neurons.brf``, repeat this arithmetic in this order, to the bit).

    Args:
        current: synaptic current I[t], shape [B, N].
        state: u[t-1], v[t-1] and q[t-1], each [B, N].
    Returns:
        spikes S[t] in {0., 1.} [B, N] and the state (u[t], v[t], q[t]).
    """
    def constant(value: float | Tensor) -> Tensor:
        return torch.as_tensor(value, dtype=current.dtype, device=current.device)
    omega, dt = constant(params.omega), constant(params.dt)
    u, v, q = state
    damping = divergence_boundary(omega, dt) - constant(params.b_offset) - q
    membrane = u + dt * (damping * u - omega * v + current)
    quadrature = v + dt * (omega * u + damping * v)
    spikes = spike(membrane - constant(params.threshold) - q, params.surrogate, params.slope)
    refractory = constant(params.refractory_decay) * q + spikes
    return spikes, BRFState(membrane, quadrature, refractory)


def period_steps(omega: float, dt: float = 0.01) -> float:
    """Steps per turn of an undriven membrane, 2 pi / (dt omega) (Euler's rotation is dt omega a step, to first
    order). ``period_steps(10)`` is 62.8: S-MNIST's range [15, 50] spans periods of 12.6 to 41.9 steps.

    >>> round(period_steps(50.0), 1), round(period_steps(15.0), 1)
    (12.6, 41.9)
    """
    return 2 * math.pi / (dt * omega)
