"""Exact resume: real subprocesses killed mid-run and resumed end bit-identical to an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from spikekit.cli import main
from spikekit.errors import CheckpointError
from spikekit.io.checkpoint import load_checkpoint

TIMING = ("seconds", "samples_per_second", "eval_seconds")


def _train_command(data_dir: Path, *extra: str) -> list[str]:
    # 63 batches per epoch, a checkpoint after each: slow enough to kill at chosen points, quick to finish.
    return [sys.executable, "-m", "spikekit", "train", "--data-dir", str(data_dir), "--epochs", "3", "-T", "6",
            "--batch-size", "16", "--limit-test", "100", "--checkpoint-every", "1", *extra]


def _environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "2", "NUMBA_NUM_THREADS": "2"}  # same thread count in every run


def _position(run_dir: Path) -> tuple[int, int] | None:
    try:
        progress = load_checkpoint(run_dir / "checkpoints" / "last.safetensors").meta["state"]["progress"]
    except CheckpointError:
        return None
    return progress["epoch"], progress["batch"]


def _interrupt_at(command: list[str], run_dir: Path, target: tuple[int, int], number: int) -> tuple[int, str]:
    """Start ``command``, send signal ``number`` once its checkpoint reaches ``target``; (exit code, stderr)."""
    process = subprocess.Popen(command, env=_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 120
    while (_position(run_dir) or (-1, -1)) < target and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if process.poll() is None:
        process.send_signal(number)
    _, err = process.communicate(timeout=120)
    assert (_position(run_dir) or (-1, -1)) >= target, f"run ended before reaching {target}: {err}"
    return process.returncode, err


def _finish(command: list[str]) -> None:
    result = subprocess.run(command, env=_environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def _metrics(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    return {**checkpoint.model, **{f"adam/{i}/{k}": v for i, s in checkpoint.optimizer["state"].items()
                                   for k, v in s.items()}}


def test_killed_runs_resume_bit_identical(tmp_path: Path, small_mnist_dir: Path) -> None:
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    _finish(_train_command(small_mnist_dir, "--out", str(whole)))

    command = _train_command(small_mnist_dir, "--out", str(broken))
    assert _interrupt_at(command, broken, (0, 10), signal.SIGKILL)[0] == -signal.SIGKILL
    resume = [sys.executable, "-m", "spikekit", "train", "--resume", str(broken), "--checkpoint-every", "1"]
    assert _interrupt_at(resume, broken, (1, 0), signal.SIGTERM)[0] == 128 + signal.SIGTERM
    assert _interrupt_at(resume, broken, (1, 30), signal.SIGKILL)[0] == -signal.SIGKILL
    # Damage the newest checkpoint: the resume must fall back to the previous one and still agree exactly.
    last = broken / "checkpoints" / "last.safetensors"
    last.write_bytes(last.read_bytes()[:100])
    result = subprocess.run(resume, env=_environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "warning: skipped" in result.stderr and "last.safetensors" in result.stderr

    assert _metrics(broken) == _metrics(whole)
    expected, actual = _weights(whole), _weights(broken)
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name


def test_sigint_saves_and_says_how_to_continue(tmp_path: Path, small_mnist_dir: Path) -> None:
    run_dir = tmp_path / "run"
    command = _train_command(small_mnist_dir, "--out", str(run_dir))
    code, err = _interrupt_at(command, run_dir, (0, 5), signal.SIGINT)
    assert code == 128 + signal.SIGINT
    assert f"spikekit train --resume {run_dir}" in err and "Traceback" not in err
    epoch, batch = _position(run_dir)
    assert (epoch, batch) >= (0, 5)


def test_resume_needs_a_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "not a spikekit run directory" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "--out cannot be given" in capsys.readouterr().err


def test_non_finite_loss_stops_naming_epoch_and_batch(tmp_path: Path, small_mnist_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture) -> None:
    cross_entropy, calls = torch.nn.functional.cross_entropy, []

    def poisoned(*args, **kwargs):  # the 12th batch (epoch 2, batch 4 of 8) gives NaN
        calls.append(1)
        return cross_entropy(*args, **kwargs) * (float("nan") if len(calls) == 12 else 1.0)
    monkeypatch.setattr(torch.nn.functional, "cross_entropy", poisoned)
    run_dir = tmp_path / "run"
    code = main(["train", "--data-dir", str(small_mnist_dir), "--epochs", "3", "-T", "4", "--limit-test", "50",
                 "--out", str(run_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "loss became nan at epoch 2, batch 4" in err and err.count("\n") == 1
    kept = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")  # the end of epoch 1, intact
    assert kept.meta["state"]["progress"] == {"epoch": 1, "batch": 0, "num_batches": 0, "loss_sum": 0.0,
                                              "correct": 0, "seen": 0, "seconds": 0.0}
    assert all(torch.isfinite(t).all() for t in kept.model.values())


def test_options_given_with_resume_are_refused_by_name(tmp_path: Path, small_mnist_dir: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", "--data-dir", str(small_mnist_dir), "--epochs", "1", "-T", "4", "--limit-test", "50",
                 "--out", str(run_dir)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--lr", "0.1", "-T", "9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--lr" in err and "--num-steps" in err and "--epochs N" in err
    assert main(["train", "--resume", str(run_dir), "--out", str(tmp_path / "other")]) == 2
    assert "--out" in capsys.readouterr().err


def test_resume_with_epochs_extends_a_finished_run(tmp_path: Path, small_mnist_dir: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    base = ["--data-dir", str(small_mnist_dir), "-T", "4", "--limit-test", "50"]
    assert main(["train", *base, "--epochs", "2", "--out", str(run_dir)]) == 0
    before = _metrics(run_dir)
    finished = load_checkpoint(run_dir / "checkpoints" / "final.safetensors").model
    assert main(["train", "--resume", str(run_dir), "--epochs", "1"]) == 2  # below what is done
    assert "at least the 2 epochs" in capsys.readouterr().err
    assert main(["train", "--resume", str(run_dir), "--epochs", "3"]) == 0
    assert "extended to 3 epochs" in capsys.readouterr().out
    after = _metrics(run_dir)
    assert [r["epoch"] for r in after] == [1, 2, 3] and after[:2] == before  # the first two kept as they were
    assert json.loads((run_dir / "config.json").read_text())["train"]["epochs"] == 3
    extended = load_checkpoint(run_dir / "checkpoints" / "final.safetensors").model
    # The wsd schedule had decayed to 0 at the end of epoch 2; re-planned over 3 epochs, epoch 3 trains at
    # the full lr again, so the weights move.
    assert any(not torch.equal(finished[name], extended[name]) for name in finished)
    assert main(["train", "--resume", str(run_dir)]) == 0  # and a later resume sees the longer run as finished
    assert "already finished its 3 epochs" in capsys.readouterr().out
