"""``trace_neurons`` (``SNNLayer.trace``, ``ConvLayer.trace``, ``SNN.trace``): every state variable over time."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from spikekit.dynamics.adlif import AdLIFParams
from spikekit.dynamics.alif import ALIFParams
from spikekit.dynamics.brf import BRFParams
from spikekit.dynamics.cuba import CubaLIFParams
from spikekit.dynamics.lif import LIFParams
from spikekit.dynamics.neuron import MODELS, rest_state
from spikekit.nn import SNN
from spikekit.nn.layer import trace_neurons

PARAMS = {"lif": LIFParams(tau=3.0, threshold=0.6), "alif": ALIFParams(tau=3.0, threshold=0.6, tau_adapt=4.0, beta=0.5),
          "cuba": CubaLIFParams(tau=3.0, threshold=0.6, tau_syn=2.5),
          "adlif": AdLIFParams(tau=3.0, threshold=0.6, tau_adapt=4.0, coupling=0.7, jump=0.3),
          "brf": BRFParams(omega=2.0, b_offset=0.2, threshold=0.6, dt=0.3, refractory_decay=0.8)}


def test_every_model_has_params_here() -> None:
    assert set(PARAMS) == set(MODELS)  # a new model is traced by the tests below once it has an entry


@pytest.mark.parametrize("name", sorted(MODELS))
def test_trace_is_the_models_own_step_by_hand(name: str) -> None:
    """Spikes, membrane before reset and every State field equal stepping ``model.step`` directly."""
    model, params = MODELS[name], PARAMS[name]
    currents = torch.randn(12, 3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    trace = trace_neurons(nn.Identity(), currents, params, (5,))
    assert type(trace.state) is model.state
    state, stepped = rest_state(model, 3, (5,), currents), []
    for t, current in enumerate(currents):
        spikes, state = model.step(current, state, params)
        stepped.append(state)
        assert torch.equal(trace.spikes[t], spikes)
        # the membrane before the reset: where it fired it crossed the threshold, elsewhere it is the state's
        assert torch.equal(trace.membrane[t][spikes == 0], state.membrane[spikes == 0])
    for field in model.state._fields:
        assert torch.equal(getattr(trace.state, field), torch.stack([getattr(s, field) for s in stepped])), field


@settings(max_examples=30, deadline=None)
@given(fired=st.lists(st.booleans(), min_size=1, max_size=30), tau_adapt=st.floats(1.01, 50.0))
def test_alif_adaptation_is_the_low_pass_of_its_spike_train(fired: list[bool], tau_adapt: float) -> None:
    """A current far above threshold fires whatever the adaptation, none keeps a reset neuron at rest, so the
    spike train S is the one asked for and a[t] = sum_s S[s] / tau_adapt * (1 - 1/tau_adapt)^(t - s)."""
    train = torch.tensor(fired, dtype=torch.float64)
    currents = (1e3 * train).reshape(-1, 1, 1)
    trace = trace_neurons(nn.Identity(), currents, ALIFParams(tau=2.0, tau_adapt=tau_adapt, beta=2.0), (1,))
    assert torch.equal(trace.spikes.flatten(), train)
    steps = torch.arange(len(fired), dtype=torch.float64)
    decay = (1 - 1 / tau_adapt) ** (steps[:, None] - steps[None, :])  # [t, s]
    expected = (torch.tril(decay) * train[None, :] / tau_adapt).sum(1)
    assert torch.allclose(trace.state.adaptation.flatten(), expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(num_steps=st.integers(1, 30), tau_syn=st.floats(1.01, 20.0), seed=st.integers(0, 2**16))
def test_cuba_synaptic_current_is_the_low_pass_of_its_input(num_steps: int, tau_syn: float, seed: int) -> None:
    """J ignores the spikes: J[t] = sum_s I[s] / tau_syn * (1 - 1/tau_syn)^(t - s), whatever fired."""
    currents = 2 * torch.randn(num_steps, 2, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    trace = trace_neurons(nn.Identity(), currents, CubaLIFParams(tau_syn=tau_syn), (3,))
    steps = torch.arange(num_steps, dtype=torch.float64)
    decay = torch.tril((1 - 1 / tau_syn) ** (steps[:, None] - steps[None, :])) / tau_syn  # [t, s]
    expected = torch.einsum("ts,sbn->tbn", decay, currents)
    assert torch.allclose(trace.state.synaptic, expected, rtol=1e-10, atol=1e-12)


def test_alif_spikes_where_the_membrane_reaches_the_adapted_threshold() -> None:
    """What the report draws: S[t] = 1 exactly where V_pre[t] >= threshold + beta * a[t-1] (a[-1] = 0)."""
    params = ALIFParams(threshold=0.5, tau_adapt=5.0, beta=0.8)
    net = SNN("6a-3a", params, engine="reference", input_shape=(12,))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # positive weights near threshold: both layers fire, and their thresholds adapt
        for layer in net.spiking_layers:
            layer.linear.weight.copy_(0.5 * torch.rand(layer.linear.weight.shape, generator=generator))
            layer.linear.bias.zero_()
    inputs = (torch.rand(15, 4, 12, generator=generator) < 0.5).float()
    for trace in net.trace(inputs):
        adaptation = trace.state.adaptation
        before = torch.cat([torch.zeros_like(adaptation[:1]), adaptation[:-1]])
        assert torch.equal(trace.spikes.bool(), trace.membrane >= params.threshold + params.beta * before)
        assert trace.spikes.any() and adaptation.amax() > 0  # the check above saw the threshold move


def test_conv_trace_flattens_every_state_field() -> None:
    net = SNN("2c3s-4", CubaLIFParams(), engine="reference", input_shape=(1, 6, 6))
    conv, linear = net.trace(torch.ones(5, 2, 36))
    assert conv.state._fields == ("synaptic", "membrane")
    assert all(value.shape == (5, 2, 2 * 6 * 6) for value in (conv.spikes, conv.membrane, *conv.state))  # same padding
    assert all(value.shape == (5, 2, 4) for value in (linear.spikes, linear.membrane, *linear.state))
