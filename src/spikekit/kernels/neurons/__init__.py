"""Every neuron model's compiled row step and adjoint, behind one dispatch on the model's ``code``.

A generic kernel (``spikekit.kernels.scan``, ``event_layer``, ``event_readout``) knows how the input arrives
and what is done with the spikes; it calls ``charge_and_fire``, ``adjoint`` (or ``margin`` then
``adjoint_at_margin``) here for the neuron.
Each model's rows live in their own file, with the shapes they take. The kernels are compiled once per model
with ``code`` a closure constant (``scan.kernels``), so numba folds the branch on it away and each model's
loops vectorise as if written alone; only the models a process uses are compiled. ``SHAPES`` gives, per code,
(constants, state variables, saved rows per step): the arrays a kernel allocates. ``code`` is
``spikekit.dynamics.neuron.NeuronModel.code`` (``UNIFORM_LIF`` is chosen by ``scan.kernel_code``).

Tried and dropped, each measured: ``code`` a runtime argument, every model inlined in one loop nest (LLVM
vectorised none of them: LIF forward 391 vs 177 us for T=25, B=128, N=128); every model compiled into each
kernel (the first training step of a fresh install compiled for 183 s instead of 20 s); the rows, or each
thread's share, as functions of their own called from numba's parallel loops (numba then fused two parallel
loops it could not see through, and hoisted per-thread scratch arrays out of the loop: wrong gradients).

A kernel that inlines these rows must be compiled with ``error_model="numpy"``: they divide by per-neuron
constants (``x / tau[j]``), and numba's default error model checks every such division for zero with a
branch, which keeps LLVM from vectorising the loop (measured 150 -> 24 ns for a 128-neuron LIF row). The
constants are validated (> 1 for time constants), so the check could never fire.
"""

from __future__ import annotations

import numba
import numpy as np

from spikekit.dynamics.surrogate import derivative_row
from spikekit.kernels.lif_fused import adjoint_row, charge_and_fire_row
from spikekit.kernels.neurons import alif, cuba, lif

LIF, ALIF, CUBA = 0, 1, 2
# LIF whose constants are one value each (floats, not learned): the scalar rows of ``lif_fused``, which every
# LIF kernel runs (same arithmetic, same bits as LIF's per-neuron rows), reading consts[:, 0]. Chosen by the
# callers for ``scan.plain_lif`` params, so that LIF as the seed network runs it stays on those rows.
UNIFORM_LIF = 3
SHAPES = {LIF: (3, 1, 1), ALIF: (5, 2, 2), CUBA: (4, 2, 2), UNIFORM_LIF: (3, 1, 1)}  # (constants P, state S, saved K)
INVERSES = 4  # rows of the adjoint's factors (``prepared``), the most any model needs


@numba.njit(inline="always")
def charge_and_fire(code, consts, state, current, saved, spikes):
    """One step of model ``code`` over a row of N neurons: consts [P, N], state [S, N] (in place), current
    [N], saved [K, N] (out: what the adjoint reads), spikes [N] (out)."""
    if code == LIF:
        lif.forward_row(consts, state, current, saved, spikes)
    elif code == ALIF:
        alif.forward_row(consts, state, current, saved, spikes)
    elif code == CUBA:
        cuba.forward_row(consts, state, current, saved, spikes)
    elif code == UNIFORM_LIF:
        charge_and_fire_row(current, state[0], consts[0, 0], consts[1, 0], consts[2, 0], saved[0], spikes)


@numba.njit(inline="always")
def prepared(code, consts):
    """A private copy of consts [P, N] with the factors model ``code``'s adjoint multiplies by appended
    ([P + INVERSES, N]: 1/tau, 1 - 1/tau, ... per model, ``<model>.reciprocals``), made once per kernel call;
    what the kernels pass as ``consts`` to every function here. Why: a division costs a vector unit ~10x a
    multiplication, and the adjoint rows divided by every time constant of every neuron at every step. Why one
    array: the factors in an array of their own, four more arrays in the adjoint's loop, made LLVM give up its
    overlap checks and run the loop scalar (784-128a-10, T=25: 3.7 ms a training step with the divisions,
    3.5 ms with a separate array, 2.9 ms with one). Private (allocated in the kernel): no argument overlaps it.
    The forward keeps its divisions: its arithmetic is the reference's, to the bit; the adjoint's rounding
    may differ (it is compared with the reference within float tolerance)."""
    num_consts = consts.shape[0]
    local = np.zeros((num_consts + INVERSES, consts.shape[1]), consts.dtype)
    local[:num_consts] = consts
    if code == LIF:
        lif.reciprocals(local, local[num_consts:])
    elif code == ALIF:
        alif.reciprocals(local, local[num_consts:])
    elif code == CUBA:
        cuba.reciprocals(local, local[num_consts:])
    return local


@numba.njit(inline="always")
def margin(code, consts, saved, x):
    """x [N] <- how far the step's neurons were past their threshold, re-derived from its saved rows [K, N]
    (nothing for ``UNIFORM_LIF``, whose rows read V_pre itself): each spiked iff x >= 0, the forward's own test."""
    if code == LIF:
        lif.margin_row(consts, saved, x)
    elif code == ALIF:
        alif.margin_row(consts, saved, x)
    elif code == CUBA:
        cuba.margin_row(consts, saved, x)


@numba.njit(inline="always")
def adjoint_at_margin(code, consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                      grad_current, grad_consts, learn):
    """One step (t) of model ``code``'s adjoint over a row: consts from ``prepared``; saved and saved_prev the
    rows of steps t and t-1 (``first``: t = 0, saved_prev unused); x the step's ``margin`` (unread for
    ``UNIFORM_LIF``); grad_state [S, N] from t to t-1 in place; grad_current [N] out; grad_consts [P, N]
    accumulates if ``learn`` (else it is not touched); h a scratch row [N]. ``surrogate`` is ``Surrogate.code``.
    Each model's factors sit after its P constants in ``consts`` (``prepared``)."""
    if code == LIF:
        lif.adjoint_row(consts, consts[3:], saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                        grad_current, grad_consts, learn)
    elif code == ALIF:
        alif.adjoint_row(consts, consts[5:], saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                         grad_current, grad_consts, learn)
    elif code == CUBA:
        cuba.adjoint_row(consts, consts[4:], saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                         grad_current, grad_consts, learn)
    elif code == UNIFORM_LIF:  # nothing learned (plain LIF), so no constants' gradient
        derivative_row(surrogate, saved[0], consts[1, 0], slope, h)
        adjoint_row(grad_spikes, saved[0], h, consts[1, 0], consts[0, 0], grad_state[0], grad_current)


@numba.njit(inline="always")
def adjoint(code, consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state, grad_current,
            grad_consts, learn):
    """``adjoint_at_margin`` with the margin made first, into the scratch row x [N]."""
    margin(code, consts, saved, x)
    adjoint_at_margin(code, consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                      grad_current, grad_consts, learn)
