"""SNN: a feed-forward stack of ``SNNLayer``s whose output is the spike count over time."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn

from spikekit.dynamics.lif import LIFParams
from spikekit.kernels import COUNT_ENGINES, Inputs, LazyEvents, SpikeEvents, check_engine
from spikekit.nn.layer import LayerTrace, SNNLayer

INFERENCE_CHUNK = 128  # samples per chunk of a no-grad forward (fast engine)


def _batch_slice(inputs: Inputs, start: int, stop: int) -> Inputs:
    return inputs.batch_slice(start, stop) if isinstance(inputs, (SpikeEvents, LazyEvents)) else inputs[:, start:stop]


def check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    """Layer widths as a tuple; ``ValueError`` unless there are >= 2 and all are positive integers."""
    sizes = tuple(sizes)
    if len(sizes) < 2 or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in sizes):
        raise ValueError(f"layer sizes must be >= 2 positive integers (inputs, ..., outputs), got {list(sizes)}")
    return sizes


class SNN(nn.Module):
    """Feed-forward spiking network, e.g. 784-128-10 for MNIST.

    Args:
        sizes: widths [N_in, hidden..., N_out].
        params: LIF constants shared by every layer, or a sequence of them, one per layer.
        engine: key of ``spikekit.kernels.ENGINES``; changes speed, never results (up to float rounding).

    Example:
        >>> import torch
        >>> net = SNN((4, 3, 2), engine="reference")
        >>> net(torch.ones(5, 1, 4)).shape  # input spikes [T=5, B=1, 4] -> counts [B, 2]
        torch.Size([1, 2])
    """

    def __init__(self, sizes: Sequence[int] = (784, 128, 10), params: LIFParams | Sequence[LIFParams] = LIFParams(),
                 engine: str = "fast"):
        super().__init__()
        self.sizes = check_sizes(sizes)
        per_layer = [params] * (len(self.sizes) - 1) if isinstance(params, LIFParams) else list(params)
        if len(per_layer) != len(self.sizes) - 1:
            raise ValueError(f"{len(self.sizes) - 1} layers need as many LIFParams, got {len(per_layer)}")
        self.layers = nn.ModuleList(SNNLayer(n_in, n_out, layer_params)
                                    for (n_in, n_out), layer_params in zip(pairwise(self.sizes), per_layer))
        self.engine = check_engine(engine)

    def layer_spikes(self, inputs: Inputs) -> list[Tensor]:
        """Spikes of every layer, each [T, B, N_layer], from input spikes [T, B, N_in]."""
        spikes = []
        for layer in self.layers:
            inputs = layer(inputs, self.engine)
            spikes.append(inputs)
        return spikes

    def forward(self, inputs: Inputs) -> Tensor:
        """Output spike counts [B, N_out] (float) over all T steps; used as logits by training."""
        counts = COUNT_ENGINES[self.engine]
        layers = [(layer.linear, layer.params) for layer in self.layers]
        if torch.is_grad_enabled() or self.engine == "reference":
            return counts(inputs, layers)
        # Inference: samples are independent, so run them through all layers a chunk at a time. The
        # per-chunk [T, chunk, N] intermediates stay in cache and in reused heap memory instead of
        # page-faulting fresh [T, B, N] tensors (measured 1.4x on T=100, batch 1000). Exact.
        batch_size = inputs.shape[1]
        chunks = [counts(_batch_slice(inputs, start, start + INFERENCE_CHUNK), layers)
                  for start in range(0, batch_size, INFERENCE_CHUNK)]
        return torch.cat(chunks) if chunks else counts(inputs, layers)

    def trace(self, inputs: Inputs) -> list[LayerTrace]:
        """Spikes and membranes of every layer over time (reference math, no gradient)."""
        traces = []
        for layer in self.layers:
            traces.append(layer.trace(inputs))
            inputs = traces[-1].spikes
        return traces
