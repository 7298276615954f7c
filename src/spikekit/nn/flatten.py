"""Flatten: [T, B, C, H, W] -> [T, B, C*H*W], so that a fully connected layer can follow a conv stack."""

from __future__ import annotations

from torch import Tensor, nn


class Flatten(nn.Module):
    """Flattens every dimension after time and batch (row-major: channel, then row, then column)."""

    def forward(self, inputs: Tensor, engine: str = "fast") -> Tensor:
        """[T, B, ...] -> [T, B, N]; the same for every engine."""
        return inputs.reshape(*inputs.shape[:2], -1)
