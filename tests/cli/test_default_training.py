"""Slow: ``spikekit train`` with no arguments reaches the accuracy the README reports (>= 97.5%)."""

import json
from pathlib import Path

import pytest

from spikekit.cli import main


@pytest.mark.slow
def test_defaults_reach_97_5_percent(tmp_path: Path) -> None:
    assert main(["train", "--out", str(tmp_path / "run")]) == 0
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 16
    assert records[-1]["test_accuracy"] >= 0.975
