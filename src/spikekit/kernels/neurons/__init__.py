"""Every neuron model's compiled row step and adjoint, behind one dispatch on the model's ``code``.

A generic kernel (``spikekit.kernels.scan``, ``event_layer``, ``event_readout``) knows how the input arrives
and what is done with the spikes; it calls ``charge_and_fire``, ``adjoint`` and ``fired`` here for the neuron.
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

from spikekit.dynamics.surrogate import derivative_row
from spikekit.kernels.lif_fused import adjoint_row, charge_and_fire_row
from spikekit.kernels.neurons import alif, cuba, lif

LIF, ALIF, CUBA = 0, 1, 2
# LIF whose constants are one value each (floats, not learned): the scalar rows of ``lif_fused``, which every
# LIF kernel runs (same arithmetic, same bits as LIF's per-neuron rows), reading consts[:, 0]. Chosen by the
# callers for ``scan.plain_lif`` params, so that LIF as the seed network runs it stays on those rows.
UNIFORM_LIF = 3
SHAPES = {LIF: (3, 1, 1), ALIF: (5, 2, 2), CUBA: (4, 2, 2), UNIFORM_LIF: (3, 1, 1)}  # (constants P, state S, saved K)


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
def adjoint(code, consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state, grad_current,
            grad_consts, learn):
    """One step (t) of model ``code``'s adjoint over a row: saved and saved_prev the rows of steps t and t-1
    (``first``: t = 0, saved_prev unused); grad_state [S, N] from t to t-1 in place; grad_current [N] out;
    grad_consts [P, N] accumulates if ``learn`` (else it is not touched); x, h scratch [N]. ``surrogate`` is
    ``Surrogate.code``."""
    if code == LIF:
        lif.adjoint_row(consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                        grad_current, grad_consts, learn)
    elif code == ALIF:
        alif.adjoint_row(consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                         grad_current, grad_consts, learn)
    elif code == CUBA:
        cuba.adjoint_row(consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                         grad_current, grad_consts, learn)
    elif code == UNIFORM_LIF:  # nothing learned (plain LIF), so no constants' gradient
        derivative_row(surrogate, saved[0], consts[1, 0], slope, h)
        adjoint_row(grad_spikes, saved[0], h, consts[1, 0], consts[0, 0], grad_state[0], grad_current)


@numba.njit(inline="always")
def fired(code, consts, saved, spikes):
    """The spikes (1. or 0.) [N] of a step of model ``code``, re-derived from its saved rows [K, N]."""
    if code == LIF:
        lif.fired_row(consts, saved, spikes)
    elif code == ALIF:
        alif.fired_row(consts, saved, spikes)
    elif code == CUBA:
        cuba.fired_row(consts, saved, spikes)
    elif code == UNIFORM_LIF:
        zero, one = spikes.dtype.type(0), spikes.dtype.type(1)
        for j in range(spikes.shape[0]):
            spikes[j] = one if saved[0, j] - consts[1, 0] >= zero else zero
