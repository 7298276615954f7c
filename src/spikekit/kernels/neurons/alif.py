"""ALIF (``spikekit.dynamics.alif``) as compiled rows for the generic kernels (``spikekit.kernels.neurons``).

Constants [5, N]: tau, threshold, reset, tau_adapt, beta. State [2, N]: V, a. Saved per step [2, N]: V_pre and
a[t-1], from which the step's spike, V[t] and a[t] follow exactly. Forward arithmetic is the reference's, in
its order. The adjoint, with g_V, g_a the state's gradients from step t+1, x = V_pre - threshold - beta a[t-1],
h = f'(x), and V[t-1] re-derived from the previous step's saved row (0 at t = 0):

    g_S'        = g_S + g_a / tau_adapt             # a[t] = a[t-1] + (S - a[t-1]) / tau_adapt
    g_x         = g_S' * h
    g_pre       = g_x + (0 if S else g_V)
    g_I         = g_pre / tau,   g_V[t-1] = g_pre * (1 - 1/tau)
    g_a[t-1]    = g_a * (1 - 1/tau_adapt) - g_x * beta
    g_tau      += -g_pre * (V_pre - V[t-1]) / tau,   g_tau_adapt += -g_a * (a[t] - a[t-1]) / tau_adapt
    g_threshold += -g_x,   g_beta += -g_x * a[t-1],   g_reset += g_V if S else 0
"""

from __future__ import annotations

import numba

from spikekit.dynamics.surrogate import derivative_row
from spikekit.kernels.neurons import lif

SHAPE = (5, 2, 2)  # constants P, state S, saved rows K
FACTORS = 4  # rows ``reciprocals`` writes after the P constants (``neurons.prepared``)


@numba.njit(inline="always")
def forward_row(consts, state, current, saved, spikes):
    """One step over a row of N neurons (shapes in the module docstring); state updated in place.

    Three loops, none reading one state row while writing another: the effective threshold goes through
    ``spikes`` first. Written as one loop (five rows written), or as two whose first read a while writing V (two
    rows of one array), LLVM could not rule out their overlap and ran the loop scalar, its branch on the spike
    mispredicting (1.41 vs 0.26 ms for LIF's forward for T=25, B=128, N=128 with ~40% firing)."""
    tau, threshold, reset, tau_adapt, beta = consts[0], consts[1], consts[2], consts[3], consts[4]
    membrane, adaptation, pre, before = state[0], state[1], saved[0], saved[1]
    zero, one = spikes.dtype.type(0), spikes.dtype.type(1)
    for j in range(current.shape[0]):
        spikes[j] = threshold[j] + beta[j] * adaptation[j]
    for j in range(current.shape[0]):
        v = membrane[j] + (current[j] - membrane[j]) / tau[j]
        pre[j] = v
        fired = v - spikes[j] >= zero
        spikes[j] = one if fired else zero
        membrane[j] = reset[j] if fired else v
    for j in range(current.shape[0]):
        a = adaptation[j]
        before[j] = a
        adaptation[j] = a + (spikes[j] - a) / tau_adapt[j]


@numba.njit(inline="always")
def reciprocals(consts, inverse):
    """inverse [4, N] <- 1/tau, 1 - 1/tau, 1/tau_adapt, 1 - 1/tau_adapt: the adjoint's factors (``neurons``)."""
    lif.reciprocals(consts, inverse)
    lif.reciprocals(consts[3:], inverse[2:])


@numba.njit(inline="always")
def adjoint_row(consts, inverse, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                grad_current, grad_consts, learn):
    """One step (t) of the adjoint above; grad_state [2, N]: (g_V, g_a) at t on entry, at t-1 on exit; inverse:
    ``reciprocals``. With ``learn``, grad_consts [5, N] accumulates the constants' terms, in a loop of its own (as
    LIF's); x: the step's ``margin_row`` on entry; h: a scratch row [N]."""
    threshold, reset, beta = consts[1], consts[2], consts[4]
    inv_tau, decay, inv_adapt, decay_adapt = inverse[0], inverse[1], inverse[2], inverse[3]
    pre, before, grad_membrane, grad_adaptation = saved[0], saved[1], grad_state[0], grad_state[1]
    zero, one = pre.dtype.type(0), pre.dtype.type(1)
    derivative_row(surrogate, x, zero, slope, h)
    if learn:
        for j in range(pre.shape[0]):
            fired = x[j] >= zero
            g_a = grad_adaptation[j]
            g_x = (grad_spikes[j] + g_a * inv_adapt[j]) * h[j]
            g = g_x + (zero if fired else grad_membrane[j])
            previous = zero
            if not first:
                fired_before = saved_prev[0, j] - (threshold[j] + beta[j] * saved_prev[1, j]) >= zero
                previous = reset[j] if fired_before else saved_prev[0, j]
            after = before[j] + ((one if fired else zero) - before[j]) * inv_adapt[j]
            grad_consts[0, j] -= g * (pre[j] - previous) * inv_tau[j]
            grad_consts[1, j] -= g_x
            grad_consts[2, j] += grad_membrane[j] if fired else zero
            grad_consts[3, j] -= g_a * (after - before[j]) * inv_adapt[j]
            grad_consts[4, j] -= g_x * before[j]
    # Two loops, each writing two rows (g_x goes through h): one loop writing all four ran scalar, its branch on
    # the spike mispredicted (2.0 vs 1.1 ms for a T=25 batch's backward with 40% of the neurons firing).
    for j in range(pre.shape[0]):
        g_a = grad_adaptation[j]
        g_x = (grad_spikes[j] + g_a * inv_adapt[j]) * h[j]
        h[j] = g_x
        grad_adaptation[j] = g_a * decay_adapt[j] - g_x * beta[j]
    for j in range(pre.shape[0]):
        g = h[j] + (zero if x[j] >= zero else grad_membrane[j])
        grad_current[j] = g * inv_tau[j]
        grad_membrane[j] = g * decay[j]


@numba.njit(inline="always")
def margin_row(consts, saved, x):
    """x = V_pre - (threshold + beta a[t-1]), from the step's saved rows: the neuron spiked iff x >= 0 (the
    forward's test, to the bit), and the surrogate's argument."""
    threshold, beta, pre, before = consts[1], consts[4], saved[0], saved[1]
    for j in range(pre.shape[0]):
        x[j] = pre[j] - (threshold[j] + beta[j] * before[j])
