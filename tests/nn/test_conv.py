"""Conv LIF layers and conv networks: the reference loop against the equations written out, and the fast
engine against the reference, forward (same spikes) and backward (same gradients), on dense and event input."""

import pytest
import torch
import torch.nn.functional as F

from spikekit.dynamics.lif import LIFParams
from spikekit.dynamics.surrogate import surrogate_derivative
from spikekit.kernels import CONV_ENGINES, events_from_dense
from spikekit.kernels.event_conv import ImageEvents
from spikekit.nn import SNN, ConvLayer
from tests.kernels.test_equivalence import _assert_same_gradients

PARAMS = [LIFParams(threshold=0.5), LIFParams(tau=3.0, threshold=0.7, reset=-0.1, surrogate="atan", slope=4.0)]


def _spikes(shape, density: float = 0.3, seed: int = 1) -> torch.Tensor:
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < density).double()


@pytest.mark.parametrize("params", PARAMS)
def test_reference_conv_layer_is_the_lif_equations_over_a_conv(params: LIFParams) -> None:
    torch.manual_seed(0)
    layer = ConvLayer(2, 3, 3, params).double()
    inputs = _spikes((6, 2, 2, 5, 5))
    membrane, expected = torch.zeros(2, 3, 5, 5, dtype=torch.float64), []
    for inputs_t in inputs:  # V <- V + (I - V)/tau; spike at V >= threshold; then V <- reset
        current = F.conv2d(inputs_t, layer.conv.weight, layer.conv.bias, padding=1)
        membrane = membrane + (current - membrane) / params.tau
        fired = membrane >= params.threshold
        expected.append(fired.double())
        membrane = torch.where(fired, torch.full_like(membrane, params.reset), membrane)
    got = layer(inputs, "reference")
    assert torch.equal(got, torch.stack(expected)) and 0 < got.mean() < 1


@pytest.mark.parametrize("params", PARAMS)
def test_fast_conv_layer_equals_reference_forward_and_backward(params: LIFParams) -> None:
    torch.manual_seed(0)
    layer = ConvLayer(2, 4, 3, params).double()
    inputs = _spikes((7, 3, 2, 6, 6)).requires_grad_()
    outputs = {name: engine(inputs, layer.conv, params) for name, engine in CONV_ENGINES.items()}
    assert torch.equal(outputs["fast"], outputs["reference"]) and 0 < outputs["fast"].mean() < 1
    weights = torch.randn(outputs["fast"].shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    grads = {name: torch.autograd.grad((out * weights).sum(), [inputs, *layer.parameters()])
             for name, out in outputs.items()}
    for got, ref in zip(grads["fast"], grads["reference"]):
        torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)


def _networks(arch: str, input_shape, params: LIFParams) -> tuple[SNN, SNN]:
    torch.manual_seed(0)
    reference = SNN(arch, params, "reference", input_shape).double()
    with torch.no_grad():  # the last layer fires plenty too, so every reset path is exercised
        reference.layers[-1].linear.weight.mul_(4.0)
    fast = SNN(arch, params, "fast", input_shape).double()
    fast.load_state_dict(reference.state_dict())
    return reference, fast


@pytest.mark.parametrize(("arch", "input_shape"), [("4c3-p2-6c3-a2-5", (2, 8, 8)), ("3c5-s2-8-4", (1, 6, 6)),
                                                    ("p2-3c3-6", (1, 6, 6)), ("4c3-p2-6c3-p3-5", (1, 9, 11))])
@pytest.mark.parametrize("as_events", [False, True])
def test_fast_conv_network_equals_reference(arch: str, input_shape, as_events: bool) -> None:
    reference, fast = _networks(arch, input_shape, PARAMS[0])
    inputs = _spikes((9, 4, torch.Size(input_shape).numel()))
    ref_layers = reference.layer_spikes(inputs)
    fast_layers = fast.layer_spikes(events_from_dense(inputs) if as_events else inputs)
    for ref, got in zip(ref_layers, fast_layers):
        assert torch.equal(ref, got) and 0 < ref.mean() < 1
    ref_counts, fast_counts = reference(inputs), fast(events_from_dense(inputs) if as_events else inputs)
    assert torch.equal(ref_counts, fast_counts)
    ref_grads = _assert_same_gradients(reference, ref_counts, fast, fast_counts)
    assert all(g.abs().sum() > 0 for g in ref_grads)


def test_inference_in_chunks_equals_one_pass() -> None:
    _, fast = _networks("4c3-p2-5", (1, 6, 6), PARAMS[0])
    inputs = _spikes((5, 300, 36))
    with torch.no_grad():
        chunked = fast(inputs)  # no grad: 128 samples at a time
    assert torch.equal(chunked, fast._counts(inputs).detach())


def test_images_may_come_flat_or_shaped() -> None:
    _, fast = _networks("4c3-p2-5", (1, 6, 6), PARAMS[0])
    inputs = _spikes((5, 3, 36))
    assert torch.equal(fast(inputs), fast(inputs.reshape(5, 3, 1, 6, 6)))


def test_wrong_input_shapes_name_the_layer() -> None:
    _, fast = _networks("4c3-p2-5", (1, 6, 6), PARAMS[0])
    with pytest.raises(ValueError, match=r"layer 1 \(4c3\) takes input spikes \[T, B, 1, 6, 6\] or \[T, B, 36\]"):
        fast(torch.zeros(5, 3, 35))
    with pytest.raises(ValueError, match=r"conv layer of 2 input channels takes spikes \[T, B, 2, H, W\]"):
        ConvLayer(2, 3, 3)(torch.zeros(4, 1, 3, 5, 5))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ConvLayer(1, 3, 4)
    with pytest.raises(ValueError, match="needs input_shape"):
        SNN("4c3-5")


@pytest.mark.parametrize("path", ["reference", "fast", "events"])
def test_conv_weight_gradient_matches_finite_differences_below_threshold(path: str) -> None:
    """Below threshold nothing fires or resets, so V_pre is linear in W and central differences of the
    traced membrane are exact; the surrogate gradient of sum(g * S) must be sum(g * f'(V_pre - threshold)
    * dV_pre/dW) for every weight."""
    params = LIFParams(threshold=50.0, slope=0.5)
    torch.manual_seed(0)
    layer = ConvLayer(1, 2, 3, params).double()
    dense = _spikes((4, 2, 25))
    inputs = ImageEvents(events_from_dense(dense), (1, 5, 5)) if path == "events" else dense.reshape(4, 2, 1, 5, 5)
    weights = torch.randn(4, 2, 2, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    spikes = layer(inputs, "reference" if path == "reference" else "fast")
    (got,) = torch.autograd.grad((spikes * weights).sum(), layer.conv.weight)
    images = dense.reshape(4, 2, 1, 5, 5)
    membrane = layer.trace(images).membrane.reshape(weights.shape)
    slope = surrogate_derivative(membrane - params.threshold, params.surrogate, params.slope)
    expected = torch.zeros_like(got)
    for index in range(layer.conv.weight.numel()):
        with torch.no_grad():
            flat = layer.conv.weight.view(-1)
            flat[index] += 1e-3
            above = layer.trace(images).membrane.reshape(weights.shape)
            flat[index] -= 2e-3
            below = layer.trace(images).membrane.reshape(weights.shape)
            flat[index] += 1e-3
        expected.view(-1)[index] = (weights * slope * (above - below) / 2e-3).sum()
    torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-10)
