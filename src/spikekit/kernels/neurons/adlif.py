"""adLIF (``spikekit.dynamics.adlif``) as compiled rows for the generic kernels (``spikekit.kernels.neurons``).

Constants [6, N]: tau, threshold, reset, tau_adapt, coupling, jump. State [2, N]: V, w. Saved per step [2, N]:
V_pre and w[t-1], from which the step's spike, V[t] and w[t] follow exactly. Forward arithmetic is the
reference's, in its order. The adjoint, with g_V, g_w the state's gradients from step t+1, x = V_pre -
threshold, h = f'(x), V[t] = reset if S else V_pre, and V[t-1] re-derived from the previous step's saved row
(0 at t = 0):

    g_V'        = g_V + g_w * coupling / tau_adapt       # w[t] = w[t-1] + (a V[t] + b S - w[t-1]) / tau_adapt
    g_x         = (g_S + g_w * jump / tau_adapt) * h
    g_pre       = g_x + (0 if S else g_V')
    g_I         = g_pre / tau,   g_V[t-1] = g_pre * (1 - 1/tau)
    g_w[t-1]    = g_w * (1 - 1/tau_adapt) - g_I        # V_pre = V[t-1] + (I - w[t-1] - V[t-1]) / tau
    g_tau      += -g_pre * (V_pre - V[t-1]) / tau,   g_tau_adapt += -g_w * (w[t] - w[t-1]) / tau_adapt
    g_threshold += -g_x,   g_reset += g_V' if S else 0
    g_coupling  += g_w * V[t] / tau_adapt,   g_jump += g_w * S / tau_adapt
"""

from __future__ import annotations

import numba

from spikekit.dynamics.surrogate import derivative_row
from spikekit.kernels.neurons import alif, lif

SHAPE = (6, 2, 2)  # constants P, state S, saved rows K
FACTORS = 4  # rows ``reciprocals`` writes after the P constants (``neurons.prepared``)


@numba.njit(inline="always")
def forward_row(consts, state, current, saved, spikes):
    """One step over a row of N neurons (shapes in the module docstring); state updated in place.

    Separate loops, as ALIF's (``alif.forward_row`` says why a loop reading one state row while writing another
    ran scalar): I - w into ``spikes``, LIF's row on it (consts' first three rows are LIF's, state[0] and saved[0]
    its V and V_pre, as CubaLIF's reuse), then w's, which reads V[t] and the spikes LIF's row wrote."""
    tau_adapt, coupling, jump = consts[3], consts[4], consts[5]
    membrane, adaptation, before = state[0], state[1], saved[1]
    for j in range(current.shape[0]):
        spikes[j] = current[j] - adaptation[j]
    lif.forward_row(consts, state, spikes, saved, spikes)  # LIF's row on I - w: V (state[0]), V_pre (saved[0])
    for j in range(current.shape[0]):
        w = adaptation[j]
        before[j] = w
        adaptation[j] = w + (coupling[j] * membrane[j] + jump[j] * spikes[j] - w) / tau_adapt[j]


# inverse [4, N] <- 1/tau, 1 - 1/tau, 1/tau_adapt, 1 - 1/tau_adapt: ALIF's, whose constants sit in the same rows
reciprocals = alif.reciprocals


@numba.njit(inline="always")
def adjoint_row(consts, inverse, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                grad_current, grad_consts, learn):
    """One step (t) of the adjoint above; grad_state [2, N]: (g_V, g_w) at t on entry, at t-1 on exit; inverse:
    ``reciprocals``. With ``learn``, grad_consts [6, N] accumulates the constants' terms, in a loop of its own (as
    LIF's); x: the step's ``margin_row`` on entry; h: a scratch row [N]."""
    threshold, reset, coupling, jump = consts[1], consts[2], consts[4], consts[5]
    inv_tau, decay, inv_adapt, decay_adapt = inverse[0], inverse[1], inverse[2], inverse[3]
    pre, before, grad_membrane, grad_adaptation = saved[0], saved[1], grad_state[0], grad_state[1]
    zero, one = pre.dtype.type(0), pre.dtype.type(1)
    derivative_row(surrogate, x, zero, slope, h)
    if learn:
        for j in range(pre.shape[0]):
            fired = x[j] >= zero
            spiked = one if fired else zero
            g_w = grad_adaptation[j]
            g_v = grad_membrane[j] + g_w * coupling[j] * inv_adapt[j]
            g_x = (grad_spikes[j] + g_w * jump[j] * inv_adapt[j]) * h[j]
            g = g_x + (zero if fired else g_v)
            previous = zero
            if not first:
                previous = reset[j] if saved_prev[0, j] - threshold[j] >= zero else saved_prev[0, j]
            after = reset[j] if fired else pre[j]
            adapted = before[j] + (coupling[j] * after + jump[j] * spiked - before[j]) * inv_adapt[j]
            grad_consts[0, j] -= g * (pre[j] - previous) * inv_tau[j]
            grad_consts[1, j] -= g_x
            grad_consts[2, j] += g_v if fired else zero
            grad_consts[3, j] -= g_w * (adapted - before[j]) * inv_adapt[j]
            grad_consts[4, j] += g_w * after * inv_adapt[j]
            grad_consts[5, j] += g_w * spiked * inv_adapt[j]
    # Loops writing at most two rows each, as ALIF's adjoint (which says why): g_x goes through h, g_V' through
    # g_V's own row, g_I through grad_current.
    for j in range(pre.shape[0]):
        g_w = grad_adaptation[j]
        h[j] = (grad_spikes[j] + g_w * jump[j] * inv_adapt[j]) * h[j]
        grad_membrane[j] = grad_membrane[j] + g_w * coupling[j] * inv_adapt[j]
    for j in range(pre.shape[0]):
        g = h[j] + (zero if x[j] >= zero else grad_membrane[j])
        grad_current[j] = g * inv_tau[j]
        grad_membrane[j] = g * decay[j]
    for j in range(pre.shape[0]):
        grad_adaptation[j] = grad_adaptation[j] * decay_adapt[j] - grad_current[j]


@numba.njit(inline="always")
def margin_row(consts, saved, x):
    """x = V_pre - threshold: LIF's (``lif.margin_row``) on the membrane's saved row."""
    lif.margin_row(consts, saved, x)
