"""NIR export/import: the LIF mapping, bit-identical round trips, folding r and v_leak, and clear refusals."""

from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from spikekit.dynamics.lif import LIFParams
from spikekit.io.nir import NIRError, from_nir, lif_from_nir, lif_to_nir, read_nir, to_nir, write_nir
from spikekit.nn import SNN


def _input_spikes(num_steps: int, batch: int, size: int, seed: int = 0) -> torch.Tensor:
    return (torch.rand(num_steps, batch, size, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


def _model(params: LIFParams, sizes=(20, 12, 5), seed: int = 0) -> SNN:
    torch.manual_seed(seed)
    model = SNN(sizes, params, engine="reference")
    with torch.no_grad():
        for layer in model.layers:  # strong enough that every layer spikes
            layer.linear.weight.mul_(4)
            layer.linear.bias.add_(1.2)
    return model


@pytest.mark.parametrize("dt", [1e-4, 1e-3, 0.5])
def test_lif_mapping_follows_the_euler_derivation(dt: float) -> None:
    params = LIFParams(tau=3.0, threshold=0.8, reset=-0.1)
    node = lif_to_nir(params, 4, dt)
    assert np.allclose(node.tau, 3.0 * dt, rtol=0, atol=0) and np.all(node.r == 1) and np.all(node.v_leak == 0)
    assert np.all(node.v_threshold == 0.8) and np.all(node.v_reset == -0.1)
    back, r, v_leak = lif_from_nir(node, "lif", 4, dt)
    assert back == params and np.all(r == 1) and np.all(v_leak == 0)
    # One Euler step of NIR's ODE from v with input I equals spikekit's V + (I - V)/tau.
    v, current = 0.3, 0.9
    nir_step = v + dt / node.tau[0] * (node.v_leak[0] - v + node.r[0] * current)
    assert nir_step == pytest.approx(v + (current - v) / params.tau, rel=1e-12)


@pytest.mark.parametrize("params", [LIFParams(), LIFParams(tau=3.0, threshold=0.7, reset=-0.25),
                                    LIFParams(tau=7.5, threshold=1.3, reset=0.2)])
@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_round_trip_through_a_file_is_bit_identical(tmp_path: Path, params: LIFParams, engine: str) -> None:
    model = _model(params, sizes=(20, 12, 8, 5))
    path = tmp_path / "net.nir"
    write_nir(path, to_nir(model))
    graph = read_nir(path)
    assert graph.metadata["dt"] == 1e-4 and "v >= v_threshold" in graph.metadata["spike"]
    back = from_nir(graph, engine=engine)
    for original, copy in zip(model.layers, back.layers):
        assert torch.equal(original.linear.weight, copy.linear.weight)
        assert torch.equal(original.linear.bias, copy.linear.bias)
        assert copy.params == params
    spikes = _input_spikes(30, 16, 20)
    model.engine = engine
    for mine, theirs in zip(model.layer_spikes(spikes), back.layer_spikes(spikes)):
        assert torch.equal(mine, theirs)
    assert all(layer.sum() > 0 for layer in model.layer_spikes(spikes))  # the comparison saw spikes


def test_r_and_v_leak_fold_into_weights_and_bias() -> None:
    # A NIR LIF with per-neuron r and a leak potential, against its ODE stepped directly (float64).
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(0, 0.6, (6, 10)), rng.normal(0, 0.1, 6)
    r, v_leak, tau, threshold, dt = rng.uniform(0.5, 2.0, 6), np.full(6, 0.15), 4e-3, 0.93, 1e-3
    graph = nir.NIRGraph.from_list(nir.Input(input_type={"input": np.array([10])}), nir.Affine(weight, bias),
                                   nir.LIF(tau=np.full(6, tau), r=r, v_leak=v_leak, v_threshold=np.full(6, threshold),
                                           v_reset=np.zeros(6)), nir.Output(output_type={"output": np.array([6])}))
    model = from_nir(graph, dt=dt, engine="reference")
    spikes = _input_spikes(40, 8, 10, seed=3)
    ours = model.layer_spikes(spikes)[0].detach().numpy()
    v = np.zeros((8, 6))
    expected = []
    for x in spikes.double().numpy():
        v = v + dt / tau * (v_leak - v + r * (x @ weight.T + bias))
        fired = v > threshold
        v = np.where(fired, 0.0, v)
        expected.append(fired)
    assert np.array_equal(ours, np.array(expected, dtype=np.float32)) and ours.sum() > 0


def _chain(*middle) -> nir.NIRGraph:
    nodes = [nir.Input(input_type={"input": np.array([4])}), *middle, nir.Output(output_type={"output": np.array([3])})]
    names = ["input", *(f"n{i}" for i in range(len(middle))), "output"]
    return nir.NIRGraph(nodes=dict(zip(names, nodes)), edges=list(zip(names, names[1:])), type_check=False)


def _lif(n: int = 3, **changes) -> nir.LIF:
    fields = dict(tau=np.full(n, 2e-4), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))
    return nir.LIF(**(fields | changes))


@pytest.mark.parametrize(("graph", "message"), [
    (lambda: _chain(nir.Affine(np.ones((3, 4)), np.zeros(3)),
                    nir.CubaLIF(tau_syn=np.ones(3), tau_mem=np.ones(3), r=np.ones(3), v_leak=np.zeros(3),
                                v_threshold=np.ones(3))), "is a CubaLIF"),
    (lambda: _chain(nir.Conv1d(None, np.ones((3, 4, 1)), 1, 0, 1, 1, np.zeros(3)), _lif()), "is a Conv1d"),
    (lambda: _chain(nir.Affine(np.ones((3, 4)), np.zeros(3)), _lif(tau=np.array([2e-4, 3e-4, 2e-4]))),
     "tau differs between neurons"),
    (lambda: _chain(nir.Affine(np.ones((3, 4)), np.zeros(3)), _lif(tau=np.full(3, 1e-4))), "tau must be > 1"),
    (lambda: _chain(nir.Affine(np.ones((3, 4)), np.zeros(3))), "is not followed by a LIF"),
])
def test_unsupported_graphs_name_the_node(graph, message: str) -> None:
    with pytest.raises(NIRError, match=message):
        from_nir(graph())


def test_recurrent_edge_is_refused() -> None:
    graph = _chain(nir.Affine(np.ones((3, 4)), np.zeros(3)), _lif())
    graph.edges.append(("n1", "n0"))
    with pytest.raises(NIRError, match="'n1' feeds 2 nodes"):
        from_nir(graph)


def test_unreadable_files_and_bad_dt(tmp_path: Path) -> None:
    with pytest.raises(NIRError, match="no such NIR file"):
        read_nir(tmp_path / "missing.nir")
    (tmp_path / "junk.nir").write_bytes(b"not hdf5 at all")
    with pytest.raises(NIRError, match="not a readable NIR file"):
        read_nir(tmp_path / "junk.nir")
    with pytest.raises(NIRError, match="dt must be"):
        to_nir(SNN((4, 3)), dt=0.0)


def _conv_model(arch: str, seed: int = 0) -> SNN:
    torch.manual_seed(seed)
    params = [LIFParams(threshold=0.6), LIFParams(tau=3.0), LIFParams(reset=-0.1)][-arch.count("c") - 1:]
    model = SNN(arch, params, "reference", (2, 8, 8))
    with torch.no_grad():  # strong enough that every layer spikes
        model.spiking_layers[-1].linear.weight.mul_(4)
        for layer in model.spiking_layers:
            (layer.linear if hasattr(layer, "linear") else layer.conv).bias.add_(0.4)
    return model


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_conv_network_round_trip_through_a_file_is_bit_identical(tmp_path: Path, engine: str) -> None:
    model = _conv_model("4c3-a2-6c3-s2-5")
    write_nir(tmp_path / "conv.nir", to_nir(model))
    graph = read_nir(tmp_path / "conv.nir")
    following, name, kinds = dict(graph.edges), "input", ["Input"]
    while name in following:
        name = following[name]
        kinds.append(type(graph.nodes[name]).__name__)
    assert kinds == ["Input", "Conv2d", "LIF", "AvgPool2d", "Conv2d", "LIF", "SumPool2d", "Flatten", "Affine", "LIF",
                     "Output"]
    back = from_nir(graph, engine=engine)
    assert back.arch == model.arch and back.input_shape == model.input_shape
    for original, copy in zip(model.parameters(), back.parameters()):
        assert torch.equal(original, copy)
    assert [layer.params for layer in back.spiking_layers] == [layer.params for layer in model.spiking_layers]
    spikes = _input_spikes(12, 6, 128)
    model.engine = engine
    for mine, theirs in zip(model.layer_spikes(spikes), back.layer_spikes(spikes)):
        assert torch.equal(mine, theirs) and mine.sum() > 0


def test_conv_lif_r_and_v_leak_fold_per_channel() -> None:
    graph = to_nir(_conv_model("4c3-a2-5"))
    lif = graph.nodes["lif1"]
    lif.r = np.broadcast_to(np.array([1.0, 2.0, 0.5, 1.5])[:, None, None], (4, 8, 8)).copy()
    lif.v_leak = np.broadcast_to(np.array([0.0, 0.1, -0.2, 0.3])[:, None, None], (4, 8, 8)).copy()
    back = from_nir(graph)
    original = _conv_model("4c3-a2-5")
    r, v_leak = torch.tensor([1.0, 2.0, 0.5, 1.5]), torch.tensor([0.0, 0.1, -0.2, 0.3])
    expected_weight = original.layers[0].conv.weight.double() * r.double()[:, None, None, None]
    torch.testing.assert_close(back.layers[0].conv.weight.double(), expected_weight.float().double())
    torch.testing.assert_close(back.layers[0].conv.bias, original.layers[0].conv.bias * r + v_leak)
    lif.r = np.random.default_rng(0).uniform(0.5, 2, (4, 8, 8))
    with pytest.raises(NIRError, match="'lif1': r differs within a channel"):
        from_nir(graph)


def test_max_pooling_cannot_go_to_nir() -> None:
    with pytest.raises(NIRError, match="layer 2 is a max pooling, which NIR cannot represent"):
        to_nir(_conv_model("4c3-p2-5"))


@pytest.mark.parametrize(("node", "message"), [
    (nir.Conv2d((8, 8), np.ones((4, 2, 3, 3)), 2, 1, 1, 1, np.zeros(4)), "stride 1, 'same' padding"),
    (nir.Conv2d((8, 8), np.ones((4, 2, 4, 4)), 1, 2, 1, 1, np.zeros(4)), "odd square kernel"),
    (nir.AvgPool2d(np.array([2, 2]), np.array([1, 1]), np.array([0, 0])), "stride = window"),
])
def test_unsupported_conv_graphs_name_the_node(node, message: str) -> None:
    nodes = {"input": nir.Input(input_type={"input": np.array([2, 8, 8])}), "n0": node,
             "n1": _lif(4 * 8 * 8), "output": nir.Output(output_type={"output": np.array([3])})}
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(nodes, list(nodes)[1:])), type_check=False)
    with pytest.raises(NIRError, match=f"'n0'.*{message}"):
        from_nir(graph)


@pytest.mark.parametrize(("arch", "message"), [
    ("16a-10", "layer 1 has alif neurons and cannot be exported: NIR has no adaptive LIF node"),
    ("16-10s", "layer 2 has cuba neurons and cannot be exported: spikekit does not write NIR's CubaLIF node yet"),
])
def test_layers_nir_cannot_hold_are_refused_naming_the_layer(arch: str, message: str) -> None:
    with pytest.raises(NIRError, match=message):
        to_nir(SNN(arch, input_shape=(20,)))


def test_per_neuron_and_learned_lif_constants_are_written_per_neuron() -> None:
    from spikekit.nn.neurons import LIF

    model = SNN("4-3", [LIF(shape=4, learn=("tau",), tau=3.0), LIF(tau=torch.tensor([2.0, 2.5, 4.0]))],
                input_shape=(6,))
    graph = to_nir(model, dt=1e-3)
    assert np.allclose(graph.nodes["lif1"].tau, 3e-3) and graph.nodes["lif1"].tau.shape == (4,)
    assert np.allclose(graph.nodes["lif2"].tau, [2e-3, 2.5e-3, 4e-3])
