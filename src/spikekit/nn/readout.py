"""Readouts: how an ``SNN`` turns its output layer into the scores (logits) training and prediction read.

``counts`` (the seed's): the output layer's neurons spike, and the scores are their spike counts over the T steps.

``leaky``: the output layer's neurons never fire: each is a leaky integrator of its current,

    V[t] = V[t-1] + (I[t] - V[t-1]) / tau,   V[-1] = 0,   I[t] = W s[t] + b   (s: the layer below's spikes)

(the output layer's own charge step, ``spikekit.dynamics.lif``, without threshold), and the scores are V's mean
over the sequence. In closed form, V[t] = sum_{k <= t} (1/tau) (1 - 1/tau)^(t-k) I[k], so

    score = (1/T) sum_k (1 - (1 - 1/tau)^(T-k)) I[k]

a weighted sum of the currents, made here in one product over time (no step loop, on either engine). Why:
over long sequences (S-MNIST: T = 784) counts run from 0 to T and cross-entropy on them saturates: measured on
S-MNIST (64ra-256ra-10, counts), the output layer settled at 41% firing and 12% test accuracy after an epoch.
A mean membrane stays in the range of one step's current whatever T is, and every hidden spike reaches it
through a smooth path. ``tau`` is the output layer's membrane time constant (a float or per-neuron; learned if
its neurons learn it).
"""

from __future__ import annotations

import torch
from torch import Tensor

from spikekit.kernels.fast import input_current

READOUTS = ("counts", "leaky")


def check_readout(name: str) -> str:
    """``name`` if it names a readout, else ``ValueError`` listing them."""
    if name not in READOUTS:
        raise ValueError(f"unknown readout {name!r}; choose one of {', '.join(READOUTS)}")
    return name


def leaky_scores(spikes: Tensor, linear: torch.nn.Module, tau: float | Tensor) -> Tensor:
    """Mean membrane [B, C] over the T steps of leaky integrators fed ``linear(spikes)`` (module docstring);
    spikes [T, B, N] from the layer below, ``tau`` in steps (> 1), a float or [C]."""
    num_steps = spikes.shape[0]
    current = input_current(spikes, linear)  # [T, B, C]
    decay = 1.0 - 1.0 / torch.as_tensor(tau, dtype=current.dtype, device=current.device)
    remaining = torch.arange(num_steps, 0, -1, dtype=current.dtype, device=current.device)  # T - k
    weights = 1.0 - decay ** remaining.reshape(-1, *([1] * decay.dim()))  # [T] or [T, C]
    if weights.dim() == 1:
        return torch.einsum("t,tbc->bc", weights, current) / num_steps
    return (weights.unsqueeze(1) * current).sum(0) / num_steps
