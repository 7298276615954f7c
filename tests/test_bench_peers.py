"""benchmarks/bench_peers.py's equivalence check: every peer installed here computes our network's spikes."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from spikekit.data.mnist import MNIST
from spikekit.data.smnist import sequences
from spikekit.dynamics.alif import ALIFParams
from spikekit.dynamics.cuba import CubaLIFParams
from spikekit.dynamics.lif import LIFParams
from spikekit.nn.recurrent import RecurrentLayer

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_peers.py"
MODULES = {"snnTorch": "snntorch", "SpikingJelly": "spikingjelly", "Norse": "norse"}  # peer -> what it imports


@pytest.fixture(autouse=True)
def benchmarks_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # the script imports peers_recurrent, beside it


def _bench_peers():
    spec = importlib.util.spec_from_file_location("bench_peers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_peers_compute_the_same_spikes(mnist: MNIST, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("snntorch", reason="snnTorch is not installed (pip install -e '.[interop]')")
    results = _bench_peers().check_same_spikes(mnist.test.intensity(slice(0, 16)))
    assert results["torch loop"] == "same" and results["snnTorch"] == "same" and results["spikekit fast"] == "same"
    for name in ("SpikingJelly", "Norse"):  # in .venv-bench (make bench-peers); here only if installed
        assert results[name] == "same" or results[name].startswith("not run ("), results[name]
    check = capsys.readouterr().out
    hidden_rate = float(check.split("check: ")[1].split()[0])
    assert 0.05 < hidden_rate < 0.5 and " 0 output spikes" not in check  # both layers spike: a real check


@pytest.mark.parametrize("neuron", ["alif", "cuba"])
def test_peers_with_that_neuron_compute_the_same_spikes(neuron: str, mnist: MNIST,
                                                        capsys: pytest.CaptureFixture) -> None:
    bench = _bench_peers()
    results = bench.check_same_spikes(mnist.test.intensity(slice(0, 16)), neuron)
    assert results["torch loop"] == "same" and results["spikekit fast"] == "same", results
    for name, module in MODULES.items():
        if (name, neuron) in bench.UNMATCHED:  # listed with the reason, never built
            assert results[name].startswith("not run (no such neuron: "), results[name]
        elif importlib.util.find_spec(module) is not None:
            assert results[name] == "same", (name, results[name])
        else:
            assert results[name].startswith("not run ("), results[name]
    check = capsys.readouterr().out
    hidden_rate = float(check.split("check: ")[1].split()[0])
    assert 0.05 < hidden_rate < 0.5 and " 0 output spikes" not in check


def test_unmatched_neurons_give_the_reason_without_importing_the_peer() -> None:
    bench = _bench_peers()
    assert bench._peer("snnTorch", "alif").startswith("no such neuron: snnTorch has no adaptive-threshold")
    assert bench._peer("SpikingJelly", "alif").startswith("no such neuron: ")
    assert not [key for key in bench.UNMATCHED if key[1] == "cuba"]  # every peer has a current-based neuron


@pytest.mark.parametrize(("neuron", "hidden"), [("lif", LIFParams), ("alif", ALIFParams), ("cuba", CubaLIFParams)])
def test_spikekit_rows_run_the_matching_network(neuron: str, hidden: type, mnist: MNIST,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _bench_peers()
    model = bench._spikekit(neuron, "fast")
    assert [type(layer.params) for layer in model.spiking_layers] == [hidden, LIFParams]
    assert model.sizes == bench.SIZES
    images, labels = mnist.train.intensity(slice(0, 8)), mnist.train.labels[:8]
    bench._step("spikekit fast", neuron, "train", 5, (images, labels))(0)  # one training batch runs
    commands = []

    def fake_run(command: list[str], **kwargs) -> None:  # the CLI row: record the command, write its metrics
        commands.append(command)
        out = Path(command[command.index("--out") + 1])
        out.mkdir(parents=True)
        (out / "metrics.jsonl").write_text(json.dumps({"samples_per_second": 1.0, "firing_rate": [0.1, 0.2]}) + "\n")
    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    assert bench.cli_samples_per_second(bench.parse_args(["--neuron", neuron]), 25) == (1.0, [0.1, 0.2])
    assert commands[0][commands[0].index("--arch") + 1] == bench.ARCHS[neuron]
    assert commands[0][commands[0].index("--limit-train") + 1] == str(128 * 200) and "--dataset" not in commands[0]


def test_neuron_option() -> None:
    bench = _bench_peers()
    assert bench.parse_args([]).neuron == "lif" and not bench.parse_args([]).check_only
    assert bench.parse_args(["--neuron", "cuba", "--check-only"]).check_only
    with pytest.raises(SystemExit) as error:
        bench.parse_args(["--neuron", "adex"])
    assert error.value.code == 2


def test_results_keep_each_neurons_run(tmp_path: Path) -> None:
    bench, path = _bench_peers(), tmp_path / "results" / "peers.json"
    bench.write_results(path, "lif", {"rows": [1]})
    bench.write_results(path, "alif", {"rows": [2]})
    bench.write_results(path, "lif", {"rows": [3]})
    assert json.loads(path.read_text()) == {"runs": {"lif": {"rows": [3]}, "alif": {"rows": [2]}}}


def test_a_run_is_written_under_its_neuron(tmp_path: Path, mnist: MNIST, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    bench, path = _bench_peers(), tmp_path / "peers.json"
    for name, value in {"set_threads": None, "keep_freed_memory": None, "load_mnist": mnist, "_median_ms": 10.0,
                        "cli_samples_per_second": (2e5, [0.1, 0.2]), "_peak_in_fresh_process": 500.0}.items():
        monkeypatch.setattr(bench, name, lambda *args, value=value: value)  # no timing: the run's wiring only
    monkeypatch.setattr("sys.argv", ["bench_peers.py", "--neuron", "alif", "--pairs", "1", "--results", str(path)])
    bench.main()
    run = json.loads(path.read_text())["runs"]["alif"]
    assert run["network"] == "784-128a-10" and run["check"]["spikekit fast"] == "same"
    rows = {(row["implementation"], row["mode"], row["T"]): row for row in run["rows"]}
    assert rows["snnTorch", "train", 25]["samples_per_s"] is None
    assert rows["snnTorch", "train", 25]["note"].startswith("no such neuron: ")
    assert rows["spikekit train (CLI epoch)", "train", 100]["x_fastest_peer"] == pytest.approx(2e5 / 12_800)
    assert rows["spikekit train (CLI epoch)", "train", 100]["peak_rss_mb"] is None  # NaN is not JSON
    assert [round_["T"] for round_ in run["paired"]] == [25, 100]
    assert "| no such neuron: snnTorch has no adaptive-threshold" in capsys.readouterr().out


@pytest.mark.parametrize("neuron", ["alif", "lif"])
def test_recurrent_peers_compute_the_same_spikes(neuron: str, capsys: pytest.CaptureFixture) -> None:
    bench = _bench_peers()
    results = bench.check_recurrent(neuron, batch=4)
    assert results["torch loop"] == "same" and results["spikekit fast"] == "same", results
    for name, module in MODULES.items():
        if (name, neuron) in bench.peers_recurrent.NOT_COMPARABLE:  # listed with the reason, never built
            assert results[name].startswith("not run (not comparable: "), results[name]
        elif importlib.util.find_spec(module) is not None:
            assert results[name] == "same", (name, results[name])
        else:
            assert results[name].startswith("not run ("), results[name]
    check = capsys.readouterr().out
    hidden_rate = float(check.split("check: ")[1].split()[0])
    assert 0.05 < hidden_rate < 0.5 and " 0 output spikes" not in check


def test_peers_without_the_recurrent_network_give_the_reason_without_importing_the_peer() -> None:
    bench = _bench_peers()
    assert bench._peer("Norse", "alif", "recurrent").startswith("not comparable: Norse's LSNNRecurrentCell delays")
    assert bench._peer("snnTorch", "alif", "recurrent").startswith("not comparable: snnTorch has no adaptive")
    assert not [key for key in bench.peers_recurrent.NOT_COMPARABLE if key[1] == "lif"]  # all have recurrent LIF


@pytest.mark.parametrize("neuron", ["alif", "lif"])
def test_recurrent_peers_compute_the_same_spikes_on_smnist(neuron: str, mnist: MNIST,
                                                           capsys: pytest.CaptureFixture) -> None:
    """Two recurrent layers fed one pixel a step: the first 300 steps of two test sequences."""
    bench = _bench_peers()
    inputs = sequences(mnist.test.images[:2], mnist.test.labels[:2], "smnist").inputs(slice(0, 2))[:300]
    results = bench.check_recurrent(neuron, "smnist", inputs)
    assert results["torch loop"] == "same" and results["spikekit fast"] == "same", results
    for name, module in MODULES.items():
        if (name, neuron) in bench.peers_recurrent.NOT_COMPARABLE:
            assert results[name].startswith("not run (not comparable: "), results[name]
        elif importlib.util.find_spec(module) is not None:
            assert results[name] == "same", (name, results[name])
    check = capsys.readouterr().out
    hidden_rate = float(check.split("check: ")[1].split()[0])
    assert 0.05 < hidden_rate < 0.5 and " 0 output spikes" not in check and "2 samples x 300 steps" in check


def test_smnist_timing_weights_fire_as_a_trained_network(mnist: MNIST) -> None:
    """The S-MNIST rows time every implementation on the same weights, whose layers fire at rates near the trained
    presets' (docs/accuracy.md: 14-28% of the steps), in float32 as timed."""
    bench = _bench_peers()
    weights = bench.timing_weights(bench.peers_recurrent.SMNIST)
    assert [tuple(layer.input.shape) for layer in weights] == [(64, 1), (256, 64), (10, 256)]
    assert [layer.recurrent is None for layer in weights] == [False, False, True]
    assert {w.dtype for layer in weights for w in layer if w is not None} == {torch.float32}
    args = bench.parse_args(["--network", "smnist", "--neuron", "lif"])
    assert 0.15 < bench.timing_rate(args, mnist) < 0.35  # 0.25 measured; ALIF's 0.14


@pytest.mark.parametrize(("network", "neuron", "hidden", "sizes"),
                         [("recurrent", "alif", ALIFParams, (700, 256, 20)),
                          ("recurrent", "lif", LIFParams, (700, 256, 20)),
                          ("smnist", "alif", ALIFParams, (1, 64, 256, 10))])
def test_spikekit_recurrent_rows_run_the_matching_network(network: str, neuron: str, hidden: type,
                                                          sizes: tuple[int, ...]) -> None:
    bench = _bench_peers()
    shape = bench.peers_recurrent.NETWORKS[network]
    model = bench.peers_recurrent.spikekit_net(shape, neuron, "fast")
    assert all(isinstance(layer, RecurrentLayer) for layer in model.spiking_layers[:-1]) and model.engine == "fast"
    assert [type(layer.params) for layer in model.spiking_layers] == [hidden] * (len(sizes) - 2) + [LIFParams]
    assert model.sizes == shape.sizes == sizes
    if network == "smnist":
        inputs, labels = torch.rand(5, 4, 1), torch.tensor([0, 1, 2, 9])
        for name in ("spikekit fast", "spikekit reference", "torch loop"):  # one training batch of each runs
            bench._recurrent_step(name, neuron, "train", (inputs, labels), "smnist")(0)
        return
    spikes = bench.peers_recurrent.input_spikes(5, 4, 0.1, np.random.default_rng(0))
    labels = torch.tensor([0, 1, 2, 19])
    for name in ("spikekit fast", "spikekit reference", "torch loop"):  # one training batch of each runs
        bench._recurrent_step(name, neuron, "train", (spikes, labels), network)(0)


def test_recurrent_input_has_the_density_asked_for() -> None:
    spikes = _bench_peers().peers_recurrent.input_spikes(100, 32, 0.015, np.random.default_rng(0))
    assert spikes.shape == (100, 32, 700) and spikes.dtype == torch.float32
    assert set(spikes.unique().tolist()) == {0.0, 1.0} and abs(float(spikes.mean()) - 0.015) < 0.001


def test_network_option() -> None:
    bench = _bench_peers()
    assert bench.parse_args(["--network", "recurrent"]).neuron == "alif"  # the recurrent network's default
    assert bench.parse_args(["--network", "recurrent", "--neuron", "lif"]).density == 0.015
    for argv in (["--network", "recurrent", "--neuron", "cuba"], ["--network", "recurrent", "--density", "0"],
                 ["--network", "lstm"]):
        with pytest.raises(SystemExit) as error:
            bench.parse_args(argv)
        assert error.value.code == 2


def test_a_recurrent_run_is_written_under_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture) -> None:
    bench, path = _bench_peers(), tmp_path / "peers.json"

    def no_mnist(*args) -> None:
        raise AssertionError("the recurrent network reads no MNIST")
    for name, value in {"set_threads": None, "keep_freed_memory": None, "_median_ms": 10.0,
                        "_peak_in_fresh_process": 500.0}.items():
        monkeypatch.setattr(bench, name, lambda *args, value=value: value)  # no timing: the run's wiring only
    monkeypatch.setattr(bench, "load_mnist", no_mnist)
    monkeypatch.setattr(bench, "check_recurrent", lambda neuron, network, density: {"torch loop": "same"})
    cli_calls = []

    def cli(args, num_steps: int, init_firing: float | None = None) -> tuple[float, list[float]]:
        cli_calls.append((args.network, num_steps, init_firing))
        return 25_600.0, [0.125, 0.05]
    monkeypatch.setattr(bench, "cli_samples_per_second", cli)
    monkeypatch.setattr("sys.argv", ["bench_peers.py", "--network", "recurrent", "--pairs", "1", "--results",
                                     str(path)])
    bench.main()
    run = json.loads(path.read_text())["runs"]["recurrent-alif"]
    assert run["network"] == "700-256ra-20" and run["input_density"] == 0.015
    assert cli_calls == [("recurrent", 100, None)] * 2  # the table's row and one paired round
    assert [(round_["T"], round_["fastest_peer"], round_["ratio"]) for round_ in run["paired"]] == [
        (100, "torch loop", pytest.approx(2.0))]  # 25,600 samples/s against 128 in 10 ms
    rows = {(row["implementation"], row["mode"]): row for row in run["rows"]}
    assert {row["T"] for row in run["rows"]} == {100} and {row["batch"] for row in run["rows"]} == {128}
    assert rows["spikekit reference", "infer"]["samples_per_s"] == pytest.approx(12_800)
    assert rows["Norse", "train"]["note"].startswith("not comparable: Norse's LSNNRecurrentCell")
    cli_row = rows["spikekit train (CLI epoch)", "train"]
    assert cli_row["x_fastest_peer"] == pytest.approx(2.0) and cli_row["T"] == 100
    assert cli_row["note"] == "its layers fired 0.125, 0.050 of their steps"
    assert "under 'recurrent-alif'" in capsys.readouterr().out


def test_a_smnist_run_is_written_under_its_name(tmp_path: Path, mnist: MNIST, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    bench, path = _bench_peers(), tmp_path / "peers.json"
    for name, value in {"set_threads": None, "keep_freed_memory": None, "load_mnist": mnist, "_median_ms": 10.0,
                        "_peak_in_fresh_process": 500.0}.items():
        monkeypatch.setattr(bench, name, lambda *args, value=value: value)  # no timing: the run's wiring only
    checked = []

    def check(neuron: str, network: str, inputs: torch.Tensor) -> dict[str, str]:
        checked.append((neuron, network, tuple(inputs.shape)))
        return {"torch loop": "same"}
    monkeypatch.setattr(bench, "check_recurrent", check)
    cli_calls = []
    monkeypatch.setattr(bench, "cli_samples_per_second", lambda args, num_steps, init_firing=None: (
        cli_calls.append(init_firing), (100.0, [0.2, 0.3, 0.1]))[1])
    argv = ["bench_peers.py", "--network", "smnist", "--neuron", "lif", "--pairs", "0", "--results", str(path)]
    monkeypatch.setattr("sys.argv", argv)
    bench.main()
    assert checked == [("lif", "smnist", (784, 8, 1))]
    run = json.loads(path.read_text())["runs"]["smnist-lif"]
    assert cli_calls == [run["hidden_rate"]]  # the CLI's layers are raised to fire as the timed weights do
    assert run["network"] == "1-64r-256r-10" and "input_density" not in run and 0.15 < run["hidden_rate"] < 0.35
    assert {row["T"] for row in run["rows"]} == {784} and {row["batch"] for row in run["rows"]} == {32}
    rows = {(row["implementation"], row["mode"]): row for row in run["rows"]}
    assert rows["spikekit fast", "train"]["samples_per_s"] == pytest.approx(3_200)  # 32 samples in 10 ms
    assert rows["snnTorch", "train"]["note"] == "" and ("spikekit reference", "infer") in rows
    assert "under 'smnist-lif'" in capsys.readouterr().out


def test_cli_rows_of_recurrent_networks_train_their_own_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench, commands = _bench_peers(), []

    def fake_run(command: list[str], **kwargs) -> None:  # record the command (and the SHD files it reads)
        commands.append(command)
        if "--data-dir" in command and "shd" in command:
            files = sorted(path.name for path in Path(command[command.index("--data-dir") + 1]).iterdir())
            commands.append(files)
        out = Path(command[command.index("--out") + 1])
        out.mkdir(parents=True)
        (out / "metrics.jsonl").write_text(json.dumps({"samples_per_second": 3.0, "firing_rate": [0.2, 0.1]}))
    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    monkeypatch.setattr(bench, "synthetic_shd", lambda directory, train, test, density: [
        bench.write_shd(directory / f"shd_{name}.h5", [[0.005]] * count, [[1]] * count, [0] * count)
        for name, count in (("train", train), ("test", test))])
    args = bench.parse_args(["--network", "recurrent"])
    assert bench.cli_samples_per_second(args, 100) == (3.0, [0.2, 0.1])
    command, files = commands
    assert files == ["shd_test.h5", "shd_train.h5"]
    assert command[command.index("--dataset") + 1] == "shd" and command[command.index("-T") + 1] == "100"
    assert command[command.index("--arch") + 1] == "256ra-20" and "--init-firing" not in command
    assert (command[command.index("--batch-size") + 1], command[command.index("--limit-train") + 1]) == (
        "128", "12800")
    bench.cli_samples_per_second(bench.parse_args(["--network", "smnist", "--neuron", "lif"]), 784, 0.25)
    command = commands[-1]
    assert command[command.index("--dataset") + 1] == "smnist" and command[command.index("--arch") + 1] == "64r-256r-10"
    assert command[command.index("--init-firing") + 1] == "0.250" and "-T" not in command
    assert (command[command.index("--batch-size") + 1], command[command.index("--limit-train") + 1]) == ("32", "3200")


def test_synthetic_shd_recordings_have_the_rows_density(tmp_path: Path) -> None:
    from spikekit.data.shd import load_shd
    bench = _bench_peers()
    bench.synthetic_shd(tmp_path, 40, 3, 0.015)
    train, test = load_shd(tmp_path)
    assert (len(train), len(test)) == (40, 3) and 0 <= int(train.labels.min()) and int(train.labels.max()) < 20
    dense = train.binned(100, "fixed", duration=1_000_000).dense(slice(0, 40))
    assert dense.shape == (100, 40, 700) and abs(float(dense.mean()) - 0.015) < 0.0015
    assert int(dense.sum()) == int(train.offsets[-1])  # each spike in a (bin, channel) of its own: none merged
