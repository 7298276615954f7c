"""Every neuron model's compiled row step and adjoint, behind one dispatch on the model's ``code``.

A generic kernel (``spikekit.kernels.scan``, ``event_layer``, ``event_readout``) knows how the input arrives
and what is done with the spikes; it calls ``charge_and_fire``, ``adjoint`` (or ``margin`` then
``adjoint_at_margin``) here for the neuron. Each model's rows live in a file of this package named as the model
(``dynamics.neuron.MODELS``: ``lif.py``, ``alif.py``, ``cuba.py``), each with the same five names:

    SHAPE = (P, S, K)     # constants, state variables, saved rows per step: the arrays a kernel allocates
    FACTORS = R           # rows of the adjoint's precomputed factors (``prepared``)
    forward_row(consts, state, current, saved, spikes)
    reciprocals(consts, inverse)
    margin_row(consts, saved, x)
    adjoint_row(consts, inverse, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                grad_current, grad_consts, learn)

``ROWS`` finds them from ``MODELS``, so a new model's rows file is all this package needs: nothing here names a
model. ``UNIFORM_LIF`` (``uniform_lif.py``) is LIF with one value per constant, chosen by ``scan.kernel_code``.

The kernels are compiled once per model with ``code`` a closure constant (``scan.kernels``): numba types it as
a literal, and each function here is an ``overload`` that picks that model's rows while the kernel is typed, so
each model's loops are compiled (and vectorised) as if written alone; only the models a process uses are
compiled. Tried and dropped, each measured: ``code`` a runtime argument, every model inlined in one loop nest
(LLVM vectorised none of them: LIF forward 391 vs 177 us for T=25, B=128, N=128); every model compiled into
each kernel (the first training step of a fresh install compiled for 183 s instead of 20 s); the rows, or each
thread's share, as functions of their own called from numba's parallel loops (numba then fused two parallel
loops it could not see through, and hoisted per-thread scratch arrays out of the loop: wrong gradients); the
model's functions captured by the kernel's closure instead of ``code`` (numba keys its disk cache on the
pickled closure, and a jitted function pickles with a per-process id: every process recompiled).

A kernel that inlines these rows must be compiled with ``error_model="numpy"``: they divide by per-neuron
constants (``x / tau[j]``), and numba's default error model checks every such division for zero with a
branch, which keeps LLVM from vectorising the loop (measured 150 -> 24 ns for a 128-neuron LIF row). The
constants are validated (> 1 for time constants), so the check could never fire.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

from spikekit.dynamics.neuron import MODELS
from spikekit.kernels.intrinsics.select import fired_indices
from spikekit.kernels.neurons import uniform_lif

# LIF whose constants are one value each (floats, not learned): ``lif_fused``'s scalar rows, which every LIF
# kernel runs (same arithmetic, same bits as LIF's per-neuron rows). Chosen by the callers for
# ``scan.plain_lif`` params, so that LIF as the seed network runs it stays on those rows.
UNIFORM_LIF = -1
ROWS: dict[int, ModuleType] = {
    **{model.code: importlib.import_module(f"{__name__}.{model.name}") for model in MODELS.values()},
    UNIFORM_LIF: uniform_lif,
}
SHAPES = {code: rows.SHAPE for code, rows in ROWS.items()}  # (constants P, state S, saved K) per code


def _rows(code) -> ModuleType:
    """The rows of the literal ``code`` a kernel is being typed with; numba's ``TypingError`` otherwise."""
    if not isinstance(code, types.IntegerLiteral):
        raise numba.errors.TypingError("spikekit.kernels.neurons: code must be a compile-time constant "
                                       "(a closure constant of the kernel, as in scan.kernels)")
    return ROWS[code.literal_value]


def charge_and_fire(code, consts, state, current, saved, spikes):
    """One step of model ``code`` over a row of N neurons: consts [P, N], state [S, N] (in place), current
    [N], saved [K, N] (out: what the adjoint reads), spikes [N] (out). Compiled code only."""
    raise NotImplementedError("compiled kernels only")


@overload(charge_and_fire, inline="always")
def _charge_and_fire(code, consts, state, current, saved, spikes):
    forward_row = _rows(code).forward_row

    def impl(code, consts, state, current, saved, spikes):
        forward_row(consts, state, current, saved, spikes)
    return impl


def prepared(code, consts):
    """A private copy of consts [P, N] with the factors model ``code``'s adjoint multiplies by appended
    ([P + FACTORS, N]: 1/tau, 1 - 1/tau, ... per model, ``<model>.reciprocals``), made once per kernel call;
    what the kernels pass as ``consts`` to every function here. Why: a division costs a vector unit ~10x a
    multiplication, and the adjoint rows divided by every time constant of every neuron at every step. Why one
    array: the factors in an array of their own, four more arrays in the adjoint's loop, made LLVM give up its
    overlap checks and run the loop scalar (784-128a-10, T=25: 3.7 ms a training step with the divisions,
    3.5 ms with a separate array, 2.9 ms with one). Private (allocated in the kernel): no argument overlaps it.
    The forward keeps its divisions: its arithmetic is the reference's, to the bit (a factor it reads, as BRF's
    divergence boundary, is made by the reference's own operations, so it has the same bits); the adjoint's
    rounding may differ (it is compared with the reference within float tolerance). Compiled code only."""
    raise NotImplementedError("compiled kernels only")


@overload(prepared, inline="always")
def _prepared(code, consts):
    rows = _rows(code)
    num_consts, num_factors, reciprocals = rows.SHAPE[0], rows.FACTORS, rows.reciprocals

    def impl(code, consts):
        local = np.zeros((num_consts + num_factors, consts.shape[1]), consts.dtype)
        local[:num_consts] = consts
        reciprocals(local, local[num_consts:])
        return local
    return impl


def margin(code, consts, saved, x):
    """x [N] <- how far the step's neurons were past their threshold, re-derived from its saved rows [K, N]
    (nothing for ``UNIFORM_LIF``, whose rows read V_pre itself): each spiked iff x >= 0, the forward's own test.
    Compiled code only."""
    raise NotImplementedError("compiled kernels only")


@overload(margin, inline="always")
def _margin(code, consts, saved, x):
    margin_row = _rows(code).margin_row

    def impl(code, consts, saved, x):
        margin_row(consts, saved, x)
    return impl


def adjoint_at_margin(code, consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                      grad_current, grad_consts, learn):
    """One step (t) of model ``code``'s adjoint over a row: consts from ``prepared``; saved and saved_prev the
    rows of steps t and t-1 (``first``: t = 0, saved_prev unused); x the step's ``margin`` (unread for
    ``UNIFORM_LIF``); grad_state [S, N] from t to t-1 in place; grad_current [N] out; grad_consts [P, N]
    accumulates if ``learn`` (else it is not touched); h a scratch row [N]. ``surrogate`` is ``Surrogate.code``.
    Each model's factors sit after its P constants in ``consts`` (``prepared``). Compiled code only."""
    raise NotImplementedError("compiled kernels only")


@overload(adjoint_at_margin, inline="always")
def _adjoint_at_margin(code, consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                       grad_current, grad_consts, learn):
    rows = _rows(code)
    num_consts, adjoint_row = rows.SHAPE[0], rows.adjoint_row

    def impl(code, consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
             grad_current, grad_consts, learn):
        adjoint_row(consts, consts[num_consts:], saved, saved_prev, first, grad_spikes, surrogate, slope, x, h,
                    grad_state, grad_current, grad_consts, learn)
    return impl


@numba.njit(inline="always")
def adjoint(code, consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state, grad_current,
            grad_consts, learn):
    """``adjoint_at_margin`` with the margin made first, into the scratch row x [N]."""
    margin(code, consts, saved, x)
    adjoint_at_margin(code, consts, saved, saved_prev, first, grad_spikes, surrogate, slope, x, h, grad_state,
                      grad_current, grad_consts, learn)


def keeps_spikes(code: int, wanted: bool) -> bool:
    """Whether a recurrent kernel of model ``code`` writes its [T, B, N] spike tensor: when the caller wants the
    spikes, or always for ``UNIFORM_LIF``, which has no margin row, so its backward finds who spiked from the spikes
    themselves (``fired_at``); every other model's backward re-derives them from its saved rows."""
    return wanted or code == UNIFORM_LIF


@numba.njit(inline="always")
def fired_at(code, spikes, t, b, x, fired):
    """The neurons that spiked at step t of sample b, into fired[:count]; returns count. From x, the step's
    ``margin`` (x >= 0: the forward's own test, to the bit, and already in L1 for the adjoint), where reading the
    spikes back costs a pass over [T, B, N] and needs them kept; plain LIF with one value per constant
    (``UNIFORM_LIF``) has no margin row: from its spikes [T, B, N] (0 or 1), the only case that indexes them (the
    others' callers may hold a smaller scratch array there). Compiled code only."""
    if code == UNIFORM_LIF:
        return fired_indices(spikes[t, b], spikes.dtype.type(0.5), fired)
    return fired_indices(x, x.dtype.type(0), fired)
