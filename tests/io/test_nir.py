"""NIR export/import: the LIF and CubaLIF mappings, bit-identical round trips (per-neuron constants too), folding
r and v_leak, and clear refusals."""

from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from spikekit.dynamics.cuba import CubaLIFParams, CubaLIFState, cuba_step
from spikekit.dynamics.lif import LIFParams
from spikekit.io.nir import (
    NIRError,
    cuba_from_nir,
    cuba_to_nir,
    from_nir,
    lif_from_nir,
    lif_to_nir,
    read_nir,
    to_nir,
    write_nir,
)
from spikekit.nn import SNN
from spikekit.nn.neurons import LIF, CubaLIF


def _input_spikes(num_steps: int, batch: int, size: int, seed: int = 0) -> torch.Tensor:
    return (torch.rand(num_steps, batch, size, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


def _model(params, sizes=(20, 12, 5), seed: int = 0) -> SNN:
    torch.manual_seed(seed)
    model = SNN(sizes, params, engine="reference", input_shape=(20,) if isinstance(sizes, str) else None)
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


def test_r_and_v_leak_fold_into_weights_and_bias_and_constants_stay_per_neuron() -> None:
    # A NIR LIF with per-neuron r, tau and threshold and a leak potential, against its ODE stepped directly (float64).
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(0, 0.6, (6, 10)), rng.normal(0, 0.1, 6)
    r, v_leak, dt = rng.uniform(0.5, 2.0, 6), np.full(6, 0.15), 1e-3
    tau, threshold = rng.uniform(2e-3, 6e-3, 6), rng.uniform(0.7, 1.1, 6)
    graph = nir.NIRGraph.from_list(nir.Input(input_type={"input": np.array([10])}), nir.Affine(weight, bias),
                                   nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=threshold, v_reset=np.zeros(6)),
                                   nir.Output(output_type={"output": np.array([6])}))
    model = from_nir(graph, dt=dt, engine="reference")
    params = model.layers[0].params
    assert torch.equal(params.tau, torch.from_numpy((tau / dt).astype(np.float32)))
    assert torch.equal(params.threshold, torch.from_numpy(threshold.astype(np.float32))) and params.reset == 0.0
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


def _cuba(n: int = 3, **changes) -> nir.CubaLIF:
    fields = dict(tau_syn=np.full(n, 2e-4), tau_mem=np.full(n, 3e-4), r=np.ones(n), v_leak=np.zeros(n),
                  v_threshold=np.ones(n), v_reset=np.zeros(n), w_in=np.ones(n))
    return nir.CubaLIF(**(fields | changes))


def _affine() -> nir.Affine:
    return nir.Affine(np.ones((3, 4)), np.zeros(3))


@pytest.mark.parametrize(("graph", "message"), [
    (lambda: _chain(_affine(), nir.IF(r=np.ones(3), v_threshold=np.ones(3))),
     "node 'n1' is a IF; spikekit layers are a synapse followed by LIF or CubaLIF neurons"),
    (lambda: _chain(nir.Conv1d(None, np.ones((3, 4, 1)), 1, 0, 1, 1, np.zeros(3)), _lif()), "'n0' is a Conv1d"),
    (lambda: _chain(_affine(), _lif(2)), r"'n1': tau has shape \[2\], which does not fit the \[3\] neurons"),
    (lambda: _chain(_affine(), _lif(tau=np.full(3, 1e-4))), "'n1' with dt=0.0001: tau must be > 1"),
    (lambda: _chain(_affine(), _lif(tau=np.array([2e-4, 1e-4, 3e-4]))), "'n1' with dt=0.0001: tau must be > 1"),
    (lambda: _chain(_affine()), "'n0' .Affine. is not followed by LIF or CubaLIF neurons"),
    (lambda: _chain(_affine(), _cuba(v_leak=np.array([0.0, 0.1, 0.0]))), "'n1': v_leak must be 0 in a CubaLIF"),
    (lambda: _chain(_affine(), _cuba(w_in=np.array([1.0, -1.0, 1.0]))), r"'n1': r \* w_in must be > 0"),
    (lambda: _chain(_affine(), _cuba(tau_syn=np.full(3, 1e-4))), "'n1' with dt=0.0001: tau_syn must be > 1"),
    (lambda: _chain(_affine(), _cuba(v_reset=np.full(3, 2.0))), "'n1' with dt=0.0001: reset must be below"),
])
def test_unsupported_graphs_name_the_node_in_one_line(graph, message: str) -> None:
    with pytest.raises(NIRError, match=message) as error:
        from_nir(graph())
    assert "\n" not in str(error.value)


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


@pytest.mark.parametrize(("arch", "input_shape", "message"), [
    ("16a-10", (20,), "layer 1 has alif neurons and cannot be exported: NIR has no adaptive LIF node"),
    ("16s-10a", (20,), "layer 2 has alif neurons and cannot be exported: NIR has no adaptive LIF node"),
    ("2c3a-10", (1, 6, 6), "layer 1 has alif neurons and cannot be exported: NIR has no adaptive LIF node"),
    ("16rb-10", (20,), "layer 1 has brf neurons and cannot be exported: NIR has no resonate-and-fire node"),
])
def test_alif_layers_are_refused_naming_the_layer(arch: str, input_shape: tuple, message: str) -> None:
    with pytest.raises(NIRError, match=message) as error:
        to_nir(SNN(arch, input_shape=input_shape))
    assert "\n" not in str(error.value)


def test_per_neuron_and_learned_lif_constants_are_written_per_neuron() -> None:
    from spikekit.nn.neurons import LIF

    model = SNN("4-3", [LIF(shape=4, learn=("tau",), tau=3.0), LIF(tau=torch.tensor([2.0, 2.5, 4.0]))],
                input_shape=(6,))
    graph = to_nir(model, dt=1e-3)
    assert np.allclose(graph.nodes["lif1"].tau, 3e-3) and graph.nodes["lif1"].tau.shape == (4,)
    assert np.allclose(graph.nodes["lif2"].tau, [2e-3, 2.5e-3, 4e-3])


def test_per_neuron_and_learned_cuba_constants_are_written_per_neuron() -> None:
    model = SNN("4s-3s", [CubaLIF(shape=4, learn=("tau_syn",), tau_syn=3.0),
                          CubaLIF(tau=torch.tensor([2.0, 2.5, 4.0]), threshold=0.5)], input_shape=(6,))
    graph = to_nir(model, dt=1e-3)
    first, second = graph.nodes["cubalif1"], graph.nodes["cubalif2"]
    assert np.allclose(first.tau_syn, 3e-3) and np.allclose(first.w_in, 3.0) and first.tau_syn.shape == (4,)
    assert np.allclose(second.tau_mem, [2e-3, 2.5e-3, 4e-3]) and np.array_equal(second.r, [2.0, 2.5, 4.0])
    assert np.array_equal(second.v_threshold, 0.5 * np.array([2.0, 2.5, 4.0]) * 2.0)  # threshold * tau * tau_syn


@pytest.mark.parametrize("dt", [1e-4, 1e-3, 0.5])
def test_cuba_mapping_follows_the_euler_derivation(dt: float) -> None:
    params = CubaLIFParams(tau=3.0, threshold=0.75, reset=-0.25, tau_syn=2.5)
    node = cuba_to_nir(params, 4, dt)
    scale = 3.0 * 2.5  # r * w_in: NIR's v is spikekit's V times this
    assert np.all(node.tau_mem == 3.0 * dt) and np.all(node.tau_syn == 2.5 * dt) and np.all(node.v_leak == 0)
    assert np.all(node.r == 3.0) and np.all(node.w_in == 2.5)
    assert np.all(node.v_threshold == 0.75 * scale) and np.all(node.v_reset == -0.25 * scale)
    back, weight_scale, bias_shift = cuba_from_nir(node, "cubalif", 4, dt)
    assert back == params and np.all(weight_scale == 1) and np.all(bias_shift == 0)
    # One Euler step of NIR's ODEs, the membrane reading this step's J, from spikekit's state in NIR's units
    # (J_nir = w_in J, v = r w_in V) is spikekit's step in the same units.
    synaptic, membrane, current = 0.4, 0.3, 0.9
    _, state = cuba_step(torch.tensor([[current]], dtype=torch.float64),
                         CubaLIFState(torch.tensor([[synaptic]], dtype=torch.float64),
                                      torch.tensor([[membrane]], dtype=torch.float64)), params._replace(threshold=1e9))
    w_in, r = node.w_in[0], node.r[0]
    j = w_in * synaptic + dt / node.tau_syn[0] * (w_in * current - w_in * synaptic)
    v = scale * membrane + dt / node.tau_mem[0] * (node.v_leak[0] - scale * membrane + r * j)
    assert j == pytest.approx(w_in * state.synaptic.item(), rel=1e-12)
    assert v == pytest.approx(scale * state.membrane.item(), rel=1e-12)


def _same_constants(mine, theirs) -> bool:
    return type(mine) is type(theirs) and all(
        (isinstance(b, torch.Tensor) and torch.equal(a, b)) if isinstance(a, torch.Tensor) else a == b
        for a, b in zip(mine, theirs))


_CUBA_NETWORKS = {  # arch, then the neurons of each spiking layer
    "shared": ("12s-8s-5s", lambda: CubaLIFParams(tau=3.0, threshold=0.7, reset=-0.25, tau_syn=2.5)),
    "per-layer and per-neuron": ("12s-8-5s", lambda: [
        CubaLIF(tau=torch.linspace(1.5, 6.0, 12), threshold=torch.linspace(0.5, 1.5, 12), tau_syn=3.0),
        LIF(tau=3.0, reset=-0.2), CubaLIF(tau_syn=torch.tensor([1.5, 2.0, 3.0, 4.0, 8.0]), reset=-0.5)]),
}


@pytest.mark.parametrize("network", list(_CUBA_NETWORKS))
@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_cuba_round_trip_through_a_file_is_bit_identical(tmp_path: Path, network: str, engine: str) -> None:
    arch, neurons = _CUBA_NETWORKS[network]
    model = _model(neurons(), sizes=arch)
    write_nir(tmp_path / "cuba.nir", to_nir(model))
    graph = read_nir(tmp_path / "cuba.nir")
    assert [type(graph.nodes[name]).__name__ for name in ("cubalif1", "cubalif3")] == ["CubaLIF", "CubaLIF"]
    back = from_nir(graph, engine=engine)
    assert back.arch == model.arch.replace("8-", "8s-" if network == "shared" else "8-")
    for original, copy in zip(model.spiking_layers, back.spiking_layers):
        assert torch.equal(original.linear.weight, copy.linear.weight)
        assert torch.equal(original.linear.bias, copy.linear.bias)
        assert _same_constants(original.params, copy.params), (original.params, copy.params)
    spikes = _input_spikes(30, 16, 20)
    model.engine = engine
    for mine, theirs in zip(model.layer_spikes(spikes), back.layer_spikes(spikes)):
        assert torch.equal(mine, theirs) and mine.sum() > 0


def test_general_cubalif_node_matches_its_euler_steps() -> None:
    # Per-neuron time constants, thresholds, r and w_in at dt = 1 ms, against NIR's ODEs stepped directly (float64),
    # the membrane reading the synaptic current of the same step.
    rng = np.random.default_rng(1)
    weight, bias, dt = rng.normal(0, 0.8, (6, 10)), rng.normal(0, 0.1, 6), 1e-3
    tau_syn, tau_mem = rng.uniform(1.5e-3, 4e-3, 6), rng.uniform(2e-3, 6e-3, 6)
    r, w_in, threshold = rng.uniform(0.5, 2.0, 6), rng.uniform(0.5, 2.0, 6), rng.uniform(0.2, 0.5, 6)
    node = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=np.zeros(6), v_threshold=threshold,
                       v_reset=np.zeros(6), w_in=w_in)
    graph = nir.NIRGraph.from_list(nir.Input(input_type={"input": np.array([10])}), nir.Affine(weight, bias), node,
                                   nir.Output(output_type={"output": np.array([6])}))
    model = from_nir(graph, dt=dt, engine="reference")
    assert model.arch == "6s" and torch.equal(model.layers[0].params.tau_syn,
                                              torch.from_numpy((tau_syn / dt).astype(np.float32)))
    spikes = _input_spikes(40, 8, 10, seed=3)
    ours = model.layer_spikes(spikes)[0].detach().numpy()
    synaptic, v, expected = np.zeros((8, 6)), np.zeros((8, 6)), []
    for x in spikes.double().numpy():
        synaptic = synaptic + dt / tau_syn * (w_in * (x @ weight.T + bias) - synaptic)
        v = v + dt / tau_mem * (-v + r * synaptic)
        fired = v > threshold
        v = np.where(fired, 0.0, v)
        expected.append(fired)
    assert np.array_equal(ours, np.array(expected, dtype=np.float32)) and ours.sum() > 0


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_conv_layers_take_per_neuron_constants(tmp_path: Path, engine: str) -> None:
    torch.manual_seed(0)
    threshold = torch.rand(4, 8, 8) * 0.5 + 0.4
    tau_syn = torch.tensor([1.5, 2.0, 3.0, 4.0])[:, None, None]  # per channel
    model = SNN("4c3s-a2-5", [CubaLIF(threshold=threshold, tau_syn=tau_syn), LIF(tau=3.0)], "reference", (2, 8, 8))
    with torch.no_grad():
        model.layers[0].conv.bias.add_(0.4)
        model.layers[-1].linear.weight.mul_(4)
    write_nir(tmp_path / "conv.nir", to_nir(model))
    back = from_nir(read_nir(tmp_path / "conv.nir"), engine=engine)
    params = back.layers[0].params
    assert torch.equal(params.threshold, threshold) and torch.equal(params.tau_syn, tau_syn.expand(4, 8, 8))
    spikes = _input_spikes(12, 6, 128)
    model.engine = engine
    for mine, theirs in zip(model.layer_spikes(spikes), back.layer_spikes(spikes)):
        assert torch.equal(mine, theirs) and mine.sum() > 0
