"""Neuron math: pure functions of (input, state, params). Imports only torch."""

from spikekit.dynamics.lif import LIFParams, LIFState, charge, check_params, initial_state, lif_scan, lif_step
from spikekit.dynamics.surrogate import SURROGATES, spike, surrogate_derivative

__all__ = ["SURROGATES", "LIFParams", "LIFState", "charge", "check_params", "initial_state", "lif_scan",
           "lif_step", "spike", "surrogate_derivative"]
