import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikekit.dynamics.lif import LIFParams, LIFState, check_params, lif_scan, lif_step


@settings(deadline=None, max_examples=40)
@given(tau=st.floats(1.01, 50.0), num_steps=st.integers(1, 50))
def test_subthreshold_membrane_is_a_geometric_sum(tau: float, num_steps: int) -> None:
    current = torch.full((num_steps, 1, 1), 1e-3, dtype=torch.float64)
    _, state = lif_scan(current, LIFState(torch.zeros(1, 1, dtype=torch.float64)), LIFParams(tau, threshold=1e9))
    assert state.membrane.item() == pytest.approx(1e-3 * (1 - (1 - 1 / tau) ** num_steps))


def test_constant_current_fires_at_the_closed_form_step_and_resets() -> None:
    # V[t] = I (1 - a^t), a = 1 - 1/tau; with I = 2, tau = 2, threshold 1.5: V = 1, 1.5 -> spike at step 2.
    params = LIFParams(tau=2.0, threshold=1.5, reset=0.25)
    current = torch.full((4, 1, 1), 2.0, dtype=torch.float64)
    spikes, state = lif_scan(current, LIFState(torch.zeros(1, 1, dtype=torch.float64)), params)
    assert spikes.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]  # 0.25 -> 1.125 (no), -> 1.5625 (yes)
    assert state.membrane.item() == 0.25


def test_threshold_is_inclusive() -> None:
    params = LIFParams(tau=2.0, threshold=1.0)
    spikes, state = lif_step(torch.tensor([[2.0]]), LIFState(torch.zeros(1, 1)), params)
    assert spikes.item() == 1.0 and state.membrane.item() == 0.0  # V_pre = 1.0 exactly


def test_gradient_flows_through_charge_not_reset() -> None:
    params = LIFParams(tau=2.0, threshold=1.0, surrogate="fast_sigmoid", slope=25.0)
    current = torch.tensor([[0.4]], dtype=torch.float64, requires_grad=True)
    membrane = torch.tensor([[0.2]], dtype=torch.float64, requires_grad=True)
    spikes, _ = lif_step(current, LIFState(membrane), params)
    spikes.sum().backward()
    v_pre = 0.2 + (0.4 - 0.2) / 2
    slope = 1 / (1 + 25 * abs(v_pre - 1.0)) ** 2
    assert current.grad.item() == pytest.approx(slope / 2)
    assert membrane.grad.item() == pytest.approx(slope * (1 - 1 / 2))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("tau", 1.0, "tau must be > 1"), ("threshold", 0.0, "threshold must be > 0"),
    ("reset", 1.0, "reset must be below threshold"), ("slope", -1.0, "slope must be > 0"),
    ("tau", float("nan"), "tau must be a finite number"), ("surrogate", "x", "unknown surrogate"),
])
def test_out_of_range_params_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_params(LIFParams()._replace(**{field: value}))
