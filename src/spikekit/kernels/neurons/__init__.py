"""Every neuron model's compiled row step and adjoint, behind one dispatch on the model's ``code``.

A generic kernel (``spikekit.kernels.scan``, ``spikekit.kernels.event_layer``) knows how the input arrives
and what is done with the spikes; it calls ``charge_and_fire`` and ``adjoint`` here for the neuron. Each
model's rows live in their own file, with the shapes they take; the branch on ``code`` is taken once per row,
outside the loops over neurons, so each model's loop vectorises as if written alone (as the surrogate's
``derivative_row`` does). ``SHAPES`` gives, per code, (constants, state variables, saved rows per step):
the arrays a kernel allocates. ``code`` is ``spikekit.dynamics.neuron.NeuronModel.code``.
"""

from __future__ import annotations

import numba

from spikekit.kernels.neurons import alif, cuba, lif

LIF, ALIF, CUBA = 0, 1, 2
SHAPES = {LIF: (3, 1, 1), ALIF: (5, 2, 2), CUBA: (4, 2, 2)}  # (constants P, state S, saved K) per code


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


@numba.njit(inline="always")
def adjoint(code, consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state, grad_current,
            grad_consts):
    """One step (t) of model ``code``'s adjoint over a row: saved and saved_prev the rows of steps t and t-1
    (``first``: t = 0, saved_prev unused); grad_state [S, N] from t to t-1 in place; grad_current [N] out;
    grad_consts [P, N] accumulates; x, h scratch [N]. ``surrogate`` is ``Surrogate.code``."""
    if code == LIF:
        lif.adjoint_row(consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                        grad_current, grad_consts)
    elif code == ALIF:
        alif.adjoint_row(consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                         grad_current, grad_consts)
    elif code == CUBA:
        cuba.adjoint_row(consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                         grad_current, grad_consts)
