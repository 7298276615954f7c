"""Statistics over the seeds of a multi-seed run: per seed final and best accuracy, mean and spread.

Pure functions of the runs' metrics histories (lists of ``metrics.jsonl`` records).
"""

from __future__ import annotations

import statistics
from typing import Any

from spikekit.config import TrainConfig


def selection_key(config: TrainConfig) -> str:
    """The metrics key that picks a run's best epoch (and ``best`` checkpoint): validation accuracy with a
    validation split (``config.val``), else test accuracy."""
    return "val_accuracy" if config.val else "test_accuracy"


def best_record(history: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The record of the epoch that ``key`` ranks first, the first of equals (as the ``best`` checkpoint
    keeps the first); ``history`` must not be empty."""
    return max(history, key=lambda record: record[key])


def seed_summary(histories: dict[int, list[dict[str, Any]]], key: str = "test_accuracy") -> dict[str, Any]:
    """Summary of several runs of one recipe, ``histories[seed]`` being a run's per-epoch records.

    Per seed: ``final`` (test accuracy after the last epoch), ``best`` (test accuracy at the epoch that
    ``key`` ranks first, the first of equals: the ``best`` checkpoint's epoch), ``best_epoch`` and ``epochs``.
    Over the seeds that finished at least one epoch: ``mean`` and ``std`` of ``final`` and of ``best``;
    ``std`` is the sample standard deviation (n - 1 in the denominator), ``None`` for a single seed.
    Accuracies are fractions in [0, 1].
    """
    seeds = []
    for seed, history in sorted(histories.items()):
        if not history:
            seeds.append({"seed": seed, "epochs": 0})
            continue
        best = best_record(history, key)
        seeds.append({"seed": seed, "epochs": len(history), "final": history[-1]["test_accuracy"],
                      "best": best["test_accuracy"], "best_epoch": best["epoch"]}
                     | ({"best_val": best[key]} if key != "test_accuracy" else {}))
    done = [entry for entry in seeds if entry["epochs"]]
    return {"selected_by": key, "seeds": seeds,
            **{name: _spread([entry[name] for entry in done]) for name in ("final", "best")}}


def _spread(values: list[float]) -> dict[str, float | int | None]:
    return {"mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else None, "n": len(values)}


def summary_table(summary: dict[str, Any]) -> str:
    """The summary as a fixed-width text table, percentages with two decimals."""
    best_name = "best (by val)" if summary["selected_by"] != "test_accuracy" else "best"
    lines = [f"{'seed':>6}  {'epochs':>6}  {'final':>8}  {best_name:>14}  {'best epoch':>10}"]
    for entry in summary["seeds"]:
        if not entry["epochs"]:
            lines.append(f"{entry['seed']:>6}  {0:>6}  {'-':>8}  {'-':>14}  {'-':>10}")
            continue
        lines.append(f"{entry['seed']:>6}  {entry['epochs']:>6}  {100 * entry['final']:>7.2f}%  "
                     f"{100 * entry['best']:>13.2f}%  {entry['best_epoch']:>10}")
    lines.append(f"{'mean':>6}  {'':>6}  {_percent(summary['final']):>8}  {_percent(summary['best']):>14}")
    lines.append(f"{'+-std':>6}  {'':>6}  {_percent(summary['final'], 'std'):>8}  "
                 f"{_percent(summary['best'], 'std'):>14}")
    return "\n".join(lines)


def _percent(spread: dict[str, Any], field: str = "mean") -> str:
    return "-" if spread[field] is None else f"{100 * spread[field]:.2f}%"
