"""Spike statistics: firing rates, sparsity, synaptic operations. Pure functions of tensors."""

from __future__ import annotations

import torch
from torch import Tensor


def accuracy(counts: Tensor, labels: Tensor) -> float:
    """Fraction of rows of ``counts`` [B, C] whose argmax (first on ties) equals ``labels`` [B]."""
    return (counts.argmax(1) == labels).float().mean().item() if len(labels) else 0.0


def neuron_totals(spikes: Tensor) -> Tensor:
    """Spikes per neuron summed over time and batch: [T, B, N] -> [N] (float64, exact for counts)."""
    return spikes.detach().sum((0, 1), dtype=torch.float64).cpu()


def firing_rate(totals: Tensor, num_samples: int, num_steps: int) -> float:
    """Mean spikes per neuron per step, from per-neuron totals [N] over ``num_samples`` x ``num_steps``."""
    return totals.sum().item() / max(1, totals.numel() * num_samples * num_steps)


def silent_fraction(totals: Tensor) -> float:
    """Fraction of neurons that never spiked, from per-neuron totals [N]."""
    return (totals == 0).double().mean().item() if totals.numel() else 0.0
