"""The neuron models from the command line: a learned-tau ALIF run and its config.json, evaluation of its
checkpoint, a one-line error for each bad neuron option, and an engine that changes no input spike."""

import json
from pathlib import Path

import pytest
import torch

from spikekit.cli import main
from spikekit.config import ModelConfig, RunConfig, TrainConfig
from spikekit.io.checkpoint import load_checkpoint
from spikekit.train.loop import build_model, image_inputs
from tests.conftest import tiny_split

SMALL = ["--epochs", "1", "-T", "6", "--limit-train", "256"]


def test_an_alif_run_with_a_learned_tau_records_its_neurons(tmp_path: Path, small_mnist_dir: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", "--data-dir", str(small_mnist_dir), "--out", str(run_dir), "--arch", "64a-10s",
                 "--learn", "tau", "--tau-adapt", "10", "--beta-adapt", "0.5", *SMALL]) == 0
    model = json.loads((run_dir / "config.json").read_text())["model"]
    assert (model["arch"], model["learn"], model["tau_adapt"], model["beta_adapt"]) == ("64a-10s", ["tau"], 10.0, 0.5)
    config = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    assert config.model.layer_models() == ["alif", "cuba"]
    capsys.readouterr()
    assert main(["eval", str(run_dir / "checkpoints" / "last.safetensors"), "--data-dir", str(small_mnist_dir)]) == 0
    accuracy = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])["test_accuracy"]
    assert f"test accuracy {100 * accuracy:.2f}%" in capsys.readouterr().out


def test_a_recurrent_adlif_run_learns_its_coupling_and_records_it(tmp_path: Path, small_mnist_dir: Path) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", "--data-dir", str(small_mnist_dir), "--out", str(run_dir), "--arch", "32rd-10",
                 "--learn", "coupling,jump", "--coupling", "0.8", "--jump", "0.3", *SMALL]) == 0
    model = json.loads((run_dir / "config.json").read_text())["model"]
    assert (model["arch"], model["learn"], model["coupling"], model["jump"]) == ("32rd-10", ["coupling", "jump"], 0.8,
                                                                                  0.3)
    config = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    assert config.model.layer_models() == ["adlif", "lif"]
    weights = load_checkpoint(run_dir / "checkpoints" / "last.safetensors").model
    coupling = next(value for name, value in weights.items() if name.endswith("coupling_raw"))
    assert coupling.shape == (32,) and not torch.allclose(coupling, torch.full((32,), 0.8))  # trained


def test_a_recurrent_brf_run_spreads_and_learns_its_frequencies(tmp_path: Path, small_mnist_dir: Path) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", "--data-dir", str(small_mnist_dir), "--out", str(run_dir), "--arch", "32rb-10",
                 "--learn", "omega,b_offset", "--omega", "15:46", "--b-offset", "0.5", *SMALL]) == 0
    model = json.loads((run_dir / "config.json").read_text())["model"]
    assert (model["arch"], model["omega"], model["b_offset"]) == ("32rb-10", [15.0, 46.0], 0.5)
    config = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    assert config.model.layer_models() == ["brf", "lif"] and config.model.omega == (15.0, 46.0)
    weights = load_checkpoint(run_dir / "checkpoints" / "last.safetensors").model
    omega = next(value for name, value in weights.items() if name.endswith("omega_raw"))
    start = torch.linspace(15.0, 46.0, 32)  # one more radian per time unit for each neuron, lowest first
    assert omega.shape == (32,) and not torch.allclose(omega, start) and (omega - start).abs().max() < 1.0  # trained
    assert build_model(config).spiking_layers[0].neuron.omega_raw.tolist() == start.tolist()


@pytest.mark.parametrize(("args", "message"), [
    (["--arch", "16d-10", "--coupling", "inf"], "coupling must be a finite number"),
    (["--arch", "16b-10", "--omega", "150"], "dt * omega must be < 1"),
    (["--arch", "16b-10", "--b-offset=-1:2"], "b_offset must be >= 0.0"),
    (["--omega", "50:15"], "expected a number or LOW:HIGH with LOW <= HIGH"),
    (["--arch", "16rb-10b", "--readout", "leaky"], "the leaky readout integrates with its output layer's tau"),
    (["--arch", "16b-10", "--learn", "dt"], "cannot learn 'dt': BRF's step and refractory decay stay fixed"),
    (["--learn", "tau_syn"], "cannot learn 'tau_syn': the layers' neurons (lif) have the constants"),
    (["--neuron", "izhikevich"], "argument --neuron: invalid choice: 'izhikevich'"),
    (["--arch", "128a-10", "--tau-adapt", "0.5"], "tau_adapt must be > 1.0, got 0.5"),
    (["--neuron", "cuba", "--tau-syn", "nan"], "tau_syn must be a finite number"),
    (["--learn", ","], "expected names separated by commas"),
])
def test_bad_neuron_options_exit_2_with_one_line(args: list[str], message: str, tmp_path: Path, capsys) -> None:
    refused_by_argparse = "invalid choice" in message or "commas" in message or "LOW:HIGH" in message
    with pytest.raises(SystemExit) if refused_by_argparse else _no_raise() as caught:
        code = main(["train", "--out", str(tmp_path / "r"), *args])
    if caught is not None and hasattr(caught, "value"):
        code = caught.value.code
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert not (tmp_path / "r").exists()


class _no_raise:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> bool:
        return False


def test_the_engine_changes_no_input_spike() -> None:
    split = tiny_split(8)
    inputs = []
    for engine in ("reference", "fast"):
        config = TrainConfig(engine=engine, num_steps=5, shift=1)
        spikes = image_inputs(split, torch.arange(8), config, (1, 28, 28), ("train", 0, 0), ("shift", 0, 0))
        inputs.append(spikes.to_dense(torch.float32))
    assert torch.equal(inputs[0], inputs[1]) and inputs[0].sum() > 0


def test_old_configs_without_neuron_fields_build_the_lif_network() -> None:
    config = RunConfig.from_dict({"model": {"arch": "128-10", "tau": 2.0}, "train": {}})
    assert config.model.neuron == "lif" and config.model.learn == ()
    model = build_model(config)
    assert [name for name, _ in model.named_parameters()] == ["layers.0.linear.weight_t", "layers.0.linear.bias",
                                                               "layers.1.linear.weight", "layers.1.linear.bias"]
    assert ModelConfig().layer_models() == ["lif", "lif"]
