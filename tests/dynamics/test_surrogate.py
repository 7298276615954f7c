import math

import pytest
import torch

from spikekit.dynamics.surrogate import SURROGATES, derivative_row, spike, surrogate_derivative

POINTS = torch.linspace(-2, 2, 401, dtype=torch.float64)

STATED = {  # the formulas of the module docstring, written independently here
    "fast_sigmoid": lambda x, k: 1 / (1 + k * x.abs()) ** 2,
    "atan": lambda x, k: 1 / (1 + (math.pi * k * x / 2) ** 2),
    "sigmoid": lambda x, k: 4 * torch.sigmoid(k * x) * torch.sigmoid(-k * x),
    "triangle": lambda x, k: torch.clamp(1 - k * x.abs(), min=0),
}


def test_every_surrogate_has_a_stated_formula() -> None:
    assert set(SURROGATES) == set(STATED)


@pytest.mark.parametrize("name", list(SURROGATES))
def test_forward_is_heaviside(name: str) -> None:
    x = torch.tensor([-1.0, -1e-7, 0.0, 1e-7, 3.0])
    assert spike(x, name).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("name", list(SURROGATES))
@pytest.mark.parametrize("slope", [1.0, 5.0, 25.0])
def test_backward_is_the_stated_derivative(name: str, slope: float) -> None:
    x = POINTS.clone().requires_grad_()
    (grad,) = torch.autograd.grad(spike(x, name, slope).sum(), x)
    torch.testing.assert_close(grad, STATED[name](POINTS, slope))
    assert grad[200].item() == pytest.approx(1.0)  # every derivative peaks at 1 at x = 0


@pytest.mark.parametrize("name", list(SURROGATES))
def test_derivative_is_the_derivative_of_the_smooth_function(name: str) -> None:
    surrogate = SURROGATES[name]
    points = POINTS[POINTS.abs() > 1e-3]  # keep away from kinks of |x|
    if name == "triangle":
        points = points[(points.abs() - 1 / 5).abs() > 1e-3]
    x = points.clone().requires_grad_()
    (autograd,) = torch.autograd.grad(surrogate.function(x, 5.0).sum(), x)
    torch.testing.assert_close(autograd, surrogate_derivative(points, name, 5.0))
    assert torch.autograd.gradcheck(lambda t: surrogate.function(t, 5.0), (x[::20].detach().clone().requires_grad_(),))


def test_unknown_surrogate_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="unknown surrogate 'nope'; choose one of fast_sigmoid"):
        surrogate_derivative(POINTS, "nope", 1.0)
    with pytest.raises(ValueError, match="unknown surrogate"):
        spike(POINTS, "nope")


@pytest.mark.parametrize("name", list(SURROGATES))
def test_surrogate_derivative_leaves_its_input_alone(name: str) -> None:
    x = POINTS.clone()
    surrogate_derivative(x, name, 5.0)
    assert torch.equal(x, POINTS)


@pytest.mark.parametrize("name", list(SURROGATES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_row_form_equals_the_torch_form(name: str, dtype: torch.dtype) -> None:
    x = POINTS.to(dtype) + 0.5
    out = torch.empty_like(x)
    numpy_dtype = x.numpy().dtype.type
    derivative_row(SURROGATES[name].code, x.numpy(), numpy_dtype(0.5), numpy_dtype(5.0), out.numpy())
    torch.testing.assert_close(out, surrogate_derivative(x - 0.5, name, 5.0))
    assert len({s.code for s in SURROGATES.values()}) == len(SURROGATES)


def test_compiled_row_form_gives_nan_for_an_unknown_code() -> None:
    out = POINTS.clone()
    derivative_row(len(SURROGATES), POINTS.numpy(), 0.0, 5.0, out.numpy())
    assert out.isnan().all()
