"""LIF (``spikekit.dynamics.lif``) as compiled rows for the generic kernels (``spikekit.kernels.neurons``).

Constants ``consts`` [3, N]: tau, threshold, reset (``dynamics.neuron.pack``). State [1, N]: V. Saved per
step [1, N]: V_pre, from which the step's spike and V[t] follow (``V_pre >= threshold``). Forward arithmetic
is the reference's, in its order (bit-identical spikes). The adjoint, with g_V the membrane's gradient from
step t+1, h = f'(V_pre - threshold) and V[t-1] re-derived from the previous step's V_pre (0 at t = 0):

    g_pre       = g_S * h + (0 if S else g_V)     # the detached reset blocks g_V
    g_I         = g_pre / tau
    g_V[t-1]    = g_pre * (1 - 1/tau)
    g_tau      += -g_pre * (V_pre - V[t-1]) / tau  # d V_pre / d tau = -(I - V[t-1]) / tau^2
    g_threshold += -g_S * h
    g_reset    += g_V if S else 0
"""

from __future__ import annotations

import numba

from spikekit.dynamics.surrogate import derivative_row

SHAPE = (3, 1, 1)  # constants P, state S, saved rows K
FACTORS = 2  # rows ``reciprocals`` writes after the P constants (``neurons.prepared``)


@numba.njit(inline="always")
def forward_row(consts, state, current, saved, spikes):
    """One step over a row of N neurons (shapes in the module docstring); state updated in place."""
    tau, threshold, reset = consts[0], consts[1], consts[2]
    membrane, pre = state[0], saved[0]
    zero, one = spikes.dtype.type(0), spikes.dtype.type(1)
    for j in range(current.shape[0]):
        v = membrane[j] + (current[j] - membrane[j]) / tau[j]
        pre[j] = v
        fired = v - threshold[j] >= zero
        spikes[j] = one if fired else zero
        membrane[j] = reset[j] if fired else v


@numba.njit(inline="always")
def reciprocals(consts, inverse):
    """inverse [2, N] <- 1/tau, 1 - 1/tau: the adjoint's factors, made once per kernel call (see ``neurons``)."""
    tau = consts[0]
    one = tau.dtype.type(1)
    for j in range(tau.shape[0]):
        inverse[0, j] = one / tau[j]
        inverse[1, j] = one - inverse[0, j]


@numba.njit(inline="always")
def adjoint_row(consts, inverse, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                grad_current, grad_consts, learn):
    """One step (t) of the adjoint above; grad_state [1, N] holds g_V[t] on entry and g_V[t-1] on exit; inverse:
    ``reciprocals``. With ``learn``, grad_consts [3, N] accumulates the constants' terms, in a loop of its own so
    that the main loop stays as lean as when nothing is learned; x: the step's ``margin_row`` on entry; h: a
    scratch row [N]."""
    threshold, reset = consts[1], consts[2]
    inv_tau, decay = inverse[0], inverse[1]
    pre, grad_membrane = saved[0], grad_state[0]
    zero = pre.dtype.type(0)
    derivative_row(surrogate, x, zero, slope, h)
    if learn:
        pre_prev = saved_prev[0]
        for j in range(pre.shape[0]):
            fired = x[j] >= zero
            surrogate_term = grad_spikes[j] * h[j]
            g = surrogate_term + (zero if fired else grad_membrane[j])
            previous = zero
            if not first:
                previous = reset[j] if pre_prev[j] - threshold[j] >= zero else pre_prev[j]
            grad_consts[0, j] -= g * (pre[j] - previous) * inv_tau[j]
            grad_consts[1, j] -= surrogate_term
            grad_consts[2, j] += grad_membrane[j] if fired else zero
    for j in range(pre.shape[0]):
        g = grad_spikes[j] * h[j] + (zero if x[j] >= zero else grad_membrane[j])
        grad_current[j] = g * inv_tau[j]
        grad_membrane[j] = g * decay[j]


@numba.njit(inline="always")
def margin_row(consts, saved, x):
    """x = V_pre - threshold, from the step's saved row: the neuron spiked iff x >= 0 (the forward's test, to
    the bit), and the surrogate's argument."""
    threshold, pre = consts[1], saved[0]
    for j in range(pre.shape[0]):
        x[j] = pre[j] - threshold[j]
