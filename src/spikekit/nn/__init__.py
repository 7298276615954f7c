"""Thin modules over ``spikekit.dynamics`` and ``spikekit.kernels``: one layer kind per file, the neuron modules
(``LIF``, ``ALIF``, ``CubaLIF``, ``AdLIF``, ``BRF``: currents [T, B, ...] to spikes, for a user's own models;
``TimeDropout``), one network."""

from spikekit.nn.conv import ConvLayer
from spikekit.nn.dropout import TimeDropout
from spikekit.nn.engine import use_engine
from spikekit.nn.flatten import Flatten
from spikekit.nn.layer import LayerTrace, SNNLayer
from spikekit.nn.network import SNN, SPIKING, check_sizes
from spikekit.nn.neurons import ALIF, BRF, LIF, NEURONS, AdLIF, CubaLIF, Neuron
from spikekit.nn.pool import Pool2d
from spikekit.nn.recurrent import RecurrentLayer
from spikekit.nn.spec import PRESETS, LayerSpec, parse_arch, resolve_arch

__all__ = ["AdLIF", "ALIF", "BRF", "LIF", "NEURONS", "PRESETS", "SNN", "SPIKING", "CubaLIF", "Neuron", "ConvLayer",
           "Flatten", "LayerSpec", "LayerTrace", "Pool2d", "RecurrentLayer", "SNNLayer", "TimeDropout", "check_sizes",
           "parse_arch", "resolve_arch", "use_engine"]
