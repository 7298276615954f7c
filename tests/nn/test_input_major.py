"""InputMajorLinear: nn.Linear's values, state dict and gradients, with W^T as the stored parameter."""

import pytest
import torch
from torch import nn

from spikekit.nn import SNN
from spikekit.nn.input_major import InputMajorLinear


def _seeded_linear(seed: int, shape: tuple[int, int]) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(*shape)


def test_same_values_forward_and_gradients_as_nn_linear() -> None:
    linear, stored = _seeded_linear(0, (7, 4)), InputMajorLinear(_seeded_linear(0, (7, 4)))
    assert stored.weight_t.shape == (7, 4) and stored.weight_t.is_contiguous()
    assert [name for name, _ in stored.named_parameters()] == ["weight_t", "bias"]
    assert torch.equal(stored.weight, linear.weight) and torch.equal(stored.bias, linear.bias)
    inputs = torch.randn(3, 5, 7, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(stored(inputs), linear(inputs), rtol=1e-6, atol=1e-6)
    stored(inputs).square().sum().backward()
    linear(inputs).square().sum().backward()
    torch.testing.assert_close(stored.weight_t.grad, linear.weight.grad.t(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(stored.bias.grad, linear.bias.grad, rtol=1e-5, atol=1e-5)


def test_state_dict_is_that_of_nn_linear_both_ways() -> None:
    linear, stored = _seeded_linear(0, (7, 4)), InputMajorLinear(_seeded_linear(1, (7, 4)))
    assert not torch.equal(stored.weight, linear.weight)
    state = stored.state_dict()
    assert list(state) == ["weight", "bias"] and state["weight"].shape == (4, 7)
    stored.load_state_dict(linear.state_dict())  # an nn.Linear's state dict loads, transposed into W^T
    assert torch.equal(stored.weight, linear.weight) and stored.weight_t.is_contiguous()
    other = nn.Linear(7, 4)
    other.load_state_dict(stored.state_dict())
    assert torch.equal(other.weight, linear.weight) and torch.equal(other.bias, linear.bias)


def test_state_dict_errors_name_the_weight() -> None:
    stored = InputMajorLinear(nn.Linear(7, 4))
    with pytest.raises(RuntimeError, match=r"size mismatch for weight.*\(7, 4\).*\(4, 7\)"):
        stored.load_state_dict({"weight": torch.zeros(7, 4), "bias": torch.zeros(4)})
    with pytest.raises(RuntimeError, match=r"Missing key\(s\) in state_dict: \"weight\""):
        stored.load_state_dict({"bias": torch.zeros(4)})


def test_snn_stores_only_a_fully_connected_first_layer_input_major() -> None:
    fc = SNN((12, 6, 3))
    assert isinstance(fc.layers[0].linear, InputMajorLinear) and isinstance(fc.layers[1].linear, nn.Linear)
    conv = SNN("2c3-p2-10", input_shape=(1, 8, 8))
    assert isinstance(conv.layers[-1].linear, nn.Linear)
    assert all(not isinstance(module, InputMajorLinear) for module in conv.modules())
    # the same initial values as an nn.Linear drawn from the same seed (the layout is not the network's business)
    torch.manual_seed(3)
    first = SNN((12, 6, 3)).layers[0].linear.weight
    torch.manual_seed(3)
    assert torch.equal(first, nn.Linear(12, 6).weight)
