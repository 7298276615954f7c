"""BRF (``spikekit.dynamics.brf``) as compiled rows for the generic kernels (``spikekit.kernels.neurons``).

Constants [5, N]: omega, b_offset, threshold, dt, refractory_decay. State [3, N]: u, v, q. Saved per step [3, N]:
u[t], v[t] and q[t-1], from which the step's spike follows exactly, and with the previous step's row (u[t-1],
v[t-1]; 0 at t = 0) everything the adjoint reads. Forward arithmetic is the reference's, in its order. The adjoint,
with g_u, g_v, g_q the state's gradients from step t+1, x = u[t] - threshold - q[t-1], h = f'(x), b the step's
damping and p the divergence boundary:

    g_x        = (g_S + g_q) * h                   # q[t] = decay q[t-1] + S[t]
    g_u'       = g_u + g_x                         # u[t]'s whole gradient
    g_b        = dt (g_u' u[t-1] + g_v v[t-1])     # b = p - b_offset - q[t-1]
    g_I        = dt g_u'
    g_u[t-1]   = g_u' (1 + dt b) + g_v dt omega
    g_v[t-1]   = g_v (1 + dt b) - g_u' dt omega
    g_q[t-1]   = decay g_q - g_x - g_b
    g_omega   += dt (g_v u[t-1] - g_u' v[t-1]) + g_b dp/domega,   dp/domega = -dt omega / sqrt(1 - (dt omega)^2)
    g_b_offset -= g_b,   g_threshold -= g_x,   g_decay += g_q q[t-1]
    g_dt      += g_u' (u[t] - u[t-1]) / dt + g_v (v[t] - v[t-1]) / dt + g_b dp/ddt,
                 dp/ddt = -omega^2 / sqrt(1 - (dt omega)^2) - p / dt
"""

from __future__ import annotations

import math

import numba

from spikekit.dynamics.surrogate import derivative_row

SHAPE = (5, 3, 3)  # constants P, state S, saved rows K
FACTORS = 4  # rows ``reciprocals`` writes after the P constants (``neurons.prepared``)


@numba.njit(inline="always")
def forward_row(consts, state, current, saved, spikes):
    """One step over a row of N neurons (shapes in the module docstring); state updated in place, in the
    reference's order of operations (``dynamics.brf.brf_step``)."""
    omega, b_offset, threshold, dt, decay = consts[0], consts[1], consts[2], consts[3], consts[4]
    zero, one = current.dtype.type(0), current.dtype.type(1)
    for j in range(current.shape[0]):
        u, v, q = state[0, j], state[1, j], state[2, j]
        turn = dt[j] * omega[j]
        damping = (math.sqrt(one - turn * turn) - one) / dt[j] - b_offset[j] - q
        new_u = u + dt[j] * (damping * u - omega[j] * v + current[j])
        new_v = v + dt[j] * (omega[j] * u + damping * v)
        fired = new_u - threshold[j] - q >= zero
        spiked = one if fired else zero
        saved[0, j], saved[1, j], saved[2, j] = new_u, new_v, q
        state[0, j], state[1, j], state[2, j] = new_u, new_v, decay[j] * q + spiked
        spikes[j] = spiked


@numba.njit(inline="always")
def reciprocals(consts, inverse):
    """inverse [4, N] <- p (the divergence boundary), dp/domega, dp/ddt, 1/dt: made once per kernel call, not per
    step (a square root and three divisions a neuron)."""
    omega, dt = consts[0], consts[3]
    one = consts.dtype.type(1)
    for j in range(consts.shape[1]):
        turn = dt[j] * omega[j]
        root = math.sqrt(one - turn * turn)
        boundary = (root - one) / dt[j]
        inverse[0, j] = boundary
        inverse[1, j] = -turn / root
        inverse[2, j] = -omega[j] * omega[j] / root - boundary / dt[j]
        inverse[3, j] = one / dt[j]


@numba.njit(inline="always")
def adjoint_row(consts, inverse, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                grad_current, grad_consts, learn):
    """One step (t) of the adjoint above; grad_state [3, N]: (g_u, g_v, g_q) at t on entry, at t-1 on exit;
    inverse: ``reciprocals``. With ``learn``, grad_consts [5, N] accumulates the constants' terms; x: the step's
    ``margin_row`` on entry; h: a scratch row [N]."""
    omega, b_offset, dt, decay = consts[0], consts[1], consts[3], consts[4]
    boundary, d_omega, d_dt, inv_dt = inverse[0], inverse[1], inverse[2], inverse[3]
    zero, one = x.dtype.type(0), x.dtype.type(1)
    derivative_row(surrogate, x, zero, slope, h)
    for j in range(x.shape[0]):
        u_prev = zero if first else saved_prev[0, j]
        v_prev = zero if first else saved_prev[1, j]
        q_prev = saved[2, j]
        g_u, g_v, g_q = grad_state[0, j], grad_state[1, j], grad_state[2, j]
        g_x = (grad_spikes[j] + g_q) * h[j]
        g_un = g_u + g_x
        g_b = dt[j] * (g_un * u_prev + g_v * v_prev)
        keep = one + dt[j] * (boundary[j] - b_offset[j] - q_prev)
        turn = dt[j] * omega[j]
        grad_current[j] = dt[j] * g_un
        grad_state[0, j] = g_un * keep + g_v * turn
        grad_state[1, j] = g_v * keep - g_un * turn
        grad_state[2, j] = decay[j] * g_q - g_x - g_b
        if learn:
            grad_consts[0, j] += dt[j] * (g_v * u_prev - g_un * v_prev) + g_b * d_omega[j]
            grad_consts[1, j] -= g_b
            grad_consts[2, j] -= g_x
            grad_consts[3, j] += (g_un * (saved[0, j] - u_prev) + g_v * (saved[1, j] - v_prev)) * inv_dt[j] \
                + g_b * d_dt[j]
            grad_consts[4, j] += g_q * q_prev


@numba.njit(inline="always")
def margin_row(consts, saved, x):
    """x = u[t] - threshold - q[t-1], in the forward's order: each neuron fired iff x >= 0."""
    threshold = consts[2]
    for j in range(x.shape[0]):
        x[j] = saved[0, j] - threshold[j] - saved[2, j]
