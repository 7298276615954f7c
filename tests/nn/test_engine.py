"""use_engine: one call sets the engine of every spikekit layer in a model; a layer's forward runs its own."""

import pytest
import torch

import spikekit as sk
from spikekit.nn import use_engine


class _Own(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = sk.SNNLayer(6, 5, sk.LIF(tau=1.5, threshold=0.3))
        self.conv = sk.ConvLayer(1, 2, 3)
        self.head = torch.nn.Linear(5, 2)


def test_use_engine_sets_every_layer_and_the_layer_runs_it(monkeypatch) -> None:
    model = _Own()
    assert (model.first.engine, model.conv.engine) == ("fast", "fast")
    assert use_engine(model, "reference") is model
    assert (model.first.engine, model.conv.engine) == ("reference", "reference")
    called = []
    monkeypatch.setitem(sk.nn.layer.ENGINES, "reference",
                        lambda inputs, linear, params: called.append("reference") or torch.zeros(1))
    model.first(torch.zeros(2, 1, 6))
    assert called == ["reference"]


def test_both_engines_give_the_same_spikes_through_use_engine() -> None:
    torch.manual_seed(0)
    model = _Own().double()
    inputs = (torch.rand(7, 3, 6, dtype=torch.float64) < 0.5).double()
    fast = model.first(inputs)
    reference = use_engine(model, "reference").first(inputs)
    assert torch.equal(fast, reference) and 0 < fast.mean() < 1


def test_an_unknown_engine_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match="unknown engine 'gpu'; choose one of reference, fast"):
        use_engine(_Own(), "gpu")
    with pytest.raises(ValueError, match="unknown engine"):
        sk.SNNLayer(3, 2, engine="slow")
