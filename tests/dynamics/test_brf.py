"""BRF against closed forms: below threshold it is a damped rotation of the complex membrane, which the divergence
boundary keeps from growing; the refractory variable of a neuron firing every step; validation of its constants."""

import cmath
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikekit.dynamics.brf import BRFParams, check_brf, divergence_boundary
from spikekit.dynamics.neuron import neuron_scan


@given(omega=st.floats(1.0, 90.0), b_offset=st.floats(0.0, 3.0), num_steps=st.integers(1, 300))
@settings(deadline=None, max_examples=40)
def test_below_threshold_an_impulse_rings_as_a_damped_rotation(omega: float, b_offset: float, num_steps: int) -> None:
    # One current x at t = 0, then none, no spike: u + i v = dt x z^t with z = 1 + dt (p - b_offset + i omega).
    dt, x = 0.01, 1e-3
    current = torch.zeros(num_steps, 1, 1, dtype=torch.float64)
    current[0] = x
    params = BRFParams(omega=omega, b_offset=b_offset, threshold=1e9)
    spikes, state = neuron_scan(current, params)
    p = float(divergence_boundary(torch.tensor(omega, dtype=torch.float64), torch.tensor(dt, dtype=torch.float64)))
    z = complex(1 + dt * (p - b_offset), dt * omega)
    expected = dt * x * z ** (num_steps - 1)
    assert spikes.sum() == 0 and not state.refractory.any()
    assert state.membrane.item() == pytest.approx(expected.real, rel=1e-9, abs=1e-18)
    assert state.quadrature.item() == pytest.approx(expected.imag, rel=1e-9, abs=1e-18)


@given(omega=st.floats(0.5, 99.0))
@settings(deadline=None, max_examples=40)
def test_at_the_divergence_boundary_the_rotation_keeps_its_amplitude(omega: float) -> None:
    # b_offset 0 and no spike: |z| = 1 exactly (in exact arithmetic), so the amplitude neither grows nor decays.
    dt = 0.01
    p = divergence_boundary(torch.tensor(omega, dtype=torch.float64), torch.tensor(dt, dtype=torch.float64))
    assert abs(complex(1 + dt * float(p), dt * omega)) == pytest.approx(1.0, abs=1e-12)
    current = torch.zeros(500, 1, 1, dtype=torch.float64)
    current[0] = 1.0
    _, state = neuron_scan(current, BRFParams(omega=omega, b_offset=0.0, threshold=1e9))
    assert math.hypot(state.membrane.item(), state.quadrature.item()) == pytest.approx(0.01, rel=1e-9)


@given(decay=st.floats(0.0, 0.99), num_steps=st.integers(1, 40))
@settings(deadline=None, max_examples=30)
def test_the_refractory_variable_of_a_neuron_firing_every_step_is_a_geometric_sum(decay: float,
                                                                                  num_steps: int) -> None:
    # Each step's current ten times what the membrane holds (a constant one would not do: the membrane rotates, and
    # turns negative half a period later) fires every step: q[t] = sum_{k <= t} decay^k.
    current = (10.0 ** (torch.arange(num_steps, dtype=torch.float64) + 3)).reshape(-1, 1, 1)
    spikes, state = neuron_scan(current, BRFParams(refractory_decay=decay))
    assert spikes.sum() == num_steps
    expected = sum(decay ** k for k in range(num_steps))
    assert state.refractory.item() == pytest.approx(expected, rel=1e-12)


def test_a_spike_raises_the_threshold_and_damps_the_membrane() -> None:
    # The same drive with the refractory variable forced to 0 (decay 0, and the first spike's q only lasts one
    # step) against the paper's 0.9: the refractory neuron fires less, and its membrane swings less after a spike.
    current = torch.full((200, 1, 1), 150.0, dtype=torch.float64)
    free, _ = neuron_scan(current, BRFParams(omega=20.0, refractory_decay=0.0))
    refractory, _ = neuron_scan(current, BRFParams(omega=20.0, refractory_decay=0.9))
    assert 0 < refractory.sum() < free.sum()


def test_the_neuron_rotates_at_omega() -> None:
    # Undriven, undamped beyond the boundary: the phase of u + i v advances by arg(1 + dt (p + i omega)) a step.
    omega, dt = 30.0, 0.01
    current = torch.zeros(50, 1, 1, dtype=torch.float64)
    current[0] = 1.0
    _, first = neuron_scan(current[:10], BRFParams(omega=omega, b_offset=0.0, threshold=1e9))
    _, later = neuron_scan(current[:11], BRFParams(omega=omega, b_offset=0.0, threshold=1e9))
    turn = cmath.phase(complex(later.membrane.item(), later.quadrature.item())) \
        - cmath.phase(complex(first.membrane.item(), first.quadrature.item()))
    p = float(divergence_boundary(torch.tensor(omega, dtype=torch.float64), torch.tensor(dt, dtype=torch.float64)))
    assert turn == pytest.approx(cmath.phase(complex(1 + dt * p, dt * omega)), rel=1e-9)
    assert turn == pytest.approx(math.asin(dt * omega), rel=1e-9)  # |z| = 1, Im z = dt omega


@pytest.mark.parametrize(("params", "message"), [
    (BRFParams(omega=0.0), "omega must be > 0.0"),
    (BRFParams(omega=torch.tensor([10.0, 150.0])), r"dt \* omega must be < 1"),
    (BRFParams(b_offset=-0.1), "b_offset must be >= 0.0"),
    (BRFParams(dt=0.0), "dt must be > 0.0"),
    (BRFParams(refractory_decay=1.0), "refractory_decay must be >= 0.0 and < 1.0"),
    (BRFParams(threshold=math.nan), "threshold must be a finite number"),
    (BRFParams(surrogate="step"), "surrogate"),
])
def test_out_of_range_constants_are_named(params: BRFParams, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_brf(params)
