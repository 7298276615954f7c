"""Neuron math: pure functions of (input, state, params). Imports only torch."""

from spikekit.dynamics.adlif import AdLIFParams, AdLIFState, adlif_step
from spikekit.dynamics.alif import ALIFParams, ALIFState, alif_step
from spikekit.dynamics.brf import BRFParams, BRFState, brf_step
from spikekit.dynamics.cuba import CubaLIFParams, CubaLIFState, cuba_step
from spikekit.dynamics.lif import LIFParams, LIFState, charge, check_params, initial_state, lif_scan, lif_step
from spikekit.dynamics.neuron import MODELS, NeuronParams, neuron_scan
from spikekit.dynamics.surrogate import SURROGATES, spike, surrogate_derivative

__all__ = ["MODELS", "SURROGATES", "AdLIFParams", "AdLIFState", "adlif_step",
           "ALIFParams", "ALIFState", "BRFParams", "BRFState", "brf_step", "CubaLIFParams", "CubaLIFState", "LIFParams",
           "NeuronParams", "alif_step", "cuba_step", "neuron_scan", "LIFState", "charge", "check_params",
           "initial_state", "lif_scan", "lif_step", "spike", "surrogate_derivative"]
