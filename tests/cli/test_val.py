"""spikekit train --val N: a validation split held out of training; the best checkpoint follows it."""

import json
from pathlib import Path

from spikekit.cli import main
from spikekit.io.checkpoint import load_checkpoint


def test_best_checkpoint_follows_validation(tmp_path: Path, small_mnist_dir: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", "--data-dir", str(small_mnist_dir), "--epochs", "4", "-T", "6", "--val", "300",
                 "--out", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "700 train / 300 validation / 200 test images" in out
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    vals = [record["val_accuracy"] for record in records]
    chosen = vals.index(max(vals))  # the first of equals
    best = load_checkpoint(run_dir / "checkpoints" / "best.safetensors").meta
    assert best["epoch"] == chosen + 1 and best["test_accuracy"] == records[chosen]["test_accuracy"]
    assert f"best validation accuracy {100 * vals[chosen]:.2f}% at epoch {chosen + 1}" in out
    assert json.loads((run_dir / "config.json").read_text())["train"]["val"] == 300


def test_a_validation_split_as_large_as_the_training_set_is_refused(tmp_path: Path, small_mnist_dir: Path,
                                                                    capsys) -> None:
    assert main(["train", "--data-dir", str(small_mnist_dir), "--val", "1000", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--val" in err and "0 <= N < 1000" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()
