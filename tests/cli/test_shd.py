"""``spikekit train --dataset shd`` on files written in the official layout: a recurrent ALIF network learns
class-dependent channel bands; missing files and a last layer too small for the classes are refused in one line."""

import json
from pathlib import Path

import numpy as np

from spikekit.cli import main
from tests.data.test_shd import _write


def _dataset(directory: Path, seed: int = 0) -> Path:
    """shd_train.h5 (160 samples) and shd_test.h5 (60): each label's spikes in a band of channels of its own."""
    rng = np.random.default_rng(seed)
    directory.mkdir()
    for split, count in (("train", 160), ("test", 60)):
        labels = rng.integers(0, 20, count)
        times = [np.sort(rng.uniform(0.0, 0.9, 300)) for _ in labels]
        units = [np.clip(rng.normal(label * 33 + 20, 20, 300), 0, 699) for label in labels]
        _write(directory / f"shd_{split}.h5", times, units, labels)
    return directory


def test_a_recurrent_network_learns_shd_shaped_data(tmp_path: Path, capsys) -> None:
    data = _dataset(tmp_path / "shd")
    assert main(["train", "--dataset", "shd", "--data-dir", str(data), "--arch", "32ra-20", "-T", "40",
                 "--epochs", "3", "--init-gain", "4", "--threshold", "0.3", "--readout", "leaky", "--lr", "1e-2",
                 "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "160 train" in out and "60 test" in out
    # chance is 5%; bands this separable measured 63% after 3 epochs
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["test_accuracy"] >= 0.30


def test_missing_files_and_too_few_outputs_are_refused_in_one_line(tmp_path: Path, capsys) -> None:
    assert main(["train", "--dataset", "shd", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "shd_train.h5" in err and "zenkelab.org" in err and err.count("\n") == 1
    data = _dataset(tmp_path / "shd")
    assert main(["train", "--dataset", "shd", "--data-dir", str(data), "--arch", "16-10",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "20 classes but the network's last layer has 10 neurons" in err and err.count("\n") == 1
