import pytest
import torch

from spikekit.metrics import ENERGY_PJ, compute_cost, confusion_matrix


def test_confusion_matrix_counts_pairs() -> None:
    counts = torch.tensor([[0., 3, 1], [2, 0, 0], [0, 0, 5], [1, 4, 0]])
    labels = torch.tensor([1, 0, 1, 1])
    assert confusion_matrix(counts, labels, 3).tolist() == [[1, 0, 0], [0, 2, 1], [0, 0, 0]]


def test_compute_cost_by_hand() -> None:
    # 784 inputs at 0.1 spikes/step over T=25 -> 1960 spikes x 128 fan-out; 128 hidden at 0.2 -> 640 x 10.
    cost = compute_cost(0.1, [0.2, 0.05], (784, 128, 10), 25)
    assert cost.synaptic_ops == pytest.approx([1960 * 128, 640 * 10])
    assert cost.ann_macs == [784 * 128, 128 * 10]
    assert cost.neuron_updates == 25 * 138
    assert cost.snn_energy_pj == pytest.approx((1960 * 128 + 6400) * 0.9 + 25 * 138 * 4.6)
    assert cost.ann_energy_pj == pytest.approx((784 * 128 + 1280) * ENERGY_PJ["multiply_accumulate"])
