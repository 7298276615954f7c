"""Slow: ``spikekit train`` with no arguments, and with the conv preset, reach the accuracy the README reports."""

import json
from pathlib import Path

import pytest

from spikekit.cli import main


@pytest.mark.slow
def test_defaults_reach_98_percent_on_every_seed(tmp_path: Path) -> None:
    """The default recipe from seeds 0, 1 and 2: each >= 98.0% final, mean >= 98.1% (about 3 minutes)."""
    assert main(["train", "--seeds", "0", "1", "2", "--out", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert [entry["epochs"] for entry in summary["seeds"]] == [16, 16, 16]
    assert all(entry["final"] >= 0.98 for entry in summary["seeds"]), summary
    assert summary["final"]["mean"] >= 0.981, summary


@pytest.mark.slow
def test_conv_preset_reaches_99_percent(tmp_path: Path) -> None:
    """``--arch conv`` (12c5-p2-32c5-p2-10, trained at T=8 in batches of 64 for 7 epochs, tested at T=16):
    99.21% measured on this host (README, the conv issue's 99.2% target); ~10 minutes on 2 cores. The floor
    leaves 10 test images of room for another host's float rounding."""
    assert main(["train", "--arch", "conv", "--out", str(tmp_path / "run")]) == 0
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 7
    assert records[-1]["test_accuracy"] >= 0.991
