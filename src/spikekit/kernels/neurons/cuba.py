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


@numba.njit(inline="always")
def forward_row(consts, state, current, saved, spikes):
    """One step over a row of N neurons (shapes in the module docstring); state updated in place: the synapse
    filters the input into J, then LIF's row (``lif.forward_row``: consts' first three rows are LIF's, in its
    order) charges, fires and resets the membrane on J. Two loops, each writing at most three rows (see ALIF's)."""
    tau_syn, synaptic, kept = consts[3], state[0], saved[0]
    for j in range(current.shape[0]):
        i = synaptic[j] + (current[j] - synaptic[j]) / tau_syn[j]
        synaptic[j] = i
        kept[j] = i
    lif.forward_row(consts, state[1:], synaptic, saved[1:], spikes)


@numba.njit(inline="always")
def adjoint_row(consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state, grad_current,
                grad_consts, learn):
    """One step (t) of the adjoint above; grad_state [2, N]: (g_J, g_V) at t on entry, at t-1 on exit. With
    ``learn``, grad_consts [4, N] accumulates the constants' terms, in a loop of its own (as LIF's); x, h:
    scratch rows [N]."""
    tau, threshold, reset, tau_syn = consts[0], consts[1], consts[2], consts[3]
    kept, pre, grad_synaptic, grad_membrane = saved[0], saved[1], grad_state[0], grad_state[1]
    zero, one = pre.dtype.type(0), pre.dtype.type(1)
    for j in range(pre.shape[0]):
        x[j] = pre[j] - threshold[j]
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
            g_j = grad_synaptic[j] + g / tau[j]
            grad_consts[0, j] -= g * (pre[j] - previous) / tau[j]
            grad_consts[1, j] -= surrogate_term
            grad_consts[2, j] += grad_membrane[j] if fired else zero
            grad_consts[3, j] -= g_j * (kept[j] - synaptic_before) / tau_syn[j]
    for j in range(pre.shape[0]):
        g = grad_spikes[j] * h[j] + (zero if x[j] >= zero else grad_membrane[j])
        g_j = grad_synaptic[j] + g / tau[j]
        grad_current[j] = g_j / tau_syn[j]
        grad_synaptic[j] = g_j * (one - one / tau_syn[j])
        grad_membrane[j] = g * (one - one / tau[j])


@numba.njit(inline="always")
def fired_row(consts, saved, spikes):
    """The step's spikes (1. or 0.) re-derived from its saved row: V_pre >= threshold, LIF's rule on the
    membrane's saved row (``lif.fired_row``)."""
    lif.fired_row(consts, saved[1:], spikes)
