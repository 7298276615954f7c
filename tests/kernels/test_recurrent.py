"""The recurrent scan (``kernels.recurrent``) equals the reference loop forward and backward, for every neuron model:
spikes, and the gradients of the currents, of U and of every learned constant; its gradients agree with finite
differences where no neuron crosses its threshold."""

import pytest
import torch

from spikekit.dynamics.alif import ALIFParams
from spikekit.dynamics.lif import LIFParams
from spikekit.kernels.fast import fast_recurrent
from spikekit.kernels.recurrent import recurrent_scan
from spikekit.kernels.reference import reference_recurrent
from tests.kernels.test_generic_scan import (
    MODEL_PARAMS,
    SMOOTH_BELOW_THRESHOLD,
    _constants,
    _grads,
    check_finite_differences_below_threshold,
)


def _reference(current: torch.Tensor, weight: torch.Tensor, params) -> torch.Tensor:
    """reference_recurrent with the input part the identity: I[t] = current[t] + U s[t-1]."""
    identity = torch.nn.Linear(current.shape[2], current.shape[2], bias=False).to(current.dtype)
    with torch.no_grad():
        identity.weight.copy_(torch.eye(current.shape[2], dtype=current.dtype))
    identity.weight.requires_grad_(False)
    return reference_recurrent(current, identity, weight, params)


def _case(seed: int, steps: int = 23, batch: int = 11, width: int = 9, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    current = (torch.randn(steps, batch, width, generator=generator, dtype=dtype) * 1.5 + 0.3).requires_grad_()
    weight = (torch.randn(width, width, generator=generator, dtype=dtype) * 0.6).requires_grad_()
    return current, weight


@pytest.mark.parametrize("params_type", MODEL_PARAMS)
def test_recurrent_scan_equals_the_reference_with_gradients_of_u_and_every_constant(params_type) -> None:
    # batch 11: an odd number of samples over the threads
    current, weight = _case(5)
    constants = _constants(params_type, 9)
    params = params_type(**constants)
    expected = _reference(current, weight, params)
    got = recurrent_scan(current, weight, params)
    assert torch.equal(got, expected) and 0.05 < expected.mean() < 0.9
    leaves = [current, weight, *constants.values()]
    for mine, theirs in zip(_grads(got, leaves), _grads(expected, leaves)):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-11)
        assert theirs.abs().sum() > 0


def test_recurrent_scan_of_plain_lif_runs_the_uniform_rows_and_equals_the_reference() -> None:
    current, weight = _case(6, dtype=torch.float32)
    params = LIFParams(tau=3.0, threshold=0.9)
    expected = _reference(current.double(), weight.double(), params)
    got = recurrent_scan(current, weight, params)
    assert torch.equal(got.double(), expected)  # float32 forward, same spikes as float64 here
    current64, weight64 = current.detach().double().requires_grad_(), weight.detach().double().requires_grad_()
    got64 = recurrent_scan(current64, weight64, params)
    for mine, theirs in zip(_grads(got64, [current64, weight64]), _grads(_reference(current64, weight64, params),
                                                                         [current64, weight64])):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-11)


def test_a_frozen_u_gets_no_gradient_and_the_rest_the_reference_s() -> None:
    # U without requires_grad: the backward skips dU (learn_weight False), the currents' gradient is unchanged.
    current, weight = _case(8)
    weight.requires_grad_(False)
    params = ALIFParams(tau=2.5, tau_adapt=5.0, beta=0.5)
    got, expected = recurrent_scan(current, weight, params), _reference(current, weight, params)
    mine, = _grads(got, [current])
    theirs, = _grads(expected, [current])
    torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-11)


def test_du_at_a_width_of_whole_vector_blocks_equals_the_reference() -> None:
    # 256 neurons: dU^T's rows are scattered as two full blocks of 8 vectors (the 9 neurons above take a masked one)
    current, weight = _case(9, steps=12, batch=5, width=256)
    with torch.no_grad():
        weight.mul_(0.1)
    params = LIFParams(tau=3.0, threshold=1.0)
    got, expected = recurrent_scan(current, weight, params), _reference(current, weight, params)
    assert torch.equal(got, expected) and 0.05 < expected.mean() < 0.9
    for mine, theirs in zip(_grads(got, [current, weight]), _grads(expected, [current, weight])):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-11)


def test_without_gradients_the_scan_gives_the_same_spikes() -> None:
    current, weight = _case(7)
    params = ALIFParams(tau=2.5, tau_adapt=5.0, beta=0.5)
    with torch.no_grad():
        assert torch.equal(recurrent_scan(current, weight, params), _reference(current, weight, params))


@pytest.mark.parametrize("params_type", SMOOTH_BELOW_THRESHOLD)
def test_gradients_match_finite_differences_below_threshold(params_type) -> None:
    """Below threshold nothing fires and every V_pre[t] is a smooth function of the currents and time constants;
    the surrogate gradient of sum(g * S) must be sum(g * f'(V_pre - threshold) * dV_pre/dx), dV_pre/dx by central
    differences. U = 0 and (ALIF) beta = 0 here: the surrogate also sends gradient through S[t-1] -> U s[t-1] and
    S -> a -> threshold, paths that finite differences cannot see while no neuron spikes; those paths are checked
    against the reference loop's autograd above."""
    zero = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    check_finite_differences_below_threshold(params_type, lambda current, params: recurrent_scan(current, zero,
                                                                                                    params))


def _readout(inputs: int, outputs: int, seed: int, dtype=torch.float64) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(inputs, outputs).to(dtype)


@pytest.mark.parametrize("params_type", [*MODEL_PARAMS, "plain LIF"])
@pytest.mark.parametrize("uses", ["readout", "readout and spikes", "readout, no spike tensor"])
def test_a_readout_in_the_passes_gives_its_current_and_the_reference_gradients(params_type, uses: str) -> None:
    # the readout's current from the rows of W2^T of the neurons that spiked; backward W2^T g_I2[t] per step, with no
    # gradient on the spikes themselves (the empty-gradient case) or with one; without a spike tensor (spikes=False:
    # who spiked re-derived from the margin, but for plain LIF, whose spikes are kept)
    current, weight = _case(11)
    constants = {} if params_type == "plain LIF" else _constants(params_type, 9)
    params = LIFParams(tau=3.0, threshold=0.9) if params_type == "plain LIF" else params_type(**constants)
    readout = _readout(9, 5, seed=12)
    expected = _reference(current, weight, params)
    if uses == "readout, no spike tensor":
        spikes, readout_current = recurrent_scan(current, weight, params, readout, spikes=False)
        assert spikes is None
        spikes = expected  # for the loss below, which then reads only the current
    else:
        spikes, readout_current = recurrent_scan(current, weight, params, readout)
    assert torch.equal(spikes, expected) and readout_current.shape == (23, 11, 5) and 0.02 < expected.mean() < 0.9
    torch.testing.assert_close(readout_current, readout(expected), rtol=1e-12, atol=1e-12)
    scale = torch.randn(23, 11, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(13))
    leaves = [current, weight, readout.weight, readout.bias, *constants.values()]

    def loss(spikes, readout_current):
        spike_term = (spikes * spikes.flip(0)).sum() if uses == "readout and spikes" else 0
        return (readout_current * scale).sum() + spike_term
    mine = torch.autograd.grad(loss(spikes, readout_current), leaves)
    theirs = torch.autograd.grad(loss(expected, readout(expected)), leaves)
    for grad, reference in zip(mine, theirs):
        torch.testing.assert_close(grad, reference, rtol=1e-9, atol=1e-11)
        assert reference.abs().sum() > 0


def test_a_float32_readout_wider_than_a_vector_equals_the_float64_one() -> None:
    # 20 outputs: W2^T's rows padded to 32 columns, two vectors; float32 against the same network in float64
    current, weight = _case(14, batch=6, width=40, dtype=torch.float32)
    with torch.no_grad():
        weight.mul_(0.3)
    params = LIFParams(tau=3.0, threshold=0.9)
    readout = _readout(40, 20, seed=15, dtype=torch.float32)
    spikes, readout_current = recurrent_scan(current, weight, params, readout)
    readout64 = _readout(40, 20, seed=15)
    current64, weight64 = current.detach().double().requires_grad_(), weight.detach().double().requires_grad_()
    spikes64, readout_current64 = recurrent_scan(current64, weight64, params, readout64)
    assert torch.equal(spikes.double(), spikes64) and 0.05 < spikes64.mean() < 0.9
    torch.testing.assert_close(readout_current.double(), readout_current64, rtol=1e-5, atol=1e-5)
    leaves, leaves64 = [current, weight, readout.weight, readout.bias], [current64, weight64, readout64.weight,
                                                                          readout64.bias]
    scale = torch.randn(23, 6, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(17))
    mine = torch.autograd.grad((readout_current * scale.float()).sum(), leaves)
    theirs = torch.autograd.grad((readout_current64 * scale).sum(), leaves64)
    for grad, grad64 in zip(mine, theirs):
        torch.testing.assert_close(grad.double(), grad64, rtol=1e-4, atol=1e-4)
        assert grad64.abs().sum() > 0


def test_a_readout_without_a_bias_or_of_another_dtype_is_refused_and_the_fast_engine_runs_it_unfused() -> None:
    current, weight = _case(16)
    params = LIFParams(tau=3.0, threshold=0.9)
    for readout in (torch.nn.Linear(9, 4, bias=False).double(), torch.nn.Linear(9, 4)):
        with pytest.raises(ValueError, match="readout must be"):
            recurrent_scan(current, weight, params, readout)
    readout = torch.nn.Linear(9, 4, bias=False).double()
    identity = torch.nn.Linear(9, 9, bias=False).double()
    with torch.no_grad():
        identity.weight.copy_(torch.eye(9, dtype=torch.float64))
    spikes, readout_current = fast_recurrent(current, identity, weight, params, readout=readout)
    expected = _reference(current, weight, params)
    assert torch.equal(spikes, expected)
    torch.testing.assert_close(readout_current, readout(expected), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="not both"):
        fast_recurrent(current, identity, weight, params, torch.ones(23, dtype=torch.float64), readout)
    spikes, readout_current = fast_recurrent(current, identity, weight, params, readout=readout, spikes=False)
    assert spikes is None
    torch.testing.assert_close(readout_current, readout(expected), rtol=1e-12, atol=1e-12)


def test_without_its_spikes_a_layer_needs_a_readout_or_time_weights() -> None:
    current, weight = _case(18)
    params = LIFParams(tau=3.0, threshold=0.9)
    identity = torch.nn.Linear(9, 9).double()
    with pytest.raises(ValueError, match="needs a readout"):
        recurrent_scan(current, weight, params, spikes=False)
    for engine in (fast_recurrent, reference_recurrent):
        with pytest.raises(ValueError, match="needs time_weights or a readout"):
            engine(current, identity, weight, params, spikes=False)
        spikes, summed = engine(current, identity, weight, params, torch.ones(23, dtype=torch.float64), spikes=False)
        assert spikes is None and summed.shape == (11, 9)
