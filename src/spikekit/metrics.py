"""Spike statistics: firing rates, sparsity, synaptic operations. Pure functions of tensors."""

from __future__ import annotations

from typing import NamedTuple

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


def confusion_matrix(counts: Tensor, labels: Tensor, num_classes: int = 10) -> Tensor:
    """[true, predicted] image counts (int64) from output spike counts [B, C] and labels [B]."""
    predicted = counts.argmax(1)
    flat = labels.long() * num_classes + predicted.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


# Energy per operation, 45 nm CMOS, 32-bit float (Horowitz, "Computing's energy problem", ISSCC 2014):
# an add costs 0.9 pJ and a multiply 3.7 pJ, so a multiply-accumulate costs 4.6 pJ.
ENERGY_PJ = {"accumulate": 0.9, "multiply_accumulate": 4.6}


class ComputeCost(NamedTuple):
    """Operations of one inference (one image over T steps) and their estimated energy."""

    synaptic_ops: list[float]  # per layer: input spikes x fan-out, the accumulates an event-driven SNN does
    neuron_updates: float  # LIF updates: T x neurons; each a multiply-accumulate (V + (I - V)/tau)
    ann_macs: list[float]  # per layer: N_in x N_out, the MACs of the same-shaped ANN run once
    snn_energy_pj: float
    ann_energy_pj: float


def compute_cost(input_rate: float, layer_rates: list[float], sizes: tuple[int, ...], num_steps: int,
                 macs: list[int] | None = None) -> ComputeCost:
    """Per-inference cost from measured rates (spikes per neuron per step) of the input and each layer.

    ``sizes`` are the inputs then the neurons of each spiking layer; ``macs`` the multiply-accumulates
    of each layer run once as an ANN (default: ``N_in x N_out``, a fully connected stack). Layer ``l``
    receives ``rate_{l-1} x N_{l-1} x T`` spikes, each touching ``macs_l / N_{l-1}`` synapses: ``N_l``
    for a fully connected layer, ``C_out x K^2`` for a conv layer fed directly. After pooling this is the
    mean over the presynaptic neurons (pooling merges or scales spikes), an estimate.
    """
    if macs is None:
        macs = [n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    in_rates = [input_rate, *layer_rates[:-1]]
    synaptic = [rate * n_in * num_steps * (layer_macs / n_in)
                for rate, n_in, layer_macs in zip(in_rates, sizes[:-1], macs)]
    updates = float(num_steps * sum(sizes[1:]))
    ann = [float(layer_macs) for layer_macs in macs]
    snn = sum(synaptic) * ENERGY_PJ["accumulate"] + updates * ENERGY_PJ["multiply_accumulate"]
    return ComputeCost(synaptic, updates, ann, snn, sum(ann) * ENERGY_PJ["multiply_accumulate"])
