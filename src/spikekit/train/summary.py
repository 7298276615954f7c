"""Statistics over the seeds of a multi-seed run: per seed final and best accuracy, mean and spread.

Pure functions of the runs' metrics histories (lists of ``metrics.jsonl`` records).
"""

from __future__ import annotations

import statistics
from typing import Any

from spikekit.config import TrainConfig


def selection_key(config: TrainConfig) -> str | None:
    """The metrics key that picks a run's best epoch (and ``best`` checkpoint): validation accuracy with a
    validation split (``config.val``), else ``None``: without one a run keeps no "best", because choosing the
    epoch on the test set and then reporting that test accuracy is model selection on the test set."""
    return "val_accuracy" if config.val else None


def best_record(history: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The record of the epoch that ``key`` ranks first, the first of equals (as the ``best`` checkpoint
    keeps the first); ``history`` must not be empty."""
    return max(history, key=lambda record: record[key])


def seed_summary(histories: dict[int, list[dict[str, Any]]], key: str | None = None) -> dict[str, Any]:
    """Summary of several runs of one recipe, ``histories[seed]`` being a run's per-epoch records.

    Per seed: ``final`` (test accuracy after the last epoch) and ``epochs``; with a selection ``key``
    (``"val_accuracy"``) also ``best`` (test accuracy at the epoch that ``key`` ranks first, the first of
    equals: the ``best`` checkpoint's epoch), ``best_epoch`` and ``best_val``. Over the seeds that finished at
    least one epoch: ``mean`` and ``std`` of ``final`` (and of ``best``); ``std`` is the sample standard
    deviation (n - 1 in the denominator), ``None`` for a single seed. Accuracies are fractions in [0, 1].
    """
    seeds = []
    for seed, history in sorted(histories.items()):
        if not history:
            seeds.append({"seed": seed, "epochs": 0})
            continue
        entry = {"seed": seed, "epochs": len(history), "final": history[-1]["test_accuracy"]}
        if key is not None:
            best = best_record(history, key)
            entry |= {"best": best["test_accuracy"], "best_epoch": best["epoch"], "best_val": best[key]}
        seeds.append(entry)
    done = [entry for entry in seeds if entry["epochs"]]
    columns = ("final", "best") if key is not None else ("final",)
    return {"selected_by": key, "seeds": seeds, **{name: _spread([entry[name] for entry in done]) for name in columns}}


def _spread(values: list[float]) -> dict[str, float | int | None]:
    return {"mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else None, "n": len(values)}


def summary_table(summary: dict[str, Any]) -> str:
    """The summary as a fixed-width text table, percentages with two decimals (the "best (by val)" columns
    only for runs with a validation split)."""
    by_val = summary["selected_by"] is not None
    lines = [f"{'seed':>6}  {'epochs':>6}  {'final':>8}"
             + (f"  {'best (by val)':>14}  {'best epoch':>10}" if by_val else "")]
    for entry in summary["seeds"]:
        if not entry["epochs"]:
            lines.append(f"{entry['seed']:>6}  {0:>6}  {'-':>8}" + (f"  {'-':>14}  {'-':>10}" if by_val else ""))
            continue
        lines.append(f"{entry['seed']:>6}  {entry['epochs']:>6}  {100 * entry['final']:>7.2f}%"
                     + (f"  {100 * entry['best']:>13.2f}%  {entry['best_epoch']:>10}" if by_val else ""))
    for label, field in (("mean", "mean"), ("+-std", "std")):
        lines.append(f"{label:>6}  {'':>6}  {_percent(summary['final'], field):>8}"
                     + (f"  {_percent(summary['best'], field):>14}" if by_val else ""))
    return "\n".join(lines)


def _percent(spread: dict[str, Any], field: str = "mean") -> str:
    return "-" if spread[field] is None else f"{100 * spread[field]:.2f}%"
