"""TimeDropout: dropout over [T, B, ...] inputs with one mask per sample and unit, the same at every step.

    y[t, b, i] = x[t, b, i] * m[b, i] / (1 - p),   m[b, i] ~ Bernoulli(1 - p), drawn once per call

In training mode; the identity in eval mode. Shapes: x [T, B, *shape] -> y of the same shape and dtype.

Why not ``nn.Dropout`` on the same tensor: it draws a new mask at every step, so a unit dropped at one step
is kept at the next, and a network reading spike counts over T steps sees every unit at about (1 - p) of its
rate instead of some units missing: averaged over time, the noise mostly cancels. A mask held for the whole
sample drops what dropout means to drop, a unit's contribution to that sample (as SpikingJelly's
``layer.Dropout`` does, after Lee et al. 2020, "Enabling spike-based backpropagation for training deep neural
network architectures"). It is also T times fewer random draws: torch's CPU generator draws one number at a
time, and ``nn.Dropout`` on [25, 128, 256] spikes took more time than anything else in a training step (see
docs/performance.md, the ``custom`` rows).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TimeDropout(nn.Module):
    """Dropout whose mask is drawn once per forward call for [B, *shape] and applied at every time step.

    Args:
        p: probability of dropping a unit, 0 <= p < 1.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"TimeDropout takes 0 <= p < 1, got p={p}")
        self.p = float(p)

    def forward(self, inputs: Tensor) -> Tensor:
        """inputs [T, B, *shape] -> the same, with units dropped for every step of a sample (training only)."""
        if inputs.dim() < 2:
            raise ValueError(f"TimeDropout takes inputs [T, B, ...] (time-major), got shape {list(inputs.shape)}")
        if not self.training or self.p == 0.0:
            return inputs
        keep = 1.0 - self.p
        mask = torch.empty(inputs.shape[1:], dtype=inputs.dtype, device=inputs.device).bernoulli_(keep)
        return inputs * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"
