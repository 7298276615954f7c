"""spikekit train --dataset nmnist on a small synthetic N-MNIST folder written in the real format."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from spikekit.cli import main
from spikekit.data.mnist import MNIST
from spikekit.data.nmnist import write_nmnist_folder
from tests.cli.test_resume import _environment, _interrupt_at, _metrics


@pytest.fixture(scope="module")
def nmnist_dir(tmp_path_factory: pytest.TempPathFactory, mnist: MNIST) -> Path:
    root = tmp_path_factory.mktemp("nmnist")
    images = lambda split, count: split.images[:count].numpy().reshape(-1, 28, 28) / 255.0  # noqa: E731
    write_nmnist_folder(root, images(mnist.train, 800), mnist.train.labels[:800].numpy(), "Train")
    write_nmnist_folder(root, images(mnist.test, 200), mnist.test.labels[:200].numpy(), "Test", seed=1)
    return root


def _train(nmnist_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--dataset", "nmnist", "--data-dir", str(nmnist_dir), "-T", "10", "--out", str(out), *extra]


def test_nmnist_trains_well_above_chance_and_reports(nmnist_dir: Path, tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main([*_train(nmnist_dir, run_dir, "--epochs", "4", "--report")]) == 0
    out = capsys.readouterr().out
    assert "800 train / 200 test images" in out
    config = json.loads((run_dir / "config.json").read_text())
    assert config["dataset"] == "nmnist" and config["model"]["input_shape"] == [2, 34, 34]
    assert config["train"]["shift"] == 0 and config["train"]["bin_mode"] == "time"
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["test_accuracy"] > 0.5  # chance is 0.1
    assert (run_dir / "report" / "encoding.png").is_file()
    assert main(["eval", str(run_dir / "checkpoints" / "final.safetensors")]) == 0
    assert f"{100 * max(r['test_accuracy'] for r in records):.2f}% on 200 images" in capsys.readouterr().out
    png = tmp_path / "recording.png"
    assert main(["encode", "--dataset", "nmnist", "--data-dir", str(nmnist_dir), "--index", "2", "-T", "12",
                 "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG" and "(label 2)" in capsys.readouterr().out


def test_a_conv_net_and_the_reference_engine_read_event_data(nmnist_dir: Path, tmp_path: Path) -> None:
    for name, extra in (("conv", ["--arch", "4c3-p2-10", "--downsample", "2", "--bin-mode", "count"]),
                        ("reference", ["--engine", "reference", "--limit-train", "200"])):
        assert main([*_train(nmnist_dir, tmp_path / name, "--epochs", "1", "--limit-test", "50", *extra)]) == 0
    config = json.loads((tmp_path / "conv" / "config.json").read_text())
    assert config["model"]["input_shape"] == [2, 17, 17]


def test_a_killed_nmnist_run_resumes_bit_identical(nmnist_dir: Path, tmp_path: Path) -> None:
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    common = ["--epochs", "2", "--batch-size", "64", "--limit-test", "50", "--checkpoint-every", "1"]
    assert main([*_train(nmnist_dir, whole, *common)]) == 0
    command = [sys.executable, "-m", "spikekit", *_train(nmnist_dir, broken, *common)]
    assert _interrupt_at(command, broken, (0, 6), signal.SIGKILL)[0] == -signal.SIGKILL
    result = subprocess.run([sys.executable, "-m", "spikekit", "train", "--resume", str(broken)],
                            env=_environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert _metrics(broken) == _metrics(whole)


@pytest.mark.parametrize("extra, message", [
    (["--dataset", "nmnist"], "needs --data-dir"),
    (["--dataset", "nmnist", "--data-dir", "/nonexistent", "--shift", "1"], "event recordings are not shifted"),
    (["--dataset", "nmnist", "--data-dir", "/nonexistent"], "does not exist"),
    (["--dataset", "nmnist", "--data-dir", "/nonexistent", "--downsample", "0"], "--downsample must be"),
])
def test_bad_event_options_are_one_line_errors(extra: list[str], message: str, tmp_path: Path, capsys) -> None:
    assert main(["train", *extra, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
