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

from spikekit.dynamics.brf import ROOT_FLOOR
from spikekit.dynamics.surrogate import derivative_row

SHAPE = (5, 3, 3)  # constants P, state S, saved rows K
FACTORS = 4  # rows ``reciprocals`` writes after the P constants (``neurons.prepared``)


@numba.njit(inline="always")
def forward_row(consts, state, current, saved, spikes):
    """One step over a row of N neurons (shapes in the module docstring); state updated in place, in the
    reference's order of operations (``dynamics.brf.brf_step``). The divergence boundary p comes from the prepared
    consts (``reciprocals``), made once per call with the reference's operations (the same bits).

    Loops that each write one row and read no other row of an array they write, as ALIF's (``alif.forward_row``
    says why): the new u, v and q go to the saved rows first, then to the state. Written as one loop (seven rows
    written), it ran scalar: the forward of S-MNIST's 1-256rb-10 (T = 784, batch 32, 6% firing) took 59 ms."""
    omega, b_offset, threshold, dt, decay = consts[0], consts[1], consts[2], consts[3], consts[4]
    boundary = consts[SHAPE[0]]
    membrane, quadrature, refractory = state[0], state[1], state[2]
    new_u, new_v, before = saved[0], saved[1], saved[2]
    zero, one = current.dtype.type(0), current.dtype.type(1)
    for j in range(current.shape[0]):
        before[j] = refractory[j]
    for j in range(current.shape[0]):
        u, v = membrane[j], quadrature[j]
        damping = boundary[j] - b_offset[j] - before[j]
        new_u[j] = u + dt[j] * (damping * u - omega[j] * v + current[j])
    for j in range(current.shape[0]):
        u, v = membrane[j], quadrature[j]
        damping = boundary[j] - b_offset[j] - before[j]
        new_v[j] = v + dt[j] * (omega[j] * u + damping * v)
    for j in range(current.shape[0]):
        spikes[j] = one if new_u[j] - threshold[j] - before[j] >= zero else zero
    for j in range(current.shape[0]):
        membrane[j] = new_u[j]
    for j in range(current.shape[0]):
        quadrature[j] = new_v[j]
    for j in range(current.shape[0]):
        refractory[j] = decay[j] * before[j] + spikes[j]


@numba.njit(inline="always")
def reciprocals(consts, inverse):
    """inverse [4, N] <- p (the divergence boundary), dp/domega, dp/ddt, 1/dt: made once per kernel call, not per
    step (a square root and three divisions a neuron)."""
    omega, dt = consts[0], consts[3]
    one, floor = consts.dtype.type(1), consts.dtype.type(ROOT_FLOOR)
    for j in range(consts.shape[1]):
        turn = dt[j] * omega[j]
        root = math.sqrt(max(one - turn * turn, floor))
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
    ``margin_row`` on entry; h: a scratch row [N]. Loops writing one row each, as ``forward_row``: h takes g_x, then
    x g_b, and the two scratch rows carry g_u[t-1] and g_v[t-1] until both are made."""
    omega, b_offset, dt, decay = consts[0], consts[1], consts[3], consts[4]
    boundary, d_omega, d_dt, inv_dt = inverse[0], inverse[1], inverse[2], inverse[3]
    grad_u, grad_v, grad_q = grad_state[0], grad_state[1], grad_state[2]
    new_u, new_v, before = saved[0], saved[1], saved[2]
    zero, one = x.dtype.type(0), x.dtype.type(1)
    derivative_row(surrogate, x, zero, slope, h)
    for j in range(x.shape[0]):
        h[j] = (grad_spikes[j] + grad_q[j]) * h[j]  # g_x
    for j in range(x.shape[0]):
        grad_u[j] = grad_u[j] + h[j]  # g_u': u[t]'s whole gradient
    if first:  # u[t-1] = v[t-1] = 0: the damping's gradient is 0
        for j in range(x.shape[0]):
            x[j] = zero
    else:
        u_prev, v_prev = saved_prev[0], saved_prev[1]
        for j in range(x.shape[0]):
            x[j] = dt[j] * (grad_u[j] * u_prev[j] + grad_v[j] * v_prev[j])  # g_b
    for j in range(x.shape[0]):
        grad_current[j] = dt[j] * grad_u[j]
    if learn:
        for j in range(x.shape[0]):
            u_prev = zero if first else saved_prev[0, j]
            v_prev = zero if first else saved_prev[1, j]
            grad_consts[0, j] += dt[j] * (grad_v[j] * u_prev - grad_u[j] * v_prev) + x[j] * d_omega[j]
            grad_consts[1, j] -= x[j]
            grad_consts[2, j] -= h[j]
            grad_consts[3, j] += (grad_u[j] * (new_u[j] - u_prev) + grad_v[j] * (new_v[j] - v_prev)) * inv_dt[j] \
                + x[j] * d_dt[j]
            grad_consts[4, j] += grad_q[j] * before[j]
    for j in range(x.shape[0]):
        grad_q[j] = decay[j] * grad_q[j] - h[j] - x[j]
    for j in range(x.shape[0]):
        keep = one + dt[j] * (boundary[j] - b_offset[j] - before[j])
        h[j] = grad_u[j] * keep + grad_v[j] * (dt[j] * omega[j])  # g_u[t-1]
    for j in range(x.shape[0]):
        keep = one + dt[j] * (boundary[j] - b_offset[j] - before[j])
        x[j] = grad_v[j] * keep - grad_u[j] * (dt[j] * omega[j])  # g_v[t-1]
    for j in range(x.shape[0]):
        grad_u[j] = h[j]
    for j in range(x.shape[0]):
        grad_v[j] = x[j]


@numba.njit(inline="always")
def margin_row(consts, saved, x):
    """x = u[t] - threshold - q[t-1], in the forward's order: each neuron fired iff x >= 0."""
    threshold = consts[2]
    for j in range(x.shape[0]):
        x[j] = saved[0, j] - threshold[j] - saved[2, j]
