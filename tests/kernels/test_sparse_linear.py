"""sparse_linear: the product made from the input's nonzeros equals nn.functional.linear, forward and backward."""

import pytest
import torch
import torch.nn.functional as F

from spikekit.dynamics.lif import LIFParams
from spikekit.kernels import ENGINES
from spikekit.kernels.sparse_linear import DENSITY, sparse_linear, supports_sparse_linear


def _inputs(values: list[float], density: float, shape=(5, 7, 40), seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    choice = torch.randint(len(values), shape, generator=generator)
    kept = torch.rand(shape, generator=generator, dtype=torch.float64) < density
    return torch.tensor(values, dtype=torch.float64)[choice] * kept


@pytest.mark.parametrize("values", [[1.0], [1.25], [1.0, 2.0, -0.5]], ids=["spikes", "after dropout", "mixed"])
def test_equals_the_dense_product_forward_and_backward(values: list[float]) -> None:
    inputs = _inputs(values, 0.15).requires_grad_()
    torch.manual_seed(1)
    linear = torch.nn.Linear(40, 130).double()  # N past one 128-wide block of the row intrinsics
    expected = F.linear(inputs, linear.weight, linear.bias)
    got = sparse_linear(inputs, linear.weight, linear.bias)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    weights = torch.randn(expected.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    leaves = [inputs, linear.weight, linear.bias]
    for mine, theirs in zip(torch.autograd.grad((got * weights).sum(), leaves),
                            torch.autograd.grad((expected * weights).sum(), leaves)):
        torch.testing.assert_close(mine, theirs, rtol=1e-12, atol=1e-12)
        assert theirs.abs().sum() > 0


def test_rows_without_a_nonzero_get_the_bias() -> None:
    inputs = torch.zeros(3, 2, 8)
    inputs[1, 0, 3] = 1.0
    linear = torch.nn.Linear(8, 4)
    got = sparse_linear(inputs, linear.weight, linear.bias)
    torch.testing.assert_close(got, F.linear(inputs, linear.weight, linear.bias))
    assert torch.equal(got[0, 0], linear.bias.detach())


def test_runs_only_for_sparse_cpu_float_inputs() -> None:
    weight, bias = torch.zeros(16, 40), torch.zeros(16)  # 16 outputs: one whole vector of float32
    assert supports_sparse_linear(_inputs([1.0], DENSITY / 2).float(), weight, bias)
    assert not supports_sparse_linear(_inputs([1.0], 0.6).float(), weight, bias)  # dense: the GEMM
    assert not supports_sparse_linear(_inputs([1.0], 0.1).float(), weight, None)
    assert not supports_sparse_linear(_inputs([1.0], 0.1), weight, bias)  # float64 input, float32 weight


def test_narrow_ragged_outputs_need_fewer_nonzeros() -> None:
    # 20 float32 outputs are computed as 8 masked vectors (128 lanes): the nonzeros pay off only below
    # DENSITY * 20 / 128; 32 outputs are two whole vectors, the full DENSITY.
    inputs = _inputs([1.0], 0.1).float()
    assert not supports_sparse_linear(inputs, torch.zeros(20, 40), torch.zeros(20))
    assert supports_sparse_linear(inputs, torch.zeros(32, 40), torch.zeros(32))
    assert supports_sparse_linear(_inputs([1.0], 0.02).float(), torch.zeros(20, 40), torch.zeros(20))


def test_the_fast_layer_on_sparse_dense_inputs_equals_the_reference() -> None:
    # A layer fed another layer's spikes after dropout (dense, 0 or 1/(1-p)): made from the nonzeros.
    inputs = _inputs([1.25], 0.1, shape=(9, 6, 40)).requires_grad_()
    torch.manual_seed(3)
    linear = torch.nn.Linear(40, 24).double()  # 3 whole vectors of float64
    with torch.no_grad():
        linear.weight.mul_(4.0)
    assert supports_sparse_linear(inputs, linear.weight, linear.bias)
    params = LIFParams(tau=1.5, threshold=0.5)
    expected = ENGINES["reference"](inputs, linear, params)
    got = ENGINES["fast"](inputs, linear, params)
    assert torch.equal(got, expected) and 0 < expected.mean() < 1
    weights = torch.randn(expected.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    leaves = [inputs, linear.weight, linear.bias]
    for mine, theirs in zip(torch.autograd.grad((got * weights).sum(), leaves),
                            torch.autograd.grad((expected * weights).sum(), leaves)):
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)
