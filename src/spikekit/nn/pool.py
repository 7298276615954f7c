"""Pool2d: stateless K x K pooling with stride K over every time step of spikes [T, B, C, H, W].

On binary spikes the three kinds mean:
    max:  a spike where any input of the window spiked (binary out); the gradient goes to one input of
          the window, the first maximum in row-major order, as in ``torch.nn.functional.max_pool2d``;
    avg:  the window's mean, 0, 1/K^2, ..., 1: a graded input to the next layer (NIR's AvgPool2d);
    sum:  the window's spike count, 0..K^2 (NIR's SumPool2d).
Time is folded into the batch (one pooling call over [T*B, C, H, W]); the engines do not differ here.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

PoolKind = Literal["max", "avg", "sum"]
_POOLS = {
    "max": lambda x, k: F.max_pool2d(x, k),
    "avg": lambda x, k: F.avg_pool2d(x, k),
    "sum": lambda x, k: F.avg_pool2d(x, k, divisor_override=1),  # the window's sum, exactly
}


class Pool2d(nn.Module):
    """K x K pooling (stride K, no padding; a remainder row or column is dropped) of spikes over time.

    Args:
        kind: "max", "avg" or "sum" (see the module docstring).
        kernel_size: K >= 2.
    """

    def __init__(self, kind: PoolKind, kernel_size: int) -> None:
        super().__init__()
        if kind not in _POOLS:
            raise ValueError(f"unknown pooling {kind!r}; choose one of {', '.join(_POOLS)}")
        if kernel_size < 2:
            raise ValueError(f"kernel_size must be >= 2, got {kernel_size}")
        self.kind, self.kernel_size = kind, kernel_size

    def forward(self, inputs: Tensor, engine: str = "fast") -> Tensor:
        """[T, B, C, H, W] -> [T, B, C, H // K, W // K]; the same for every engine."""
        if inputs.dim() != 5:
            raise ValueError(f"{self.kind} pooling takes spikes [T, B, C, H, W], got shape {list(inputs.shape)}")
        num_steps, batch_size = inputs.shape[:2]
        pooled = _POOLS[self.kind](inputs.reshape(num_steps * batch_size, *inputs.shape[2:]), self.kernel_size)
        return pooled.reshape(num_steps, batch_size, *pooled.shape[1:])

    def extra_repr(self) -> str:
        return f"kind={self.kind}, kernel_size={self.kernel_size}"
