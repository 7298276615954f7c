"""NIR export/import of recurrent layers: the loop in the graph, the units of a LIF on a loop, bit-identical round
trips (LIF, CubaLIF, per-neuron constants, a recurrent output layer, through the CLI too), a general NIR loop
against its Euler steps with the previous step's spikes, and clear refusals."""

from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from spikekit.cli import main
from spikekit.cli.inspect import load_model
from spikekit.dynamics.cuba import CubaLIFParams
from spikekit.dynamics.lif import LIFParams
from spikekit.io.nir import NIRError, from_nir, read_nir, to_nir, write_nir
from spikekit.io.nir_recurrent import lif_from_loop_units
from spikekit.nn import SNN
from spikekit.nn.neurons import LIF, CubaLIF
from spikekit.nn.recurrent import RecurrentLayer


def _input_spikes(num_steps: int = 40, batch: int = 8, size: int = 20, seed: int = 0) -> torch.Tensor:
    return (torch.rand(num_steps, batch, size, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


_NETWORKS = {  # arch, then the neurons of each spiking layer
    "lif": ("16r-5", lambda: LIFParams(tau=3.0, threshold=0.8, reset=-0.1)),
    "cuba": ("16rs-5s", lambda: CubaLIFParams(tau=3.0, threshold=0.7, reset=-0.25, tau_syn=2.5)),
    "per-neuron, recurrent output": ("16r-12rs-5r", lambda: [
        LIF(tau=torch.linspace(1.5, 6.0, 16), threshold=0.9), CubaLIF(tau_syn=3.0, threshold=0.5),
        LIF(tau=2.5, threshold=torch.linspace(0.6, 1.2, 5))]),
}


def _model(network: str) -> SNN:
    arch, neurons = _NETWORKS[network]
    torch.manual_seed(0)
    model = SNN(arch, neurons(), "reference", (20,))
    with torch.no_grad():  # strong enough that every layer spikes
        for layer in model.layers:
            layer.linear.weight.mul_(5)
            layer.linear.bias.add_(0.4)
    return model


def _same_constants(mine, theirs) -> bool:
    return type(mine) is type(theirs) and all(
        torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b for a, b in zip(mine, theirs))


@pytest.mark.parametrize("network", list(_NETWORKS))
def test_round_trip_through_a_file_is_bit_identical(tmp_path: Path, network: str) -> None:
    model = _model(network)
    write_nir(tmp_path / "rnn.nir", to_nir(model))
    graph = read_nir(tmp_path / "rnn.nir")
    # each recurrent layer i: affine{i} -> neurons{i} in the chain, and neurons{i} <-> recurrent{i} (a Linear: U)
    for index, layer in enumerate(model.layers, start=1):
        if not isinstance(layer, RecurrentLayer):
            assert f"recurrent{index}" not in graph.nodes
            continue
        neurons = next(name for name in graph.nodes if name.endswith(f"lif{index}"))
        assert (f"affine{index}", neurons) in graph.edges
        assert {(neurons, f"recurrent{index}"), (f"recurrent{index}", neurons)} <= set(graph.edges)
        assert isinstance(graph.nodes[f"recurrent{index}"], nir.Linear)
        assert np.array_equal(graph.nodes[f"recurrent{index}"].weight, layer.recurrent.weight.detach().numpy())
    assert "U s[t-1]" in graph.metadata["recurrence"]

    back = from_nir(graph, engine="reference")
    assert back.arch == model.arch and [type(layer) for layer in back.layers] == [type(layer) for layer in model.layers]
    for (name, mine), theirs in zip(model.state_dict().items(), back.state_dict().values()):
        assert torch.equal(mine, theirs), name
    for mine, theirs in zip(model.layers, back.layers):
        assert _same_constants(mine.params, theirs.params), (mine.params, theirs.params)
    spikes = _input_spikes()
    for mine, theirs in zip(model.layer_spikes(spikes), back.layer_spikes(spikes)):
        assert torch.equal(mine, theirs) and mine.sum() > 0
    with torch.no_grad():  # and the loop carries something: without U the first layer spikes differently
        back.layers[0].recurrent.weight.zero_()
    assert not torch.equal(back.layer_spikes(spikes)[0], model.layer_spikes(spikes)[0])


@pytest.mark.parametrize("dt", [1e-4, 1e-3])
def test_a_recurrent_lif_is_written_in_units_of_tau(dt: float) -> None:
    model = SNN("4r-3", LIFParams(tau=3.0, threshold=0.8, reset=-0.1), input_shape=(6,))
    node = to_nir(model, dt).nodes["lif1"]
    assert np.allclose(node.tau, 3.0 * dt, rtol=1e-15, atol=0) and np.all(node.r == 3.0) and np.all(node.v_leak == 0)
    assert np.allclose(node.v_threshold, 0.8 * 3.0) and np.allclose(node.v_reset, -0.1 * 3.0)
    assert np.all(to_nir(model, dt).nodes["lif2"].r == 1)  # a feed-forward LIF keeps r = 1
    # NIR's Euler step in these units is spikekit's V + (I - V)/tau, times tau
    v, current = 0.3, 0.9
    nir_step = 3.0 * v + dt / node.tau[0] * (node.v_leak[0] - 3.0 * v + node.r[0] * current)
    assert nir_step == pytest.approx(3.0 * (v + (current - v) / 3.0), rel=1e-12)
    unit = lif_from_loop_units(node, "lif1")
    assert np.all(unit.r == 1) and np.allclose(unit.v_threshold, 0.8) and np.allclose(unit.v_reset, -0.1)


def test_a_general_nir_loop_matches_its_euler_steps_with_the_previous_steps_spikes() -> None:
    # Per-neuron tau, r, thresholds and a leak potential; the loop an Affine with a bias; dt = 1 ms. NIR's ODE is
    # stepped directly (float64), the loop carrying s[t-1] (s[-1] = 0).
    rng = np.random.default_rng(0)
    weight, bias, dt = rng.normal(0, 0.8, (6, 10)), rng.normal(0, 0.1, 6), 1e-3
    loop_weight, loop_bias = rng.normal(0, 0.5, (6, 6)), rng.normal(0, 0.05, 6)
    r, v_leak = rng.uniform(0.5, 2.0, 6), np.full(6, 0.1)
    tau, threshold = rng.uniform(2e-3, 6e-3, 6), rng.uniform(0.6, 1.0, 6)
    nodes = {"input": nir.Input(input_type={"input": np.array([10])}), "affine": nir.Affine(weight, bias),
             "lif": nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=threshold, v_reset=np.zeros(6)),
             "loop": nir.Affine(loop_weight, loop_bias), "output": nir.Output(output_type={"output": np.array([6])})}
    edges = [("input", "affine"), ("affine", "lif"), ("lif", "output"), ("lif", "loop"), ("loop", "lif")]
    model = from_nir(nir.NIRGraph(nodes=nodes, edges=edges), dt=dt, engine="reference")
    assert model.arch == "6r"
    spikes = _input_spikes(60, 8, 10, seed=3)
    ours = model.layer_spikes(spikes)[0].detach().numpy()
    v, fired, expected = np.zeros((8, 6)), np.zeros((8, 6)), []
    for x in spikes.double().numpy():
        current = x @ weight.T + bias + fired @ loop_weight.T + loop_bias
        v = v + dt / tau * (v_leak - v + r * current)
        fired = (v > threshold).astype(np.float64)
        v = np.where(fired > 0, 0.0, v)
        expected.append(fired)
    assert np.array_equal(ours, np.array(expected, dtype=np.float32)) and 0 < ours.sum() < ours.size


def test_recurrent_alif_is_refused_naming_the_layer() -> None:
    with pytest.raises(NIRError, match="layer 2 has alif neurons and cannot be exported: NIR has no adaptive LIF node"
                       ) as error:
        to_nir(SNN("8r-6ra-3", input_shape=(5,)))
    assert "\n" not in str(error.value)


def _looped(loop: object, neurons: object, synapse: object = None) -> nir.NIRGraph:
    nodes = {"input": nir.Input(input_type={"input": np.array([4])}), "n0": synapse or nir.Affine(np.ones((3, 4)),
             np.zeros(3)), "n1": neurons, "loop": loop, "output": nir.Output(output_type={"output": np.array([3])})}
    edges = [("input", "n0"), ("n0", "n1"), ("n1", "output"), ("n1", "loop"), ("loop", "n1")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _lif(**changes) -> nir.LIF:
    fields = dict(tau=np.full(3, 2e-4), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3), v_reset=np.zeros(3))
    return nir.LIF(**(fields | changes))


@pytest.mark.parametrize(("graph", "message"), [
    (lambda: _looped(nir.Linear(np.eye(3)), _lif(r=np.array([1.0, 0.0, 1.0]))),
     "'n1': r must be > 0 for every neuron of a LIF on a recurrent loop"),
    (lambda: _looped(nir.Linear(np.ones((3, 2))), _lif()), r"'loop' on a recurrent loop: weight \[3, 2\]"),
    (lambda: _looped(nir.Affine(np.eye(3), np.zeros(2)), _lif()), r"'loop' on a recurrent loop: .* bias \[2\]"),
    (lambda: _looped(nir.Linear(np.eye(48)), _lif(tau=np.full(48, 2e-4), r=np.ones(48), v_leak=np.zeros(48),
                                                  v_threshold=np.ones(48), v_reset=np.zeros(48)),
                     nir.Conv2d((4, 4), np.ones((3, 1, 3, 3)), 1, 1, 1, 1, np.zeros(3))),
     "'n1' is on a recurrent loop after a Conv2d; spikekit's recurrent layers are fully connected"),
    (lambda: _looped(nir.Linear(np.eye(3)), nir.IF(r=np.ones(3), v_threshold=np.ones(3))), "'n1' feeds 2 nodes"),
])
def test_loops_spikekit_cannot_read_are_refused_in_one_line(graph, message: str) -> None:
    built = graph()
    if isinstance(built.nodes["n0"], nir.Conv2d):
        built.nodes["input"] = nir.Input(input_type={"input": np.array([1, 4, 4])})
    with pytest.raises(NIRError, match=message) as error:
        from_nir(built)
    assert "\n" not in str(error.value)


def test_spikekit_import_writes_a_checkpoint_of_recurrent_layers(tmp_path: Path, capsys) -> None:
    model = _model("per-neuron, recurrent output")
    write_nir(tmp_path / "rnn.nir", to_nir(model))
    assert main(["import", str(tmp_path / "rnn.nir"), str(tmp_path / "rnn.safetensors"), "-T", "10"]) == 0
    assert "(16r-12rs-5r)" in capsys.readouterr().out
    back, config = load_model(str(tmp_path / "rnn.safetensors"), engine="reference")
    assert config.model.arch == "16r-12rs-5r" and all(isinstance(layer, RecurrentLayer) for layer in back.layers)
    spikes = _input_spikes()
    for mine, theirs in zip(model.layer_spikes(spikes), back.layer_spikes(spikes)):
        assert torch.equal(mine, theirs) and mine.sum() > 0
    assert main(["export", str(tmp_path / "rnn.safetensors"), str(tmp_path / "again.nir")]) == 0
    first, again = read_nir(tmp_path / "rnn.nir"), read_nir(tmp_path / "again.nir")
    assert sorted(first.edges) == sorted(again.edges)
    for name in ("recurrent1", "recurrent2", "recurrent3"):
        assert np.array_equal(first.nodes[name].weight, again.nodes[name].weight)
