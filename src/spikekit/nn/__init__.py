"""Thin modules over ``spikekit.dynamics`` and ``spikekit.kernels``."""

from spikekit.nn.layer import LayerTrace, SNNLayer
from spikekit.nn.network import SNN, check_sizes

__all__ = ["SNN", "LayerTrace", "SNNLayer", "check_sizes"]
