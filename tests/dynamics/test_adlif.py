"""adLIF against closed forms: LIF when uncoupled, the fixed point and resonance of its linear part, the
adaptation current of a neuron that fires every step; validation of its constants."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikekit.dynamics.adlif import AdLIFParams, check_adlif
from spikekit.dynamics.lif import LIFParams
from spikekit.dynamics.neuron import neuron_scan


def test_without_coupling_or_jump_adlif_is_lif_to_the_bit() -> None:
    current = torch.randn(40, 3, 7, generator=torch.Generator().manual_seed(0)) * 2
    lif, _ = neuron_scan(current, LIFParams(tau=3.0, threshold=0.7, reset=-0.2))
    spikes, state = neuron_scan(current, AdLIFParams(tau=3.0, threshold=0.7, reset=-0.2, coupling=0.0, jump=0.0))
    assert torch.equal(spikes, lif) and 0 < lif.mean() < 1 and not state.adaptation.any()


@given(tau=st.floats(1.5, 20.0), tau_adapt=st.floats(1.5, 50.0), coupling=st.floats(0.0, 3.0))
@settings(deadline=None, max_examples=30)
def test_below_threshold_the_membrane_settles_at_the_fixed_point(tau: float, tau_adapt: float,
                                                                  coupling: float) -> None:
    # Constant x, no spike: V* = x - w* and w* = coupling V*, so V* = x / (1 + coupling), w* = coupling V*.
    x = 1e-3
    current = torch.full((4000, 1, 1), x, dtype=torch.float64)
    params = AdLIFParams(tau=tau, tau_adapt=tau_adapt, coupling=coupling, jump=2.0, threshold=1e9)
    spikes, state = neuron_scan(current, params)
    assert spikes.sum() == 0
    assert state.membrane.item() == pytest.approx(x / (1 + coupling), rel=1e-6)
    assert state.adaptation.item() == pytest.approx(coupling * x / (1 + coupling), rel=1e-6, abs=1e-15)


def test_a_strongly_coupled_neuron_resonates_overshooting_its_fixed_point() -> None:
    # Linear part: [V, w][t] = M [V, w][t-1] + (x/tau) [1, coupling/tau_adapt]. With tau = tau_adapt = 5 and
    # coupling 4, M's eigenvalues are complex (a damped oscillation): V rises past x / 5 and swings back below.
    tau, tau_adapt, coupling, x = 5.0, 5.0, 4.0, 1e-3
    decay, adapt = 1 - 1 / tau, 1 - 1 / tau_adapt
    matrix = torch.tensor([[decay, -1 / tau], [coupling / tau_adapt * decay, adapt - coupling / (tau * tau_adapt)]],
                          dtype=torch.float64)
    assert torch.linalg.eigvals(matrix).imag.abs().min() > 0.1
    current = torch.full((200, 1, 1), x, dtype=torch.float64)
    membrane, state = [], None
    params = AdLIFParams(tau=tau, tau_adapt=tau_adapt, coupling=coupling, threshold=1e9)
    for step in current:
        _, state = neuron_scan(step[None], params, state)
        membrane.append(state.membrane.item())
    fixed = x / (1 + coupling)
    first_peak = max(membrane[:20])
    assert first_peak > 1.5 * fixed and min(membrane[5:40]) < fixed  # overshoot, then below
    assert membrane[-1] == pytest.approx(fixed, rel=1e-6)


@given(tau_adapt=st.floats(1.01, 50.0), jump=st.floats(0.01, 3.0), num_steps=st.integers(1, 40))
@settings(deadline=None, max_examples=30)
def test_the_adaptation_of_a_neuron_firing_every_step_is_a_geometric_sum(tau_adapt: float, jump: float,
                                                                          num_steps: int) -> None:
    # A current far above threshold fires every step; V[t] = reset = 0, so w[t] = jump (1 - (1 - 1/tau_a)^(t+1)).
    current = torch.full((num_steps, 1, 1), 1e6, dtype=torch.float64)
    spikes, state = neuron_scan(current, AdLIFParams(tau_adapt=tau_adapt, coupling=0.8, jump=jump))
    assert spikes.sum() == num_steps
    assert state.adaptation.item() == pytest.approx(jump * (1 - (1 - 1 / tau_adapt) ** num_steps))


def test_the_adaptation_current_slows_a_driven_neuron() -> None:
    current = torch.full((200, 1, 1), 1.5, dtype=torch.float64)
    plain, _ = neuron_scan(current, AdLIFParams(tau=2.0, coupling=0.0, jump=0.0))
    adapted, _ = neuron_scan(current, AdLIFParams(tau=2.0, tau_adapt=20.0, coupling=0.0, jump=0.5))
    assert adapted[100:].sum() < 0.8 * plain[100:].sum()


@pytest.mark.parametrize(("params", "message"), [
    (AdLIFParams(tau_adapt=1.0), "tau_adapt must be > 1.0"),
    (AdLIFParams(coupling=math.nan), "coupling must be a finite number"),
    (AdLIFParams(jump=torch.tensor([0.1, math.inf])), "jump must be a finite number"),
    (AdLIFParams(reset=1.5), "reset must be below threshold"),
])
def test_out_of_range_constants_are_named(params: AdLIFParams, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_adlif(params)
