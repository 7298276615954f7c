"""``spikekit report RUN_DIR``: write index.html and the PNGs it shows (``spikekit.report``)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from tqdm import tqdm

from spikekit import plots
from spikekit.cli.common import image_progress, load_data
from spikekit.cli.inspect import load_model
from spikekit.config import RunConfig
from spikekit.errors import ConfigError
from spikekit.io.atomic import write_atomic
from spikekit.io.run_dir import RunDir, SeedRuns
from spikekit.report import build_report, seeds_page
from spikekit.train.summary import seed_summary, selection_key


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("report", help="write an HTML report of a training run")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by spikekit train (a "
                        "multi-seed one gets a report per seed and a page comparing them)")
    parser.add_argument("--out", metavar="DIR", help="where to write the report (default: RUN_DIR/report)")
    parser.add_argument("--checkpoint", choices=("best", "final", "last"), help="which model to show: best (on "
                        "validation; runs with --val), final (end of the newest epoch) or last (newest checkpoint); "
                        "default best where the run has one, else final")
    parser.add_argument("--data-dir", metavar="DIR", help="directory of the four MNIST IDX files")
    parser.add_argument("--limit-test", type=int, metavar="N", help="use only the first N test images")
    parser.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    if SeedRuns.holds(args.run_dir):
        write_seeds_report(Path(args.run_dir), args.out, args.checkpoint, args.data_dir, args.limit_test)
    else:
        write_report(Path(args.run_dir), args.out, args.checkpoint, args.data_dir, args.limit_test)
    return 0


def write_seeds_report(path: Path, out: str | None = None, which: str | None = None, data_dir: str | None = None,
                       limit_test: int | None = None) -> Path:
    """Every finished seed's own report (``seed-<n>/report``), then the page that compares them
    (``out``, default RUN_DIR/report): the overlaid curves and the summary table; returns its index.html."""
    runs = SeedRuns(path)
    seeds, config_dict = runs.read_plan()
    config = RunConfig.from_dict(config_dict)
    histories = runs.histories(seeds)
    out_dir = Path(out) if out else runs.path / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    links = {}
    for seed in seeds:
        run = runs.run(seed)
        if (run.checkpoint_path(which) if which else run.checkpoint_path("final")).is_file():
            index = write_report(runs.run(seed).path, None, which, data_dir, limit_test)
            links[seed] = os.path.relpath(index, out_dir)
    summary = seed_summary(histories, selection_key(config.train))
    plots.seed_curves(histories).savefig(out_dir / "seed_curves.png", dpi=100)
    index = out_dir / "index.html"
    write_atomic(index, seeds_page(config, summary, "seed_curves", links).encode())
    print(f"wrote {index} ({len(links)} of {len(seeds)} seeds reported)")
    return index


def write_report(run_path: Path, out: str | None = None, which: str | None = None, data_dir: str | None = None,
                 limit_test: int | None = None) -> Path:
    """Build the report of the run in ``run_path`` and write it to ``out``; returns the index.html path."""
    run = RunDir(run_path)
    if not run.config_path.is_file():
        raise ConfigError(f"{run_path} is not a spikekit run directory (no config.json)")
    model, config = load_model(str(run.checkpoint_path(which) if which else run.model_checkpoint()), engine=None)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, limit_test=limit_test))
    history = run.read_metrics()
    data = load_data(data_dir or config.data_dir, config.train, config.dataset)
    out_dir = Path(out) if out else run.path / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    with image_progress(len(data.test.labels), "report: test set") as on_batch:
        report = build_report(model, config, history, data.test, on_batch)
    for name, figure in tqdm(report.figures.items(), desc="report: figures", file=sys.stderr, leave=False,
                             disable=None):
        figure.savefig(out_dir / f"{name}.png", dpi=100)
    index = out_dir / "index.html"
    write_atomic(index, report.html.encode())
    print(f"wrote {index} ({len(report.figures)} figures; test accuracy {100 * report.evaluation.accuracy:.2f}%)")
    return index
