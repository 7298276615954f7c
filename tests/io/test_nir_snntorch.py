"""Cross-library NIR check with snnTorch's own importer and exporter, spike for spike on stored inputs (random ones
for the recurrent layers)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from spikekit.config import ModelConfig, RunConfig, TrainConfig
from spikekit.data.encoding import poisson_encode
from spikekit.data.mnist import MNIST, Split
from spikekit.dynamics.cuba import CubaLIFParams
from spikekit.dynamics.lif import LIFParams
from spikekit.io.nir import from_nir, read_nir, to_nir, write_nir
from spikekit.nn import SNN
from spikekit.train.loop import EpochProgress, build_model, train_epoch

snn = pytest.importorskip("snntorch", reason="snnTorch is not installed (pip install -e '.[interop]')")
pytest.importorskip("nirtorch", reason="nirtorch is not installed (pip install -e '.[interop]')")
from snntorch.export_nir import export_to_nir  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402
from snntorch.utils import reset  # noqa: E402

# snnTorch's exporter calls a nirtorch function that nirtorch marks deprecated; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning")


def _run_snntorch(net: torch.nn.Module, spikes: torch.Tensor) -> torch.Tensor:
    """Output spikes [T, B, N] of an snnTorch network with hidden state, stepped through time."""
    reset(net)
    outputs = []
    with torch.no_grad():
        for spikes_t in spikes:
            out = net(spikes_t)
            outputs.append(out[0] if isinstance(out, tuple) else out)
    return torch.stack(outputs)


def _exported_by_snntorch(neurons, gains: tuple[float, float], tmp_path: Path) -> tuple[torch.nn.Module, SNN]:
    """snnTorch's 784-64-10 of ``neurons(size, **extra)`` (weights scaled by ``gains`` so that both layers
    fire), exported by snnTorch to a NIR file, and spikekit's import of that file."""
    net = torch.nn.Sequential(torch.nn.Linear(784, 64), neurons(64), torch.nn.Linear(64, 10),
                              neurons(10, output=True))
    with torch.no_grad():
        net[0].weight.mul_(gains[0])
        net[2].weight.mul_(gains[1])
    path = tmp_path / "snntorch.nir"
    write_nir(path, export_to_nir(net, torch.zeros(1, 784), ignore_dims=[0]))
    return net, from_nir(read_nir(path), engine="fast")


@pytest.fixture(scope="module")
def stored_spikes(mnist: MNIST) -> torch.Tensor:
    """Poisson spikes of 64 test digits over T=25, drawn once and reused by both sides."""
    return poisson_encode(mnist.test.intensity(slice(0, 64)), 25, torch.Generator().manual_seed(7))


def test_snntorch_importer_reproduces_a_trained_spikekit_model(tmp_path: Path, mnist: MNIST,
                                                               stored_spikes: torch.Tensor) -> None:
    config = RunConfig(train=TrainConfig(num_steps=10, engine="fast"))
    model = build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    subset = Split(mnist.train.images[:3000], mnist.train.labels[:3000])
    train_epoch(model, optimizer, subset, config.train, EpochProgress(0))
    path = tmp_path / "spikekit.nir"
    write_nir(path, to_nir(model))

    theirs = _run_snntorch(import_from_nir(read_nir(path)), stored_spikes)
    ours = model.layer_spikes(stored_spikes)[-1].detach()
    assert ours.sum() > 100  # a trained network that fires
    assert torch.equal(theirs, ours)  # every output spike at every step
    accuracy = (ours.sum(0).argmax(1) == mnist.test.labels[:64]).float().mean()
    assert accuracy > 0.6  # and it is the trained one


@pytest.mark.parametrize("beta", [0.5, 0.75])
def test_spikekit_imports_what_snntorch_exports(tmp_path: Path, stored_spikes: torch.Tensor, beta: float) -> None:
    torch.manual_seed(0)

    def leaky(size: int, **extra) -> torch.nn.Module:
        # reset to zero in the same step: what snnTorch's exporter writes (v_reset = 0) actually means
        return snn.Leaky(beta=torch.full((size,), beta), threshold=torch.ones(size), init_hidden=True,
                         reset_mechanism="zero", reset_delay=False, **extra)
    net, model = _exported_by_snntorch(leaky, (6, 4), tmp_path)
    assert [layer.params.tau for layer in model.layers] == [1 / (1 - beta)] * 2
    theirs = _run_snntorch(net, stored_spikes)
    ours = model.layer_spikes(stored_spikes)[-1].detach()
    assert theirs.sum() > 100
    assert torch.equal(theirs, ours)


def test_snntorch_importer_reads_spikekit_conv_and_pooling_nodes(stored_spikes: torch.Tensor) -> None:
    """snnTorch 1.0 builds ``torch.nn.Flatten(start_dim, end_dim)`` from a NIR Flatten, counting a batch
    dimension that NIR's shapes do not have, so a whole conv graph does not import there; its Conv2d,
    LIF and AvgPool2d do: the graph up to the flatten, imported by snnTorch, gives the pooled spikes of
    spikekit's second conv layer, every one at every step."""
    import nir

    torch.manual_seed(0)
    model = SNN("6c5-a2-8c3-a2-10", input_shape=(1, 28, 28), engine="fast")
    graph = to_nir(model)
    chain = ["input", "conv1", "lif1", "pool2", "conv3", "lif3", "pool4"]
    nodes = {name: graph.nodes[name] for name in chain}
    nodes["output"] = nir.Output(output_type={"output": np.array([8, 7, 7])})
    cut = nir.NIRGraph(nodes=nodes, edges=list(zip([*chain], [*chain[1:], "output"])), type_check=False)
    images = stored_spikes.reshape(*stored_spikes.shape[:2], 1, 28, 28)
    theirs = _run_snntorch(import_from_nir(cut), images)
    ours = model.layers[3](model.layers[2](model.layers[1](model.layers[0](images))))
    assert ours.sum() > 100 and torch.equal(theirs, ours.detach())


def test_snntorch_synaptic_reproduces_a_trained_spikekit_cubalif_model(tmp_path: Path, mnist: MNIST,
                                                                      stored_spikes: torch.Tensor) -> None:
    config = RunConfig(ModelConfig(arch="128s-10s"), TrainConfig(num_steps=10, engine="fast"))
    model = build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    subset = Split(mnist.train.images[:3000], mnist.train.labels[:3000])
    train_epoch(model, optimizer, subset, config.train, EpochProgress(0))
    path = tmp_path / "spikekit.nir"
    write_nir(path, to_nir(model))

    net = import_from_nir(read_nir(path))
    assert [type(module).__name__ for module in net.children() if isinstance(module, snn.SpikingNeuron)] == [
        "Synaptic", "Synaptic"]
    theirs = _run_snntorch(net, stored_spikes)
    ours = model.layer_spikes(stored_spikes)[-1].detach()
    assert ours.sum() > 100  # a trained network that fires
    assert torch.equal(theirs, ours)  # every output spike at every step
    accuracy = (ours.sum(0).argmax(1) == mnist.test.labels[:64]).float().mean()
    assert accuracy > 0.4  # and it is the trained one (chance: 0.1; CubaLIF learns slower in one short epoch)


@pytest.mark.parametrize(("tau", "tau_syn", "threshold"), [(2.0, 2.0, 1.0), (3.0, 2.5, 0.75), (5.0, 1.5, 0.5)])
def test_snntorch_synaptic_reproduces_spikekit_cubalif_constants(tmp_path: Path, stored_spikes: torch.Tensor,
                                                                 tau: float, tau_syn: float, threshold: float) -> None:
    torch.manual_seed(0)
    model = SNN("64s-10s", CubaLIFParams(tau=tau, threshold=threshold, tau_syn=tau_syn), "fast", (784,))
    with torch.no_grad():  # strong enough that both layers fire
        for layer, gain in zip(model.layers, (6, 4)):
            layer.linear.weight.mul_(gain)
            layer.linear.bias.add_(0.3)
    path = tmp_path / "spikekit.nir"
    write_nir(path, to_nir(model))
    theirs = _run_snntorch(import_from_nir(read_nir(path)), stored_spikes)
    ours = model.layer_spikes(stored_spikes)[-1].detach()
    assert ours.sum() > 100 and torch.equal(theirs, ours)


@pytest.mark.parametrize(("alpha", "beta"), [(0.5, 0.5), (0.6, 0.75), (0.8, 0.9)])
def test_spikekit_imports_the_synaptic_neurons_snntorch_exports(tmp_path: Path, stored_spikes: torch.Tensor,
                                                                alpha: float, beta: float) -> None:
    torch.manual_seed(0)

    def synaptic(size: int, **extra) -> torch.nn.Module:
        # reset to zero in the same step, as for Leaky above: what the exported v_reset = 0 means
        return snn.Synaptic(alpha=torch.full((size,), alpha), beta=torch.full((size,), beta),
                            threshold=torch.ones(size), init_hidden=True, reset_mechanism="zero", reset_delay=False,
                            **extra)
    net, model = _exported_by_snntorch(synaptic, (3, 2), tmp_path)
    # snnTorch keeps alpha and beta in float32: tau = 1 / (1 - beta) to float32 precision
    for layer in model.layers:
        assert layer.params.tau == pytest.approx(1 / (1 - beta), rel=1e-6)
        assert layer.params.tau_syn == pytest.approx(1 / (1 - alpha), rel=1e-6)
    theirs = _run_snntorch(net, stored_spikes)
    ours = model.layer_spikes(stored_spikes)[-1].detach()
    assert theirs.sum() > 100
    assert torch.equal(theirs, ours)


# Recurrent layers. snnTorch 1.0's ``import_from_nir`` (with nirtorch 2.6) does not read recurrent graphs: it wraps
# each loop in a subgraph whose input edge goes to the loop's weight node, then nirtorch maps that subgraph node by
# node, so spikekit's graph becomes a Leaky fed U (W x + b + s[t-1]), and snnTorch's own RLeaky export raises
# AttributeError. Its reader proper, which turns the loop into an RLeaky or RSynaptic module, is sound: the checks
# below run the graph through it (``_replace_rnn_subgraph_with_nirgraph``, ``_nir_to_snntorch_module``).


def _snntorch_recurrent(graph) -> torch.nn.Sequential:
    """snnTorch's modules for the chain of ``graph``, each loop read by snnTorch as one RLeaky or RSynaptic."""
    from snntorch.import_nir import _nir_to_snntorch_module, _replace_rnn_subgraph_with_nirgraph

    graph = _replace_rnn_subgraph_with_nirgraph(graph)
    following, name, modules = dict(graph.edges), "input", []
    while following[name] != "output":
        name = following[name]
        modules.append(_nir_to_snntorch_module(graph.nodes[name], init_hidden=True))
    return torch.nn.Sequential(*modules)


def _recurrent_spikes() -> torch.Tensor:
    """Random input spikes [T=60, B=16, 20]: long enough for the loop to matter."""
    return (torch.rand(60, 16, 20, generator=torch.Generator().manual_seed(1)) < 0.3).float()


def _recurrent_model(arch: str, params) -> SNN:
    torch.manual_seed(0)
    model = SNN(arch, params, "reference", (20,))
    with torch.no_grad():  # strong enough that both layers fire
        for layer in model.layers:
            layer.linear.weight.mul_(5)
            layer.linear.bias.add_(0.4)
    return model


@pytest.mark.parametrize("params", [LIFParams(), LIFParams(tau=3.0, threshold=0.6), LIFParams(tau=5.0, threshold=0.4)])
def test_snntorch_rleaky_reproduces_a_spikekit_recurrent_lif_layer(tmp_path: Path, params: LIFParams) -> None:
    model = _recurrent_model("32r-5", params)
    write_nir(tmp_path / "rnn.nir", to_nir(model))
    net = _snntorch_recurrent(read_nir(tmp_path / "rnn.nir"))
    assert [type(module).__name__ for module in net] == ["Linear", "RLeaky", "Linear", "Leaky"]
    assert torch.equal(net[1].recurrent.weight, model.layers[0].recurrent.weight)
    assert not net[1].recurrent.bias.any()
    spikes = _recurrent_spikes()
    ours = model.layer_spikes(spikes)
    assert all(layer.sum() > 100 for layer in ours)
    assert torch.equal(_run_snntorch(net[:2], spikes), ours[0])  # the recurrent layer, every spike at every step
    assert torch.equal(_run_snntorch(net, spikes), ours[1])


@pytest.mark.parametrize("beta", [0.5, 0.75, 0.9])
def test_spikekit_imports_the_rleaky_snntorch_exports(tmp_path: Path, beta: float) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(  # zero reset in the same step, as above; the recurrent nn.Linear has a bias
        torch.nn.Linear(20, 32),
        snn.RLeaky(beta=torch.full((32,), beta), threshold=torch.ones(32), linear_features=32, init_hidden=True,
                   reset_mechanism="zero", reset_delay=False),
        torch.nn.Linear(32, 5),
        snn.Leaky(beta=torch.full((5,), beta), threshold=torch.ones(5), init_hidden=True, output=True,
                  reset_mechanism="zero", reset_delay=False))
    with torch.no_grad():
        net[0].weight.mul_(3)
        net[2].weight.mul_(3)
    write_nir(tmp_path / "snntorch.nir", export_to_nir(net, torch.zeros(1, 20), ignore_dims=[0]))
    model = from_nir(read_nir(tmp_path / "snntorch.nir"), engine="reference")
    assert model.arch == "32r-5"
    layer = model.layers[0]
    assert layer.params.tau == pytest.approx(1 / (1 - beta), rel=1e-6)  # alpha and beta are float32 in snnTorch
    assert layer.params.threshold == pytest.approx(1 - beta, rel=1e-6)  # its mem is tau V
    assert torch.equal(layer.recurrent.weight, net[1].recurrent.weight)
    torch.testing.assert_close(layer.linear.bias, net[0].bias + net[1].recurrent.bias)  # the loop's bias joins b
    spikes = _recurrent_spikes()
    ours = model.layer_spikes(spikes)
    assert all(layer.sum() > 100 for layer in ours)
    assert torch.equal(_run_snntorch(net[:2], spikes), ours[0])
    assert torch.equal(_run_snntorch(net, spikes), ours[1])


@pytest.mark.parametrize(("tau", "tau_syn", "threshold"), [(2.0, 2.0, 1.0), (3.0, 2.5, 0.75), (5.0, 1.5, 0.5)])
def test_snntorch_reads_a_spikekit_recurrent_cubalif_layer_as_rsynaptic(tmp_path: Path, tau: float, tau_syn: float,
                                                                     threshold: float) -> None:
    """snnTorch's reader makes an RSynaptic of spikekit's ``32rs`` layer, with spikekit's constants in its units and
    U as its recurrent weight. That RSynaptic cannot run: snnTorch 1.0's ``RSynaptic.forward`` with
    ``reset_delay=False`` (which its reader sets) divides the ``spk`` argument, None with ``init_hidden``, and
    resets a local copy of the membrane. Its state function is Synaptic's with ``recurrent(s[t-1])`` added to the
    input, so snnTorch's own ``Synaptic`` stepped with the reader's constants and that term stands in for it."""
    model = _recurrent_model("32rs-5s", CubaLIFParams(tau=tau, threshold=threshold, tau_syn=tau_syn))
    write_nir(tmp_path / "rnn.nir", to_nir(model))
    net = _snntorch_recurrent(read_nir(tmp_path / "rnn.nir"))
    assert [type(module).__name__ for module in net] == ["Linear", "RSynaptic", "Linear", "Synaptic"]
    rsynaptic = net[1]
    assert rsynaptic.alpha.item() == pytest.approx(1 - 1 / tau_syn)
    assert rsynaptic.beta.item() == pytest.approx(1 - 1 / tau)
    assert rsynaptic.threshold.item() == pytest.approx(threshold * tau * tau_syn)
    assert torch.equal(rsynaptic.recurrent.weight, model.layers[0].recurrent.weight)

    neuron = snn.Synaptic(alpha=rsynaptic.alpha, beta=rsynaptic.beta, threshold=rsynaptic.threshold,
                          reset_mechanism="zero", reset_delay=False)
    spikes_t, synaptic, membrane = torch.zeros(16, 32), torch.zeros(16, 32), torch.zeros(16, 32)
    theirs = []
    with torch.no_grad():
        for inputs_t in _recurrent_spikes():
            spikes_t, synaptic, membrane = neuron(net[0](inputs_t) + rsynaptic.recurrent(spikes_t), synaptic, membrane)
            theirs.append(spikes_t)
    ours = model.layer_spikes(_recurrent_spikes())
    assert ours[0].sum() > 100 and torch.equal(torch.stack(theirs), ours[0])
    assert ours[1].sum() > 100 and torch.equal(_run_snntorch(net[2:], ours[0]), ours[1])
