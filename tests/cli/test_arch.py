"""``--arch`` end to end: the spec in config.json, a conv network through train, eval, report, predict,
export/import and a killed-and-resumed run, and one-line errors for bad specs."""

import dataclasses
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spikekit.cli import build_parser, main
from spikekit.cli.train import config_from_args
from spikekit.config import ModelConfig, TrainConfig
from spikekit.data.mnist import MNIST
from tests.cli.test_resume import _environment, _interrupt_at, _metrics, _train_command, _weights

SMALL = ["--epochs", "1", "-T", "4", "--limit-train", "512", "--limit-test", "100"]


@pytest.mark.parametrize(("args", "message"), [
    (["--arch", "12x5-10"], "bad layer '12x5'"),
    (["--arch", "12c4-10"], "layer '12c4': the kernel size must be odd"),
    (["--arch", "128-12c5-10"], "layer '12c5' cannot follow a fully connected layer"),
    (["--arch", "12c5-p2"], "the last layer must be fully connected"),
    (["--arch", "p64-10"], "layer 'p64': a 64x64 window does not fit the 28x28 image"),
    (["--arch", "1c99-10"], "layer '1c99': a 99x99 kernel is larger than the 28x28 image"),  # was a silent net
    (["--arch", "128-10", "--hidden", "64"], "not both"),
])
def test_bad_specs_exit_2_with_one_line(args: list[str], message: str, small_mnist_dir: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    code = main(["train", "--data-dir", str(small_mnist_dir), "--out", str(tmp_path / "r"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()


def test_arch_128_10_is_the_hidden_128_network(small_mnist_dir: Path, tmp_path: Path) -> None:
    for name, layers in (("arch", ["--arch", "128-10"]), ("hidden", ["--hidden", "128"])):
        assert main(["train", "--data-dir", str(small_mnist_dir), "--out", str(tmp_path / name), "--epochs", "1",
                     "-T", "10", "--limit-test", "100", *layers]) == 0
    assert _metrics(tmp_path / "arch") == _metrics(tmp_path / "hidden")
    assert json.loads((tmp_path / "arch" / "config.json").read_text())["model"]["arch"] == "128-10"


def test_the_conv_preset_fills_the_options_not_given(small_mnist_dir: Path, tmp_path: Path) -> None:
    assert main(["train", "--data-dir", str(small_mnist_dir), "--out", str(tmp_path / "r"), "--arch", "conv",
                 "--epochs", "1", "--limit-train", "256", "--limit-test", "50"]) == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["model"]["arch"] == "12c5-p2-32c5-p2-10" and config["model"]["input_shape"] == [1, 28, 28]
    assert config["train"]["num_steps"] == 8 and config["train"]["epochs"] == 1
    train = config["train"]  # the preset's recipe: batches of 64, wsd, 1-pixel shifts, tested at T=16
    assert (train["batch_size"], train["schedule"], train["shift"], train["eval_steps"]) == (64, "wsd", 1, 16)


def test_the_sequence_datasets_train_their_preset_unless_told_otherwise(capsys) -> None:
    parser = build_parser()
    # S-MNIST's default is one recurrent BRF layer, 15 epochs
    brf = config_from_args(parser.parse_args(["train", "--dataset", "smnist"]))
    assert (brf.model.arch, brf.model.omega, brf.model.b_offset, brf.model.learn, brf.model.init_gain) == (
        "256rb-10", (15.0, 50.0), (0.1, 1.0), ("omega", "b_offset", "tau"), 0.1)
    assert (brf.model.readout, brf.model.readout_window, brf.model.tau, brf.model.input_shape) == (
        "leaky", 1.0, 20.0, (1,))
    assert (brf.train.num_steps, brf.train.lr, brf.train.batch_size, brf.train.clip_grad, brf.train.schedule,
            brf.train.epochs) == (784, 0.2, 32, 1.0, "wsd", 15)
    # PS-MNIST's: the same layers with the frequencies over [15, 85], lr 0.025 and the 17 epochs of its measured hour
    ps = config_from_args(parser.parse_args(["train", "--dataset", "psmnist"]))
    assert ps.model == dataclasses.replace(brf.model, omega=(15.0, 85.0))
    assert (ps.model.arch, ps.model.omega, ps.model.b_offset, ps.model.learn) == (
        "256rb-10", (15.0, 85.0), (0.1, 1.0), ("omega", "b_offset", "tau"))
    assert (ps.train.lr, ps.train.epochs, ps.train.batch_size, ps.train.schedule) == (0.025, 17, 32, "wsd")
    assert config_from_args(parser.parse_args(["train", "--dataset", "psmnist", "--arch", "smnist"])).train.epochs == 15
    # the adLIF recipe by name: S-MNIST's runs 11 epochs, PS-MNIST's the 15 that fit its hour
    adlif = config_from_args(parser.parse_args(["train", "--dataset", "psmnist", "--arch", "psmnist-adlif"]))
    model, train = adlif.model, adlif.train
    assert (model.arch, model.readout, model.threshold, model.tau, model.tau_adapt, model.coupling, model.jump) == (
        "64rd-256rd-10", "leaky", 0.1, 20.0, 200.0, 1.0, 0.05)
    assert (model.learn, model.init_gain) == (("tau", "tau_adapt", "coupling", "jump"), 4.0)
    assert (train.num_steps, train.batch_size, train.lr, train.clip_grad, train.epochs) == (784, 32, 3e-3, 1.0, 15)
    adlif = config_from_args(parser.parse_args(["train", "--dataset", "smnist", "--arch", "smnist-adlif"]))
    assert (adlif.model.arch, adlif.train.epochs) == ("64rd-256rd-10", 11)
    # the ALIF recipe by name: the same but for the neurons; PS-MNIST's with the 22 epochs that fit its hour
    alif = config_from_args(parser.parse_args(["train", "--dataset", "psmnist", "--arch", "psmnist-alif"]))
    assert (alif.model.arch, alif.model.beta_adapt, alif.model.learn, alif.train.epochs) == (
        "64ra-256ra-10", 0.2, ("tau", "tau_adapt"), 22)
    smnist_alif = parser.parse_args(["train", "--dataset", "psmnist", "--arch", "smnist-alif"])
    assert config_from_args(smnist_alif).train.epochs == 18
    # an option given wins over the preset's; ModelConfig's defaults stand where the preset says nothing
    config = config_from_args(parser.parse_args(["train", "--dataset", "smnist", "--threshold", "0.2", "--learn", "tau",
                                                 "--clip-grad", "5", "--surrogate", "atan"]))
    assert (config.model.threshold, config.model.learn, config.train.clip_grad) == (0.2, ("tau",), 5.0)
    assert (config.model.surrogate, config.model.reset) == ("atan", ModelConfig().reset)
    # a window is the leaky readout's: --readout counts scores every step, and refuses a window
    window = config_from_args(parser.parse_args(["train", "--dataset", "smnist", "--readout-window", "0.6"])).model
    assert (window.readout, window.readout_window) == ("leaky", 0.6)
    counts = config_from_args(parser.parse_args(["train", "--dataset", "smnist", "--readout", "counts"])).model
    assert (counts.readout, counts.readout_window) == ("counts", 1.0)
    assert main(["train", "--dataset", "smnist", "--readout", "counts", "--readout-window", "0.5"]) == 2
    assert capsys.readouterr().err.strip().endswith("readout_window 0.5 needs the leaky readout, not 'counts'")
    assert main(["train", "--dataset", "smnist", "--readout-window", "0"]) == 2
    assert "the readout window must be a fraction of the steps in (0, 1], got 0.0" in capsys.readouterr().err
    # the layers given: no preset, every option at its own default
    config = config_from_args(parser.parse_args(["train", "--dataset", "smnist", "--arch", "32r-10"]))
    assert (config.model.arch, config.model.readout, config.model.threshold, config.train.batch_size) == (
        "32r-10", "counts", ModelConfig().threshold, TrainConfig().batch_size)
    assert main(["train", "--arch", "smnist"]) == 2
    assert capsys.readouterr().err.strip().endswith("the smnist preset is made for --dataset smnist or psmnist, "
                                                    "not mnist")
    assert main(["train", "--dataset", "smnist", "--arch", "psmnist"]) == 2
    assert capsys.readouterr().err.strip().endswith("the psmnist preset is made for --dataset psmnist, not smnist")


@pytest.fixture(scope="module")
def conv_run(tmp_path_factory: pytest.TempPathFactory, mnist: MNIST) -> Path:
    from tests.conftest import write_mnist_dir
    root = tmp_path_factory.mktemp("conv")
    data_dir = write_mnist_dir(root / "mnist", mnist, 2000, 200)
    assert main(["train", "--data-dir", str(data_dir), "--arch", "6c5-a2-12c3-s2-10", "--epochs", "2", "-T", "6",
                 "--out", str(root / "run")]) == 0
    return root


def test_a_conv_run_evaluates_reports_predicts_and_round_trips_through_nir(conv_run: Path, tmp_path: Path,
                                                                        mnist: MNIST, capsys) -> None:
    checkpoint, data_dir = conv_run / "run" / "checkpoints" / "final.safetensors", conv_run / "mnist"
    capsys.readouterr()
    assert main(["eval", str(checkpoint), "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    accuracy = re.search(r"test accuracy (\S+)%", out).group(1)
    assert float(accuracy) > 30 and "layer 1 (4704 neurons)" in out
    assert main(["export", str(checkpoint), str(tmp_path / "conv.nir")]) == 0
    assert "conv1 -> lif1 -> pool2 -> conv3 -> lif3 -> pool4 -> flatten5 -> affine6" in capsys.readouterr().out
    assert main(["import", str(tmp_path / "conv.nir"), str(tmp_path / "back.safetensors"), "-T", "6"]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "back.safetensors"), "--data-dir", str(data_dir)]) == 0
    assert re.search(r"test accuracy (\S+)%", capsys.readouterr().out).group(1) == accuracy
    image = tmp_path / "digit.png"
    Image.fromarray(mnist.test.images[0].numpy().reshape(28, 28).astype(np.uint8)).save(image)
    assert main(["predict", str(image), "--checkpoint", str(checkpoint)]) == 0
    assert re.search(r"predicted digit: \d", capsys.readouterr().out)
    assert main(["report", str(conv_run / "run"), "--limit-test", "50"]) == 0
    page = (conv_run / "run" / "report" / "index.html").read_text()
    assert "1x28x28 &rarr; 6c5-a2-12c3-s2-10" in page and "<td>layer 3</td>" in page


def test_a_max_pooling_network_refuses_nir_export_in_one_line(small_mnist_dir: Path, tmp_path: Path,
                                                              capsys) -> None:
    assert main(["train", "--data-dir", str(small_mnist_dir), "--out", str(tmp_path / "r"), "--arch",
                 "4c3-p2-10", *SMALL]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "r" / "checkpoints" / "last.safetensors"), str(tmp_path / "x.nir")]) == 2
    err = capsys.readouterr().err
    assert "max pooling, which NIR cannot represent" in err and err.count("\n") == 1
    assert not (tmp_path / "x.nir").exists()


def test_a_killed_conv_run_resumes_bit_identical(tmp_path: Path, small_mnist_dir: Path) -> None:
    arch = ["--arch", "4c3-p2-6c3-p2-10", "--epochs", "2"]
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    result = subprocess.run(_train_command(small_mnist_dir, "--out", str(whole), *arch), env=_environment(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    command = _train_command(small_mnist_dir, "--out", str(broken), *arch)
    assert _interrupt_at(command, broken, (0, 20), signal.SIGKILL)[0] == -signal.SIGKILL
    resume = [sys.executable, "-m", "spikekit", "train", "--resume", str(broken), "--checkpoint-every", "1"]
    assert _interrupt_at(resume, broken, (1, 10), signal.SIGKILL)[0] == -signal.SIGKILL
    result = subprocess.run(resume, env=_environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert _metrics(broken) == _metrics(whole)
    expected, actual = _weights(whole), _weights(broken)
    assert expected.keys() == actual.keys() and any("conv" in name for name in expected)
    for name in expected:
        assert expected[name].equal(actual[name]), name
