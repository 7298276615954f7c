"""CubaLIF (``spikekit.dynamics.cuba``) as compiled rows for the generic kernels (``spikekit.kernels.neurons``).

Constants [4, N]: tau, threshold, reset, tau_syn. State [2, N]: J, V. Saved per step [2, N]: J[t] and V_pre,
from which the step's spike and V[t] follow. Forward arithmetic is the reference's, in its order. The
adjoint, with g_J, g_V the state's gradients from step t+1, h = f'(V_pre - threshold), and J[t-1], V[t-1]
re-derived from the previous step's saved row (0 at t = 0):

    g_pre       = g_S * h + (0 if S else g_V)
    g_J'        = g_J + g_pre / tau                   # V_pre = V[t-1] + (J[t] - V[t-1]) / tau
    g_I         = g_J' / tau_syn,   g_J[t-1] = g_J' * (1 - 1/tau_syn),   g_V[t-1] = g_pre * (1 - 1/tau)
    g_tau      += -g_pre * (V_pre - V[t-1]) / tau,   g_tau_syn += -g_J' * (J[t] - J[t-1]) / tau_syn
    g_threshold += -g_S * h,   g_reset += g_V if S else 0
"""

from __future__ import annotations

import numba

from spikekit.dynamics.surrogate import derivative_row
from spikekit.kernels.neurons import lif

SHAPE = (4, 2, 2)  # constants P, state S, saved rows K
FACTORS = 4  # rows ``reciprocals`` writes after the P constants (``neurons.prepared``)


@numba.njit(inline="always")
def forward_row(consts, state, current, saved, spikes):
    """One step over a row of N neurons (shapes in the module docstring); state updated in place: the synapse
    filters the input into J, then LIF's row (``lif.forward_row``: consts' first three rows are LIF's, in its
    order) charges, fires and resets the membrane on J. J reaches LIF's row through ``spikes`` (which that row
    reads, then overwrites with the spikes): read from J's own row while the membrane's row of the same array
    was written, the loop ran scalar (see ALIF's forward)."""
    tau_syn, synaptic, kept = consts[3], state[0], saved[0]
    for j in range(current.shape[0]):
        i = synaptic[j] + (current[j] - synaptic[j]) / tau_syn[j]
        synaptic[j] = i
        kept[j] = i
        spikes[j] = i
    lif.forward_row(consts, state[1:], spikes, saved[1:], spikes)


@numba.njit(inline="always")
def reciprocals(consts, inverse):
    """inverse [4, N] <- 1/tau, 1 - 1/tau, 1/tau_syn, 1 - 1/tau_syn: the adjoint's factors (``neurons``)."""
    lif.reciprocals(consts, inverse)
    lif.reciprocals(consts[3:], inverse[2:])


@numba.njit(inline="always")
def adjoint_row(consts, inverse, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                grad_current, grad_consts, learn):
    """One step (t) of the adjoint above; grad_state [2, N]: (g_J, g_V) at t on entry, at t-1 on exit; inverse:
    ``reciprocals``. With ``learn``, grad_consts [4, N] accumulates the constants' terms, in a loop of its own (as
    LIF's); x: the step's ``margin_row`` on entry; h: a scratch row [N]."""
    threshold, reset = consts[1], consts[2]
    inv_tau, decay, inv_syn, decay_syn = inverse[0], inverse[1], inverse[2], inverse[3]
    kept, pre, grad_synaptic, grad_membrane = saved[0], saved[1], grad_state[0], grad_state[1]
    zero = pre.dtype.type(0)
    derivative_row(surrogate, x, zero, slope, h)
    if learn:
        for j in range(pre.shape[0]):
            fired = x[j] >= zero
            surrogate_term = grad_spikes[j] * h[j]
            g = surrogate_term + (zero if fired else grad_membrane[j])
            previous, synaptic_before = zero, zero
            if not first:
                synaptic_before = saved_prev[0, j]
                previous = reset[j] if saved_prev[1, j] - threshold[j] >= zero else saved_prev[1, j]
            g_j = grad_synaptic[j] + g * inv_tau[j]
            grad_consts[0, j] -= g * (pre[j] - previous) * inv_tau[j]
            grad_consts[1, j] -= surrogate_term
            grad_consts[2, j] += grad_membrane[j] if fired else zero
            grad_consts[3, j] -= g_j * (kept[j] - synaptic_before) * inv_syn[j]
    # Two loops, each writing two rows (g_pre goes through h), as ALIF's adjoint (which says why).
    for j in range(pre.shape[0]):
        g = grad_spikes[j] * h[j] + (zero if x[j] >= zero else grad_membrane[j])
        h[j] = g
        grad_membrane[j] = g * decay[j]
    for j in range(pre.shape[0]):
        g_j = grad_synaptic[j] + h[j] * inv_tau[j]
        grad_current[j] = g_j * inv_syn[j]
        grad_synaptic[j] = g_j * decay_syn[j]


@numba.njit(inline="always")
def margin_row(consts, saved, x):
    """x = V_pre - threshold: LIF's (``lif.margin_row``) on the membrane's saved row."""
    lif.margin_row(consts, saved[1:], x)
