"""The fast engine equals the reference engine, forward and backward, given the same input spikes."""

import pytest
import torch

from spikekit.dynamics.lif import LIFParams, LIFState, lif_scan
from spikekit.kernels import ENGINES, event_lif_layer, events_from_dense
from spikekit.kernels.lif_fused import fused_lif_scan
from spikekit.nn import SNN
from spikekit.nn.input_major import InputMajorLinear
from tests.kernels.layer_check import assert_event_layer_matches_reference

CASES = [  # (T, B, sizes, params)
    (2, 3, (5, 3), LIFParams(threshold=0.1)),
    (7, 4, (20, 9, 3), LIFParams(tau=1.5, threshold=0.5, surrogate="atan", slope=5.0)),
    (30, 8, (40, 16, 10), LIFParams(tau=5.0, threshold=0.3, reset=-0.2, surrogate="sigmoid", slope=10.0)),
    (25, 3, (30, 12, 12, 4), LIFParams(tau=2.0, threshold=0.4, surrogate="triangle", slope=2.0)),
]


def _spikes(shape, density: float, seed: int, dtype=torch.float64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=generator) < density).to(dtype)


def _networks(sizes, params) -> tuple[SNN, SNN]:
    """The same float64 network under both engines, with weights that make it fire plenty (so reset
    paths are exercised)."""
    torch.manual_seed(0)
    reference = SNN(sizes, params, engine="reference").double()
    with torch.no_grad():
        for layer in reference.layers:
            layer.linear.weight.mul_(4.0)
    fast = SNN(sizes, params, engine="fast").double()
    fast.load_state_dict(reference.state_dict())
    return reference, fast


def _assert_same_gradients(reference: SNN, ref_output, fast: SNN, fast_output) -> tuple[torch.Tensor, ...]:
    """Both networks' parameter gradients of a random weighting of their outputs agree; returns the reference's."""
    weights = torch.randn(ref_output.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    ref_grads = torch.autograd.grad((ref_output * weights).sum(), list(reference.parameters()))
    fast_grads = torch.autograd.grad((fast_output * weights).sum(), list(fast.parameters()))
    for ref, got in zip(ref_grads, fast_grads):
        torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    assert any(g.abs().sum() > 0 for g in ref_grads)
    return ref_grads


@pytest.mark.parametrize(("num_steps", "batch", "sizes", "params"), CASES)
@pytest.mark.parametrize("as_events", [False, True])
def test_fast_network_equals_reference(num_steps, batch, sizes, params, as_events) -> None:
    reference, fast = _networks(sizes, params)
    inputs = _spikes((num_steps, batch, sizes[0]), 0.3, seed=1)
    ref_layers = reference.layer_spikes(inputs)
    fast_layers = fast.layer_spikes(events_from_dense(inputs) if as_events else inputs)
    for ref, got in zip(ref_layers, fast_layers):
        assert torch.equal(ref, got)
    assert 0 < ref_layers[0].mean() < 1
    _assert_same_gradients(reference, ref_layers[-1], fast, fast_layers[-1])


@pytest.mark.parametrize(("num_steps", "batch", "sizes", "params"), CASES)
@pytest.mark.parametrize("as_events", [False, True])
def test_fast_counts_equal_reference(num_steps, batch, sizes, params, as_events) -> None:
    # The network's output as training uses it: the fast engine's last layer counts its spikes as it
    # goes (kernels/readout.py) instead of returning them; counts and gradients must not change.
    reference, fast = _networks(sizes, params)
    inputs = _spikes((num_steps, batch, sizes[0]), 0.3, seed=1)
    fast_inputs = events_from_dense(inputs) if as_events else inputs
    expected = reference(inputs)
    got = fast(fast_inputs)
    assert torch.equal(got, expected) and expected.sum() > 0
    _assert_same_gradients(reference, expected, fast, got)
    with torch.no_grad():
        assert torch.equal(fast(fast_inputs), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_scan_is_bit_identical_to_reference_scan(dtype) -> None:
    generator = torch.Generator().manual_seed(3)
    current = (torch.randn(40, 6, 50, generator=generator, dtype=dtype) * 1.5).requires_grad_()
    membrane = (torch.rand(6, 50, generator=generator, dtype=dtype)).requires_grad_()
    params = LIFParams(tau=3.0, threshold=0.8, reset=0.1)
    ref_spikes, ref_state = lif_scan(current, LIFState(membrane), params)
    spikes, state = fused_lif_scan(current, LIFState(membrane), params)
    assert torch.equal(spikes, ref_spikes) and torch.equal(state.membrane, ref_state.membrane)
    weights = torch.randn(spikes.shape, generator=generator, dtype=dtype)
    ref = torch.autograd.grad((ref_spikes * weights).sum() + ref_state.membrane.sum(), (current, membrane))
    got = torch.autograd.grad((spikes * weights).sum() + state.membrane.sum(), (current, membrane))
    for r, g in zip(ref, got):
        torch.testing.assert_close(g, r)


def test_fused_scan_gradient_matches_finite_differences() -> None:
    # Smooth check of the adjoint: with a threshold no membrane reaches, spikes never change and the
    # final membrane is linear in the currents, so finite differences are exact.
    current = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    membrane = torch.rand(2, 3, dtype=torch.float64, requires_grad=True)
    params = LIFParams(tau=2.5, threshold=100.0)
    assert torch.autograd.gradcheck(lambda c, m: fused_lif_scan(c, LIFState(m), params)[1].membrane,
                                    (current, membrane))


@pytest.mark.parametrize("params", [LIFParams(tau=1.5, threshold=0.5, surrogate="atan"),
                                    LIFParams(tau=4.0, threshold=0.3, reset=-0.2, surrogate="triangle", slope=2.0)])
def test_event_layer_equals_the_reference_layer(params: LIFParams) -> None:
    spikes = _spikes((9, 13, 33), 0.2, seed=4)  # 13 samples: one full group of 8 and a partial one
    events = events_from_dense(spikes)
    assert torch.equal(events.to_dense(torch.float64), spikes)
    assert_event_layer_matches_reference(events, spikes, 7, 4.0, params)


def test_event_layer_refuses_a_width_mismatch_and_unsupported_weights() -> None:
    events = events_from_dense(torch.zeros(2, 1, 4))
    with pytest.raises(ValueError, match="events have 4 inputs but the weight expects 5"):
        event_lif_layer(events, torch.zeros(3, 5), torch.zeros(3), LIFParams())
    with pytest.raises(ValueError, match="needs a float32/float64 CPU weight, got torch.bfloat16"):
        event_lif_layer(events, torch.zeros(3, 4, dtype=torch.bfloat16), torch.zeros(3), LIFParams())


def test_engines_table_lists_both() -> None:
    assert set(ENGINES) == {"reference", "fast"}


@pytest.mark.parametrize("num_steps", [1, 2, 3])
def test_event_layer_inference_equals_training_forward_for_short_runs(num_steps: int) -> None:
    # Inference keeps V_pre in one scratch row per thread, [threads, 1, N]; when T equalled the thread
    # count, the kernel once took that for [T, B, N] and wrote out of bounds (a crash or corruption).
    torch.manual_seed(0)
    network = SNN((50, 300, 10), LIFParams(threshold=0.5), engine="fast")
    events = events_from_dense(_spikes((num_steps, 64, 50), 0.3, seed=6, dtype=torch.float32))
    training = network.layer_spikes(events)
    with torch.no_grad():
        inference = network.layer_spikes(events)
    for got, expected in zip(inference, training):
        assert torch.equal(got, expected.detach())
    assert training[0].sum() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_event_layer_input_major_weight_gives_the_same_bits(dtype) -> None:
    # An input-major weight (W^T stored, as SNN's first layer keeps it) skips the kernel's transposes:
    # the same spikes and the same gradient bits, the gradient produced in W^T's own layout.
    spikes = _spikes((6, 37, 45), 0.25, seed=8, dtype=dtype)  # 37 samples: groups on both threads, a partial one
    events = events_from_dense(spikes)
    torch.manual_seed(1)
    linear = torch.nn.Linear(45, 19).to(dtype)
    with torch.no_grad():
        linear.weight.mul_(4.0)
    stored = InputMajorLinear(linear)
    assert stored.weight_t.is_contiguous() and torch.equal(stored.weight, linear.weight)
    params = LIFParams(threshold=0.5)
    plain = event_lif_layer(events, linear.weight, linear.bias, params)
    transposed = event_lif_layer(events, stored.weight, stored.bias, params)
    assert torch.equal(plain, transposed) and 0 < plain.mean() < 1
    grad = torch.randn(plain.shape, dtype=dtype, generator=torch.Generator().manual_seed(2))
    (plain * grad).sum().backward()
    linear_bias_grad = linear.bias.grad.clone()  # the bias is shared: take its first gradient apart
    linear.bias.grad = None
    (transposed * grad).sum().backward()
    assert stored.weight_t.grad.is_contiguous()
    assert torch.equal(stored.weight_t.grad, linear.weight.grad.t()) and linear.weight.grad.abs().sum() > 0
    assert torch.equal(stored.bias.grad, linear_bias_grad)


def test_event_layer_takes_a_batch_slice_of_events() -> None:
    # batch_slice (inference chunks) gives strided index tensors; the row intrinsics need C-contiguous arrays.
    spikes = _spikes((5, 20, 30), 0.3, seed=9, dtype=torch.float32)
    sliced = events_from_dense(spikes).batch_slice(3, 11)
    assert not sliced.indices.is_contiguous()
    torch.manual_seed(2)
    weight, bias = (torch.randn(7, 30) * 2).requires_grad_(), torch.zeros(7, requires_grad=True)
    got = event_lif_layer(sliced, weight, bias, LIFParams(threshold=0.5))
    expected = event_lif_layer(events_from_dense(spikes[:, 3:11]), weight, bias, LIFParams(threshold=0.5))
    assert torch.equal(got, expected) and got.sum() > 0
    grads = torch.autograd.grad(got.sum(), (weight, bias))
    for mine, theirs in zip(grads, torch.autograd.grad(expected.sum(), (weight, bias))):
        assert torch.equal(mine, theirs)
