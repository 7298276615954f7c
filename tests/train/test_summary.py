import statistics

import pytest

from spikekit.train.summary import seed_summary, summary_table


def _history(tests: list[float], vals: list[float] | None = None) -> list[dict]:
    return [{"epoch": i + 1, "test_accuracy": t, **({"val_accuracy": vals[i]} if vals else {})}
            for i, t in enumerate(tests)]


def test_final_mean_and_sample_std_and_no_best_without_validation() -> None:
    summary = seed_summary({2: _history([0.90, 0.97, 0.96]), 0: _history([0.95, 0.98]),
                            1: _history([0.99, 0.97])})
    assert [entry["seed"] for entry in summary["seeds"]] == [0, 1, 2]
    assert [e["final"] for e in summary["seeds"]] == [0.98, 0.97, 0.96]
    assert summary["final"]["mean"] == pytest.approx(0.97)
    assert summary["final"]["std"] == pytest.approx(statistics.stdev([0.98, 0.97, 0.96]))
    assert summary["final"]["std"] == pytest.approx(0.01)  # sample std (n - 1)
    # The test set picks nothing: seed 1's 0.99 at epoch 1 is not reported as its "best".
    assert summary["selected_by"] is None and "best" not in summary
    assert all("best" not in entry for entry in summary["seeds"])
    table = summary_table(summary)
    assert "97.00%" in table and "1.00%" in table and len(table.splitlines()) == 6 and "best" not in table


def test_best_follows_validation_when_asked() -> None:
    summary = seed_summary({0: _history([0.97, 0.99, 0.98], vals=[0.96, 0.95, 0.97])}, "val_accuracy")
    entry = summary["seeds"][0]
    assert (entry["best"], entry["best_epoch"], entry["best_val"]) == (0.98, 3, 0.97)  # not the test's 0.99
    assert summary["best"]["std"] is None and summary["best"]["n"] == 1
    assert "best (by val)" in summary_table(summary)


def test_unstarted_seeds_are_listed_but_not_counted() -> None:
    summary = seed_summary({0: _history([0.9]), 1: []})
    assert summary["seeds"][1] == {"seed": 1, "epochs": 0}
    assert summary["final"] == {"mean": 0.9, "std": None, "n": 1}
    assert "-" in summary_table(summary).splitlines()[2]
