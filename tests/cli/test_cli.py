import json
import subprocess
import sys
from pathlib import Path

import pytest

from spikekit.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_train_eval_encode_on_small_data(tmp_path: Path, small_mnist_dir: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    code = main(["train", "--data-dir", str(small_mnist_dir), "--epochs", "2", "-T", "8", "--out", str(run_dir)])
    assert code == 0
    out = capsys.readouterr().out
    assert "epoch 2/2" in out and "final test accuracy" in out
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["num_steps"] == 8 and config["model"]["arch"] == "128-10"
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for key in ("train_loss", "train_accuracy", "test_accuracy", "firing_rate", "sparsity", "seconds"):
        assert key in records[0]
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in records)  # learning itself: tests/train
    for name in ("last", "final"):
        assert (run_dir / "checkpoints" / f"{name}.safetensors").is_file()
    assert not (run_dir / "checkpoints" / "best.safetensors").exists()  # no selection on the test set

    assert main(["eval", str(run_dir / "checkpoints" / "final.safetensors"), "--data-dir", str(small_mnist_dir)]) == 0
    final = records[-1]["test_accuracy"]
    assert f"test accuracy {100 * final:.2f}% on 200 images" in capsys.readouterr().out

    png = tmp_path / "encoding.png"
    assert main(["encode", "--data-dir", str(small_mnist_dir), "--index", "3", "-T", "20", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_steps_test_at_their_own_t_in_training_and_in_eval(tmp_path: Path, small_mnist_dir: Path,
                                                                capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", "--data-dir", str(small_mnist_dir), "--epochs", "1", "-T", "6", "--eval-steps", "14",
                 "--out", str(run_dir)]) == 0
    accuracy = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])["test_accuracy"]
    capsys.readouterr()
    checkpoint = str(run_dir / "checkpoints" / "last.safetensors")
    assert main(["eval", checkpoint, "--data-dir", str(small_mnist_dir)]) == 0  # the run's test T by default
    assert f"test accuracy {100 * accuracy:.2f}% on 200 images, T=14," in capsys.readouterr().out
    assert main(["eval", checkpoint, "--data-dir", str(small_mnist_dir), "-T", "6"]) == 0
    assert "T=6," in capsys.readouterr().out


def test_existing_run_directory_is_not_overwritten(tmp_path: Path, capsys) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    assert main(["train", "--out", str(tmp_path)]) == 2
    assert "already exists; pass --resume to continue it or --force" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize(("args", "message"), [
    (["train", "-T", "-1"], "num_steps must be an integer >= 1"),
    (["train", "--tau", "1"], "tau must be > 1"),
    (["train", "--tau", "nan"], "tau must be a finite number"),
    (["train", "--threshold", "0"], "threshold must be > 0"),
    (["train", "--surrogate", "magic"], "unknown surrogate 'magic'"),
    (["train", "--engine", "turbo"], "unknown engine 'turbo'"),
    (["train", "--device", "tpu"], "unknown device 'tpu'"),
    (["train", "--lr", "0"], "lr must be a finite number > 0"),
    (["train", "--lr", "inf"], "lr must be a finite number > 0"),
    (["train", "--batch-size", "0"], "batch_size must be an integer >= 1"),
    (["train", "--eval-steps", "0"], "eval_steps must be an integer >= 1"),
    (["train", "--dataset", "nmnist", "--eval-steps", "50"], "--eval-steps is for Poisson-coded images"),
    (["train", "--hidden", "0"], "layer sizes must be"),
    (["train", "--hidden"], "expected at least one argument"),
    (["train", "--epochs", "x"], "invalid int value"),
    (["train", "--data-dir", "/no/such/dir"], "does not exist"),
    (["eval", "/no/such.safetensors"], "no such checkpoint file"),
    (["encode", "--out", "x.jpg"], "must name a .png file"),
])
def test_bad_values_exit_2_with_one_line(args, message, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(args))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_unwritable_output_directory_is_one_line(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["train", "--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_python_m_and_the_seed_script_start() -> None:
    for command in ([sys.executable, "-m", "spikekit", "--help"], [sys.executable, "train_snn.py", "--help"]):
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "usage:" in result.stdout


def test_runs_started_in_the_same_second_get_directories_of_their_own(tmp_path: Path) -> None:
    from spikekit.cli.train import fresh_run_dir

    first = fresh_run_dir(tmp_path)
    first.mkdir()
    second = fresh_run_dir(tmp_path)
    if second.name.startswith(first.name):  # the same second (else the clock moved on: a new name anyway)
        assert second.name == f"{first.name}-2"
    assert not second.exists()
