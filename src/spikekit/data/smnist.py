"""Sequential MNIST (S-MNIST) and its permuted form (PS-MNIST): an image read one pixel a step.

S-MNIST: step t (0 <= t < 784) presents pixel t of the image in row-major order (row t // 28, column t % 28),
so a network sees one 28x28 digit over T = 784 steps and must hold what it saw early until the end: the
classic offline test of memory in a recurrent network (Le et al. 2015; Bellec et al. 2018; Yin et al. 2021).
PS-MNIST: the same with the pixels in one fixed random order, ``permutation()``, drawn from
``PERMUTATION_SEED`` with ``torch.randperm``; the order is the same for every run, user and seed, and
destroys the local structure a row-major scan keeps (nearby steps are no longer nearby pixels).

Input coding: one input, the pixel's intensity (byte / 255, in [0, 1]) as a value, which the first layer's
synapses turn into a current (``W x[t] + b``). This is the task as the published anchors define it (their
accuracies are for this input), and it costs the first layer one weight per neuron. The alternative of spike
coding (e.g. Bellec et al.'s 80 threshold-crossing neurons) changes the task's difficulty and is not what
the figures we compare with measured.

Shapes: ``SequenceSplit.inputs(index)`` is [784, B, 1] float32, time-major like every input in spikekit.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from spikekit.data.mnist import byte_intensity

SEQUENCE_LENGTH = 784  # T: one step per pixel of a 28x28 image
# PS-MNIST's pixel order: torch.randperm(784) from a generator seeded with this. Fixed, published with the
# package: change it and the task changes.
PERMUTATION_SEED = 28
TASKS = ("smnist", "psmnist")


def permutation(seed: int = PERMUTATION_SEED) -> Tensor:
    """PS-MNIST's pixel order: [784] int64, a permutation of 0..783 (step t shows pixel ``permutation()[t]``).

    >>> order = permutation()
    >>> sorted(order.tolist()) == list(range(784)), order[:5].tolist() == permutation()[:5].tolist()
    (True, True)
    """
    return torch.randperm(SEQUENCE_LENGTH, generator=torch.Generator().manual_seed(seed))


class SequenceSplit(NamedTuple):
    """MNIST images read as sequences: one pixel a step, in ``order`` (None: row-major, S-MNIST)."""

    images: Tensor  # [N, 784] uint8, raw pixel bytes
    labels: Tensor  # [N] int64
    order: Tensor | None = None  # [784] pixel shown at each step (PS-MNIST), or None

    def inputs(self, index: Tensor | slice) -> Tensor:
        """The sequences of the images ``index``: [784, B, 1] float32, step t holding pixel order[t]'s
        intensity in [0, 1].

        >>> split = SequenceSplit((torch.arange(784) % 256).to(torch.uint8).reshape(1, 784), torch.zeros(1))
        >>> x = split.inputs(slice(0, 1))
        >>> x.shape, float(x[255, 0, 0]), float(x[256, 0, 0])
        (torch.Size([784, 1, 1]), 1.0, 0.0)
        """
        gather = isinstance(index, Tensor) and index.dim() == 1 and index.dtype != torch.bool
        rows = self.images.index_select(0, index) if gather else self.images[index]
        if self.order is not None:
            rows = rows[:, self.order]
        return byte_intensity(rows).t().unsqueeze(-1).contiguous()

    def hold_out(self, count: int) -> tuple[SequenceSplit, SequenceSplit]:
        """(all but the last ``count`` sequences, the last ``count``), as ``mnist.Split.hold_out``."""
        if not 0 <= count < len(self.labels):
            raise ValueError(f"cannot hold out {count} of {len(self.labels)} training sequences for validation; "
                             f"choose 0 <= N < {len(self.labels)}")
        keep = len(self.labels) - count
        return (SequenceSplit(self.images[:keep], self.labels[:keep], self.order),
                SequenceSplit(self.images[keep:], self.labels[keep:], self.order))


def sequences(images: Tensor, labels: Tensor, task: str) -> SequenceSplit:
    """MNIST images [N, 784] uint8 and labels as the sequences of ``task`` ("smnist" or "psmnist")."""
    if task not in TASKS:
        raise ValueError(f"unknown sequence task {task!r}; choose one of {', '.join(TASKS)}")
    return SequenceSplit(images, labels, permutation() if task == "psmnist" else None)
