"""The generic kernels (any neuron model, per-neuron and learned constants) equal the reference, forward and
backward: the dense scan (``kernels.scan``) and the event-fed layer (``kernels.event_layer``)."""

import pytest
import torch

from spikekit.dynamics.adlif import AdLIFParams
from spikekit.dynamics.alif import ALIFParams
from spikekit.dynamics.brf import BRFParams
from spikekit.dynamics.cuba import CubaLIFParams
from spikekit.dynamics.lif import LIFParams
from spikekit.dynamics.neuron import model_of, neuron_scan
from spikekit.dynamics.surrogate import surrogate_derivative
from spikekit.kernels import event_lif_layer, events_from_dense
from spikekit.kernels.reference import reference_layer
from spikekit.kernels.scan import fused_scan, plain_lif
from spikekit.nn.layer import trace_neurons

# BRF's: a step of 0.2-0.4 time units and omega 1-1.2 turn the membrane 0.2-0.5 rad a step, so a short trace both
# rings and fires
BASES = {"tau": 2.5, "threshold": 0.8, "reset": -0.1, "tau_adapt": 3.0, "beta": 0.7, "tau_syn": 3.0,
         "coupling": 0.6, "jump": 0.4, "omega": 1.0, "b_offset": 0.3, "dt": 0.2, "refractory_decay": 0.7}
MODEL_PARAMS = [LIFParams, ALIFParams, CubaLIFParams, AdLIFParams, BRFParams]
# constants the membrane below threshold depends on smoothly, besides the time constants (finite differences)
SMOOTH = ("coupling", "omega", "b_offset", "dt")


def _constants(params_type, width: int, dtype=torch.float64, seed: int = 0) -> dict[str, torch.Tensor]:
    """Per-neuron constants near the BASES, each a leaf that wants a gradient."""
    generator = torch.Generator().manual_seed(seed)
    return {name: (BASES[name] + 0.2 * torch.rand(width, generator=generator, dtype=dtype)).requires_grad_()
            for name in model_of(params_type()).constants}


def _grads(output: torch.Tensor, leaves: list[torch.Tensor], seed: int = 1) -> tuple[torch.Tensor, ...]:
    weights = torch.randn(output.shape, dtype=output.dtype, generator=torch.Generator().manual_seed(seed))
    return torch.autograd.grad((output * weights).sum(), leaves)


@pytest.mark.parametrize("params_type", MODEL_PARAMS)
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "atan"])
def test_fused_scan_equals_the_reference_with_gradients_of_every_constant(params_type, surrogate: str) -> None:
    generator = torch.Generator().manual_seed(2)
    current = (torch.randn(17, 5, 7, generator=generator, dtype=torch.float64) * 2).requires_grad_()
    constants = _constants(params_type, 7)
    params = params_type(**constants, surrogate=surrogate)
    expected, _ = neuron_scan(current, params)
    got = fused_scan(current, params)
    assert torch.equal(got, expected) and 0 < expected.mean() < 1
    leaves = [current, *constants.values()]
    for mine, theirs in zip(_grads(got, leaves), _grads(expected, leaves)):
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)
        assert theirs.abs().sum() > 0


@pytest.mark.parametrize("params_type", MODEL_PARAMS)
def test_fused_scan_float32_spikes_are_the_reference_bits(params_type) -> None:
    generator = torch.Generator().manual_seed(3)
    current = torch.randn(30, 4, 3, 5, generator=generator) * 2  # a [C, H, W]-like neuron shape
    params = params_type(**{name: value.detach().float().reshape(1, 5).expand(3, 5)
                            for name, value in _constants(params_type, 5).items()})
    assert torch.equal(fused_scan(current, params), neuron_scan(current, params)[0])


@pytest.mark.parametrize("params_type", MODEL_PARAMS)
def test_event_layer_equals_the_reference_layer_for_every_model(params_type) -> None:
    generator = torch.Generator().manual_seed(4)
    dense = (torch.rand(9, 13, 30, generator=generator) < 0.3).double()  # 13 samples: a group of 8 and a part
    torch.manual_seed(5)
    linear = torch.nn.Linear(30, 20).double()
    with torch.no_grad():
        linear.weight.mul_(3.0)
    constants = _constants(params_type, 20, seed=6)
    params = params_type(**constants)
    expected = reference_layer(dense, linear, params)
    got = event_lif_layer(events_from_dense(dense), linear.weight, linear.bias, params)
    assert torch.equal(got, expected) and 0 < expected.mean() < 1
    leaves = [linear.weight, linear.bias, *constants.values()]
    for mine, theirs in zip(_grads(got, leaves), _grads(expected, leaves)):
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)


def test_a_learnable_lif_tau_gets_its_gradient_on_the_fast_engine() -> None:
    # Once silently dropped: LIFParams(tau=nn.Parameter) gave tau.grad = None on the fast engine.
    dense = (torch.rand(12, 4, 10, generator=torch.Generator().manual_seed(7)) < 0.4).double()
    torch.manual_seed(8)
    linear = torch.nn.Linear(10, 6).double()
    grads = []
    for run in (lambda p: reference_layer(dense, linear, p),
                lambda p: event_lif_layer(events_from_dense(dense), linear.weight, linear.bias, p)):
        tau = torch.nn.Parameter(torch.tensor(3.0, dtype=torch.float64))
        params = LIFParams(tau=tau, threshold=0.3)
        assert not plain_lif(params)
        run(params).sum().backward()
        grads.append(tau.grad)
    assert grads[1] is not None and grads[0] != 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-10, atol=1e-12)


def test_inference_keeps_nothing_and_gives_the_training_spikes() -> None:
    current = torch.randn(40, 3, 8, generator=torch.Generator().manual_seed(9)) * 2
    params = ALIFParams(tau_adapt=torch.full((8,), 5.0))
    with torch.no_grad():
        inferred = fused_scan(current, params)
    assert torch.equal(inferred, fused_scan(current.requires_grad_(), params).detach())


# BRF's spike feeds its refractory variable (the next steps' threshold and damping), a surrogate path that finite
# differences cannot see and that, unlike ALIF's beta and adLIF's jump, no constant turns off: its gradients are
# checked against the reference's autograd (the equality tests above), its smooth part against closed forms
# (tests/dynamics/test_brf.py).
SMOOTH_BELOW_THRESHOLD = [params for params in MODEL_PARAMS if params is not BRFParams]


@pytest.mark.parametrize("params_type", SMOOTH_BELOW_THRESHOLD)
def test_fused_scan_gradients_match_finite_differences_below_threshold(params_type) -> None:
    """Below threshold nothing fires, so every V_pre[t] is a smooth function of the currents and the time
    constants, and the surrogate gradient of sum(g * S) must be sum(g * f'(V_pre - threshold) * dV_pre/dx) for
    every input x: dV_pre/dx by central differences of the reference step's membrane (``trace_neurons``)."""
    check_finite_differences_below_threshold(params_type, fused_scan)


def check_finite_differences_below_threshold(params_type, scan) -> None:
    """``scan(current, params)`` -> spikes, checked as the test above says (shared with ``test_recurrent``)."""
    generator = torch.Generator().manual_seed(7)
    current = torch.randn(6, 2, 3, generator=generator, dtype=torch.float64).requires_grad_()
    constants = _constants(params_type, 3, seed=8)
    constants["threshold"] = torch.full((3,), 50.0, dtype=torch.float64)  # out of reach
    for name in ("beta", "jump"):  # ALIF's S -> a -> threshold, adLIF's S -> w -> V: surrogate paths FD cannot see
        if name in constants:
            constants[name] = torch.zeros(3, dtype=torch.float64)
    params = params_type(**constants, slope=0.5)
    weights = torch.randn(current.shape, generator=generator, dtype=torch.float64)
    spikes = scan(current, params)
    assert not spikes.any()
    leaves = {"current": current, **{name: constants[name] for name in model_of(params).constants
                                     if name in model_of(params).time_constants or name in SMOOTH}}
    got = dict(zip(leaves, torch.autograd.grad((spikes * weights).sum(), list(leaves.values()))))

    def membrane(**changed: torch.Tensor) -> torch.Tensor:
        values = {**leaves, **changed}
        changed_params = params._replace(**{name: values[name] for name in leaves if name != "current"})
        return trace_neurons(torch.nn.Identity(), values["current"], changed_params, (3,)).membrane

    with torch.no_grad():
        pre = membrane()
        factor = weights * surrogate_derivative(pre - 50.0, params.surrogate, params.slope)
        for name, leaf in leaves.items():
            expected = torch.zeros_like(leaf)
            for index in range(leaf.numel()):
                step = torch.zeros_like(leaf).view(-1)
                step[index] = 1e-6
                step = step.view_as(leaf)
                slope_here = (membrane(**{name: leaf + step}) - membrane(**{name: leaf - step})) / 2e-6
                expected.view(-1)[index] = (factor * slope_here).sum()
            torch.testing.assert_close(got[name], expected, rtol=1e-6, atol=1e-9)
            assert expected.abs().sum() > 0 or name == "tau_adapt"  # no spike: the adaptation stays 0
