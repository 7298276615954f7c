"""Readouts: how an ``SNN`` turns its output layer into the scores (logits) training and prediction read.

``counts`` (the seed's): the output layer's neurons spike, and the scores are their spike counts over the T steps.

``leaky``: the output layer's neurons never fire: each is a leaky integrator of its current,

    V[t] = V[t-1] + (I[t] - V[t-1]) / tau,   V[-1] = 0,   I[t] = W s[t] + b   (s: the layer below's spikes)

(the output layer's own charge step, ``spikekit.dynamics.lif``, without threshold), and the scores are V's mean
over the last ``n = max(1, round(window * T))`` steps, t0 = T - n <= t < T (``window`` 1: the whole sequence). With
d = 1 - 1/tau, V[t] = sum_{k <= t} (1/tau) d^(t-k) I[k], and summing the geometric series over t,

    score = (1/n) sum_k d^(m_k - k) (1 - d^(T - m_k)) I[k],   m_k = max(k, t0)

(for window 1: (1/T) sum_k (1 - d^(T-k)) I[k]), a weighted sum of the currents, made here in one product over time
(no step loop, on either engine). Why:
over long sequences (S-MNIST: T = 784) counts run from 0 to T and cross-entropy on them saturates: measured on
S-MNIST (64ra-256ra-10, counts), the output layer settled at 41% firing and 12% test accuracy after an epoch.
A mean membrane stays in the range of one step's current whatever T is, and every hidden spike reaches it
through a smooth path. ``tau`` is the output layer's membrane time constant (a float or per-neuron; learned if
its neurons learn it).

Why a window: on S-MNIST the first rows of a digit are blank and a class can be told only late in the sequence;
the mean over all 784 steps asks the network to be right from its first steps. Measured on S-MNIST (the smnist
preset, one epoch of 25,600 sequences, 2,000 test sequences): window 1 28.25% / 31.25% test accuracy (seeds 0,
1), 0.5 63.95% / 61.40%, 0.35 64.00%, 0.2 55.70%, the last step alone 38.35%. But over a full run the window 0.35
plateaued lower (83% test from epoch 10 on, against 88% at epoch 12 for the mean over all steps), so the presets
keep window 1 (docs/accuracy.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from spikekit.kernels.fast import input_current
from spikekit.kernels.reference import weighted_sum

READOUTS = ("counts", "leaky")


def check_readout(name: str) -> str:
    """``name`` if it names a readout, else ``ValueError`` listing them."""
    if name not in READOUTS:
        raise ValueError(f"unknown readout {name!r}; choose one of {', '.join(READOUTS)}")
    return name


def check_output_model(readout: str, model) -> None:
    """``ValueError`` if the leaky readout would sit on output neurons of ``model`` (a ``NeuronModel``) that have
    no ``tau`` to integrate with (BRF)."""
    if readout == "leaky" and "tau" not in model.constants:
        raise ValueError(f"the leaky readout integrates with its output layer's tau, and {model.name} neurons have "
                         "none: give the output layer LIF-type neurons (a token without a suffix, or a, s, d)")


def check_window(window: float, readout: str = "leaky") -> float:
    """``window`` as a float if it is a fraction of the steps in (0, 1], and 1 unless ``readout`` is leaky (the
    only readout that averages over steps); else ``ValueError``."""
    if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 < window <= 1:
        raise ValueError(f"the readout window must be a fraction of the steps in (0, 1], got {window!r}")
    if window != 1 and readout != "leaky":
        raise ValueError(f"readout_window {window} needs the leaky readout, not {readout!r}")
    return float(window)


def window_steps(num_steps: int, window: float = 1.0) -> int:
    """How many of the last steps the scores average over: ``max(1, round(window * num_steps))``.

    >>> window_steps(784, 0.5), window_steps(784, 1e-9), window_steps(25, 1.0)
    (392, 1, 25)
    """
    return max(1, round(check_window(window) * num_steps))


def readout_weights(num_steps: int, tau: float | Tensor, window: float = 1.0,
                    like: Tensor | None = None) -> Tensor:
    """The weights [T] (one tau) or [T, C] (per-neuron tau) of each step's current in the scores (module docstring),
    the 1/n of the mean included: score = sum over k of weights[k] I[k]. Of ``like``'s dtype and device."""
    count = window_steps(num_steps, window)
    dtype, device = (like.dtype, like.device) if like is not None else (torch.get_default_dtype(), None)
    decay = 1.0 - 1.0 / torch.as_tensor(tau, dtype=dtype, device=device)
    step = torch.arange(num_steps, dtype=dtype, device=device)  # k
    first = step.clamp(min=num_steps - count)  # m_k: the first averaged step that k's current reaches
    shape = (-1, *([1] * decay.dim()))
    return decay ** (first - step).reshape(shape) * (1.0 - decay ** (num_steps - first).reshape(shape)) / count


def scores_from_sum(summed: Tensor, linear: torch.nn.Module, weights: Tensor) -> Tensor:
    """The scores [B, C] from summed = sum over k of weights[k] s[k] [B, N] (``readout_weights`` [T], one tau):
    W commutes with the sum over time, so score = W summed + b sum_k weights[k]."""
    scores = F.linear(summed, linear.weight)
    return scores if linear.bias is None else scores + linear.bias * weights.sum()


def leaky_scores(spikes: Tensor, linear: torch.nn.Module, tau: float | Tensor, window: float = 1.0) -> Tensor:
    """Mean membrane [B, C] over the last ``window`` fraction of the T steps of leaky integrators fed
    ``linear(spikes)`` (module docstring); spikes [T, B, N] from the layer below, ``tau`` in steps (> 1), a float
    or [C]."""
    weights = readout_weights(spikes.shape[0], tau, window, linear.weight)
    if weights.dim() == 1:
        # One tau for all: one pass over the spikes ([T] x [T, B*N]) and a [B, N] x [N, C] product
        # (``scores_from_sum``), where the current of every step was a product over T*B rows and, backward, two more
        # (700-256ra-20, T = 100, batch 128: ~3.5 of a ~21 ms training step on the fast engine). A recurrent layer
        # on the fast engine makes the sum itself (``SNN``, ``kernels.event_recurrent``).
        return scores_from_sum(weighted_sum(spikes.to(linear.weight.dtype), weights), linear, weights)
    return scores_from_current(input_current(spikes, linear), weights)


def scores_from_current(current: Tensor, weights: Tensor) -> Tensor:
    """The scores [B, C] from the output layer's current [T, B, C] and ``readout_weights`` [T] or [T, C]: the sum
    over k of weights[k] I[k]."""
    return (weights.reshape(weights.shape[0], 1, -1) * current).sum(0)
