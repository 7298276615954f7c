"""spikekit train --seeds: per-seed run directories, summary.json with the right statistics, resume, report."""

import json
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from spikekit.cli import main
from spikekit.io.run_dir import RunDir
from tests.cli.test_resume import _environment, _interrupt_at, _metrics

TINY = ["--epochs", "2", "-T", "4", "--limit-train", "300", "--limit-test", "100", "--batch-size", "50"]


def _seed_tests(run_dir: Path, seed: int) -> list[float]:
    return [record["test_accuracy"] for record in _metrics(run_dir / f"seed-{seed}")]


def test_seeds_write_their_runs_and_a_summary(tmp_path: Path, small_mnist_dir: Path, capsys) -> None:
    run_dir = tmp_path / "seeds"
    assert main(["train", "--data-dir", str(small_mnist_dir), *TINY, "--seeds", "3", "0", "--out", str(run_dir),
                 "--report"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((run_dir / "summary.json").read_text())
    finals = {seed: _seed_tests(run_dir, seed)[-1] for seed in (3, 0)}
    assert [entry["seed"] for entry in summary["seeds"]] == [0, 3]
    assert {e["seed"]: e["final"] for e in summary["seeds"]} == finals
    assert summary["selected_by"] is None and "best" not in summary  # no --val: nothing chosen on test
    assert summary["final"]["mean"] == pytest.approx(statistics.fmean(finals.values()))
    assert summary["final"]["std"] == pytest.approx(statistics.stdev(finals.values()))
    for seed in (0, 3):  # each seed is an ordinary run directory with its own seed
        config = json.loads((run_dir / f"seed-{seed}" / "config.json").read_text())
        assert config["train"]["seed"] == seed
    assert _metrics(run_dir / "seed-0") != _metrics(run_dir / "seed-3")
    assert f"{100 * summary['final']['mean']:.2f}%" in out and "+-std" in out
    page = (run_dir / "report" / "index.html").read_text()
    assert "seed_curves.png" in page and "../seed-0/report/index.html" in page
    assert (run_dir / "report" / "seed_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["report", str(run_dir), "--limit-test", "50"]) == 0  # the report command knows the layout too


def test_a_stopped_multi_seed_run_resumes_to_the_same_result(tmp_path: Path, small_mnist_dir: Path) -> None:
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    base = [sys.executable, "-m", "spikekit", "train", "--data-dir", str(small_mnist_dir), *TINY,
            "--checkpoint-every", "1", "--seeds", "1", "2"]
    assert main(["train", "--data-dir", str(small_mnist_dir), *TINY, "--seeds", "1", "2", "--out", str(whole)]) == 0
    # Killed in the middle of the second seed, then resumed: the first stays, the second continues.
    code, _ = _interrupt_at([*base, "--out", str(broken)], broken / "seed-2", (1, 2), signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert not (broken / "summary.json").exists() or len(json.loads(
        (broken / "summary.json").read_text())["seeds"]) == 2
    resume = [sys.executable, "-m", "spikekit", "train", "--resume", str(broken)]
    result = subprocess.run(resume, env=_environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "already finished" in result.stdout and "resuming" in result.stdout
    for seed in (1, 2):
        assert _metrics(broken / f"seed-{seed}") == _metrics(whole / f"seed-{seed}")
    # summary.json holds accuracies only (no timings), so the two agree exactly
    assert json.loads((broken / "summary.json").read_text()) == json.loads((whole / "summary.json").read_text())


@pytest.mark.parametrize("extra, message", [
    (["--seeds", "1", "1"], "distinct"),
    (["--seeds", "1", "--seed", "2"], "do not combine"),
    (["--seeds", "-1"], "distinct integers >= 0"),
    (["--jobs", "2"], "give --seeds too"),
    (["--seeds", "1", "2", "--jobs", "0"], "--jobs must be"),
])
def test_bad_seed_options_are_one_line_errors(tmp_path: Path, extra: list[str], message: str, capsys) -> None:
    assert main(["train", *extra, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_parallel_seeds_equal_single_runs_with_their_thread_count(tmp_path: Path, small_mnist_dir: Path) -> None:
    """--jobs 2: each seed in a child process of cores/2 threads, its metrics those of a plain run with that
    many threads; SIGTERM to the parent checkpoints the children, and --resume finishes every seed."""
    threads = str(max(1, len(os.sched_getaffinity(0)) // 2))
    single = tmp_path / "single"
    env = _environment() | {"OMP_NUM_THREADS": threads, "NUMBA_NUM_THREADS": threads}
    for seed in (1, 2):
        command = [sys.executable, "-m", "spikekit", "train", "--data-dir", str(small_mnist_dir), *TINY, "--seed",
                   str(seed), "--out", str(single / f"seed-{seed}")]
        assert subprocess.run(command, env=env, capture_output=True, timeout=300).returncode == 0

    run_dir = tmp_path / "jobs"
    base = [sys.executable, "-m", "spikekit", "train", "--data-dir", str(small_mnist_dir), *TINY,
            "--checkpoint-every", "1", "--seeds", "1", "2", "--jobs", "2", "--out", str(run_dir)]
    code, err = _interrupt_at(base, run_dir / "seed-2", (0, 1), signal.SIGTERM)
    assert code == 128 + signal.SIGTERM and f"spikekit train --resume {run_dir} --jobs 2" in err
    # seed 2 was stopped mid-run (seed 1, running beside it, may have finished in the meantime)
    assert len(RunDir(run_dir / "seed-2").read_metrics()) < 2
    resume = [sys.executable, "-m", "spikekit", "train", "--resume", str(run_dir), "--jobs", "2"]
    result = subprocess.run(resume, env=_environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for seed in (1, 2):
        assert _metrics(run_dir / f"seed-{seed}") == _metrics(single / f"seed-{seed}")
    assert "resuming" in (run_dir / "seed-2" / "train.log").read_text()
    assert len(json.loads((run_dir / "summary.json").read_text())["seeds"]) == 2


def test_resume_with_epochs_extends_every_seed(tmp_path: Path, small_mnist_dir: Path, capsys) -> None:
    run_dir = tmp_path / "seeds"
    assert main(["train", "--data-dir", str(small_mnist_dir), *TINY, "--seeds", "0", "1", "--out", str(run_dir)]) == 0
    epochs = json.loads((run_dir / "seeds.json").read_text())["config"]["train"]["epochs"]
    assert main(["train", "--resume", str(run_dir), "--epochs", str(epochs + 1)]) == 0
    assert json.loads((run_dir / "seeds.json").read_text())["config"]["train"]["epochs"] == epochs + 1
    for seed in (0, 1):
        assert len(_metrics(run_dir / f"seed-{seed}")) == epochs + 1
        assert json.loads((run_dir / f"seed-{seed}" / "config.json").read_text())["train"]["seed"] == seed
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [entry["epochs"] for entry in summary["seeds"]] == [epochs + 1] * 2
