"""ALIF and CubaLIF against closed forms; the model table; validation of every constant."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikekit.dynamics.alif import ALIFParams
from spikekit.dynamics.cuba import CubaLIFParams
from spikekit.dynamics.lif import LIFParams
from spikekit.dynamics.neuron import MODELS, model_of, neuron_scan, pack


@given(tau=st.floats(1.01, 50.0), tau_adapt=st.floats(1.01, 50.0), num_steps=st.integers(1, 40))
@settings(deadline=None, max_examples=30)
def test_subthreshold_alif_is_lif_and_its_adaptation_stays_at_rest(tau: float, tau_adapt: float,
                                                                   num_steps: int) -> None:
    current = torch.full((num_steps, 1, 1), 1e-3, dtype=torch.float64)
    spikes, state = neuron_scan(current, ALIFParams(tau=tau, threshold=1e9, tau_adapt=tau_adapt, beta=2.0))
    assert spikes.sum() == 0 and state.adaptation.item() == 0.0
    assert state.membrane.item() == pytest.approx(1e-3 * (1 - (1 - 1 / tau) ** num_steps))


@given(tau_adapt=st.floats(1.01, 50.0), num_steps=st.integers(1, 40))
@settings(deadline=None, max_examples=30)
def test_adaptation_after_a_spike_every_step_is_a_geometric_sum(tau_adapt: float, num_steps: int) -> None:
    # A current far above any adapted threshold makes the neuron fire every step: a[t] = 1 - (1 - 1/tau_a)^(t+1).
    current = torch.full((num_steps, 1, 1), 1e6, dtype=torch.float64)
    spikes, state = neuron_scan(current, ALIFParams(tau_adapt=tau_adapt, beta=3.0))
    assert spikes.sum() == num_steps
    assert state.adaptation.item() == pytest.approx(1 - (1 - 1 / tau_adapt) ** num_steps)


def test_adaptation_raises_the_threshold_by_beta_times_a() -> None:
    # A constant drive of 1.9 (tau 2) makes LIF fire every second step (V_pre 0.95, 1.425, 0.95, ...). ALIF
    # (beta 2, tau_a 4) fires at 1.425 while 1 + 2a <= 1.425, a <= 0.2125: after the first spike a = 0.25, then
    # 0.1875 when V_pre next reaches 1.425 (fires); then 0.39, 0.29 (no: 1.586 > 1.425), 0.22 with V_pre
    # 1.6625 > 1.44 (fires).
    current = torch.full((8, 1, 1), 1.9, dtype=torch.float64)
    params = ALIFParams(tau=2.0, tau_adapt=4.0, beta=2.0)
    plain, _ = neuron_scan(current, params._replace(beta=0.0))
    adapted, _ = neuron_scan(current, params)
    assert plain.flatten().tolist() == [0.0, 1.0] * 4
    assert adapted.flatten().tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]


@given(tau=st.floats(1.01, 30.0), tau_syn=st.floats(1.01, 30.0), num_steps=st.integers(1, 40))
@settings(deadline=None, max_examples=30)
def test_subthreshold_cuba_membrane_is_the_filtered_step_response(tau: float, tau_syn: float, num_steps: int) -> None:
    # J[n] = x (1 - q^n), V[n] = x (1 - a^n) - x (1 - a) q (a^n - q^n) / (a - q), with a = 1 - 1/tau, q = 1 - 1/tau_syn.
    x = 1e-3
    current = torch.full((num_steps, 1, 1), x, dtype=torch.float64)
    _, state = neuron_scan(current, CubaLIFParams(tau=tau, tau_syn=tau_syn, threshold=1e9))
    a, q = 1 - 1 / tau, 1 - 1 / tau_syn
    assert state.synaptic.item() == pytest.approx(x * (1 - q ** num_steps))
    if abs(a - q) > 1e-3:
        expected = x * (1 - a ** num_steps) - x * (1 - a) * q * (a ** num_steps - q ** num_steps) / (a - q)
        assert state.membrane.item() == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_every_model_names_its_params_and_packs_them_in_order() -> None:
    for model in MODELS.values():
        assert model_of(model.params()) is model
        assert set(model.constants) <= set(model.params._fields)
        packed = pack(model.params(), (3,), torch.zeros(1, dtype=torch.float64))
        defaults = [model.params._field_defaults[name] for name in model.constants]
        assert packed.shape == (len(model.constants), 3) and packed[:, 0].tolist() == defaults


def test_pack_broadcasts_per_neuron_tensors_and_keeps_their_gradient() -> None:
    tau = torch.tensor([2.0, 3.0], requires_grad=True)
    packed = pack(LIFParams(tau=tau), (2,), torch.zeros(1))
    packed[0].sum().backward()
    assert packed[0].tolist() == [2.0, 3.0] and tau.grad.tolist() == [1.0, 1.0]


@pytest.mark.parametrize(("params", "message"), [
    (ALIFParams(tau_adapt=1.0), "tau_adapt must be > 1.0"),
    (ALIFParams(beta=-0.1), "beta must be >= 0.0"),
    (CubaLIFParams(tau_syn=0.5), "tau_syn must be > 1.0"),
    (LIFParams(tau=torch.tensor([2.0, 0.9])), "tau must be > 1.0, got a tensor"),
    (LIFParams(threshold=math.nan), "threshold must be a finite number"),
    (CubaLIFParams(reset=torch.tensor([0.0, 2.0])), "reset must be below threshold"),
])
def test_out_of_range_constants_are_named(params, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model_of(params).check(params)
