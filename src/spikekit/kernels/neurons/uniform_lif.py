"""LIF with one value per constant (the seed's LIF): ``lif_fused``'s scalar rows behind the rows interface.

Constants [3, 1] (tau, threshold, reset: read at column 0 only, ``scan.kernel_constants``); state [1, N]: V;
saved [1, N]: V_pre. Same arithmetic as ``lif.py``'s rows, so the same bits; scalars let LLVM keep the three
constants in registers. Nothing is learned here (plain LIF), so the adjoint has no constants' gradient, and the
margin is left to the adjoint, which reads V_pre itself (``neurons.margin`` does nothing for this code).
"""

from __future__ import annotations

import numba

from spikekit.dynamics.surrogate import derivative_row
from spikekit.kernels.lif_fused import adjoint_row as lif_adjoint_row
from spikekit.kernels.lif_fused import charge_and_fire_row

SHAPE = (3, 1, 1)  # constants P, state S, saved rows K
FACTORS = 0  # rows ``reciprocals`` writes after the P constants (``neurons.prepared``)


@numba.njit(inline="always")
def forward_row(consts, state, current, saved, spikes):
    """One step over a row of N neurons; state updated in place."""
    charge_and_fire_row(current, state[0], consts[0, 0], consts[1, 0], consts[2, 0], saved[0], spikes)


@numba.njit(inline="always")
def reciprocals(consts, inverse):
    """Nothing: the scalar adjoint divides once per row, not per neuron."""


@numba.njit(inline="always")
def margin_row(consts, saved, x):
    """Nothing: the adjoint reads V_pre (saved[0]) against the threshold itself."""


@numba.njit(inline="always")
def adjoint_row(consts, inverse, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                grad_current, grad_consts, learn):
    """One step of LIF's adjoint (``lif_fused``), g_V[t] -> g_V[t-1] in grad_state[0]; h a scratch row."""
    derivative_row(surrogate, saved[0], consts[1, 0], slope, h)
    lif_adjoint_row(grad_spikes, saved[0], h, consts[1, 0], consts[0, 0], grad_state[0], grad_current)
