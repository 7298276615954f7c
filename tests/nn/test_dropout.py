"""TimeDropout: one mask per sample and unit, held over every step, scaled by 1/(1-p)."""

import pytest
import torch

from spikekit.nn import TimeDropout


def test_the_mask_is_the_same_at_every_step_and_scaled() -> None:
    torch.manual_seed(0)
    dropout = TimeDropout(0.25)
    inputs = torch.ones(6, 64, 50)
    outputs = dropout(inputs)
    assert torch.equal(outputs, outputs[:1].expand_as(outputs))  # every step the same
    assert set(outputs.unique().tolist()) == {0.0, torch.tensor(1.0 / 0.75).item()}  # float32's 4/3
    kept = (outputs[0] > 0).double().mean().item()
    assert abs(kept - 0.75) < 4 * (0.75 * 0.25 / (64 * 50)) ** 0.5  # within 4 standard deviations


def test_the_gradient_is_the_mask_and_eval_is_the_identity() -> None:
    torch.manual_seed(1)
    dropout = TimeDropout(0.5)
    inputs = torch.rand(4, 3, 2, 5, requires_grad=True)
    outputs = dropout(inputs)
    (grad,) = torch.autograd.grad(outputs.sum(), inputs)
    torch.testing.assert_close(outputs, inputs * grad)
    assert set(grad.unique().tolist()) <= {0.0, 2.0}
    dropout.eval()
    assert dropout(inputs) is inputs


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_refuses_a_probability_out_of_range(p: float) -> None:
    with pytest.raises(ValueError, match="0 <= p < 1"):
        TimeDropout(p)


def test_refuses_inputs_without_a_time_axis() -> None:
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        TimeDropout(0.2)(torch.ones(5))
