"""benchmarks/performance_page.py renders every figure from the results files, none typed by hand."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "performance_page.py"
_spec = importlib.util.spec_from_file_location("performance_page", SCRIPT)
page_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(page_module)

HOST = {"cpu": "Test CPU", "machine": "x86_64", "avx512": "True", "amx": "False", "numba_cpu": "host",
        "torch": "2.13.0", "numba": "0.68.1", "python": "3.11"}


def test_the_engines_page_holds_each_row_of_the_file() -> None:
    run = {"date": "2026-12-05T00:00:00+00:00", "host": HOST, "threads": 2, "repeats": 10, "rounds": 3,
           "rows": [{"network": "128a-10", "engine": engine, "mode": "train", "T": 25, "batch": 128,
                     "samples_per_s": rate, "ms": 128000 / rate, "peak_rss_mb": 400.0, "x_reference": rate / 4000}
                    for engine, rate in (("reference", 4000.0), ("fast", 43210.0))]}
    text = page_module.page({"runs": {"alif": run}})
    assert "## ALIF hidden neurons, 784-128a-10" in text
    assert "| fast | train | 25 | 128 | 43,210 | 3.0 | 400 | 10.8 | - |" in text  # a run without firing
    assert "Test CPU" in text


def test_the_engines_page_gives_each_hidden_layers_firing_in_percent() -> None:
    row = {"network": "1-64ra-256ra-10", "engine": "fast", "mode": "train", "T": 784, "batch": 32,
           "samples_per_s": 100.0, "ms": 320.0, "peak_rss_mb": 900.0, "x_reference": 9.5,
           "hidden_firing": [0.0314, 0.1]}
    run = {"date": "d", "host": HOST, "threads": 2, "repeats": 1, "rounds": 1, "rows": [row]}
    assert "| 900 | 9.5 | 3.1 / 10.0 |" in page_module.page({"runs": {"smnist": run}})


def test_the_peers_page_gives_rows_checks_and_the_paired_median() -> None:
    run = {"date": "2026-12-05T00:00:00+00:00", "host": {**HOST, "norse": "1.1.0", "snntorch": None},
           "threads": 2, "check": {"Norse": "same", "snnTorch": "not run (no such neuron)"},
           "rows": [{"implementation": "Norse", "mode": "train", "T": 25, "batch": 128, "samples_per_s": 3826.0,
                     "peak_rss_mb": 517.0, "x_fastest_peer": 1.0, "note": ""},
                    {"implementation": "snnTorch", "mode": "train", "T": 25, "batch": 128, "samples_per_s": None,
                     "peak_rss_mb": None, "x_fastest_peer": None, "note": "no such neuron"}],
           "paired": [{"T": 25, "ratio": ratio} for ratio in (9.9, 9.6, 10.4)]}
    text = page_module.peers_page({"runs": {"alif": run}})
    assert "## 784-128a-10 (ALIF hidden layer)" in text and "norse 1.1.0" in text
    assert "| Norse | train | 25 | 128 | 3,826 | 517 | 1.0 |  |" in text
    assert "| snnTorch | train | 25 | 128 | - | - | - | no such neuron |" in text
    assert "Check: Norse: same; snnTorch: not run (no such neuron)" in text
    assert "9.6, 9.9, 10.4; median **9.9x**" in text


def test_the_peers_page_names_the_fast_rows_that_peak_above_the_torch_loop() -> None:
    def row(name: str, mode: str, peak: float) -> dict:
        return {"implementation": name, "mode": mode, "T": 100, "batch": 128, "samples_per_s": 1.0,
                "peak_rss_mb": peak, "x_fastest_peer": 1.0, "note": ""}

    run = {"date": "2026-12-05T00:00:00+00:00", "host": HOST, "threads": 2, "check": {}, "paired": [],
           "rows": [row("torch loop", "train", 600.0), row("spikekit fast", "train", 580.0),
                    row("torch loop", "infer", 378.0), row("spikekit fast", "infer", 439.4)]}
    text = page_module.peers_page({"runs": {"recurrent-lif": run}})
    assert "peak above the torch loop's: 700-256r-20 infer T=100 (+61 MB)." in text
    assert "train T=100" not in text


def test_a_recurrent_peers_run_gets_its_title_and_input_density() -> None:
    run = {"date": "2026-12-05T00:00:00+00:00", "host": HOST, "threads": 2, "input_density": 0.015,
           "check": {"torch loop": "same"}, "rows": [], "paired": []}
    text = page_module.peers_page({"runs": {"recurrent-alif": run}})
    assert "## 700-256ra-20 (recurrent ALIF hidden layer" in text and "Input: 1.5% of (channel, step)" in text


def test_the_engines_page_names_each_tables_command_and_draws_the_figure(tmp_path) -> None:
    rows = [{"network": "128-10", "engine": engine, "mode": "train", "T": steps, "batch": 128,
             "samples_per_s": rate * steps / 25, "ms": 1.0, "peak_rss_mb": 400.0, "x_reference": 1.0}
            for engine, rate in (("reference", 4000.0), ("fast", 40000.0)) for steps in (25, 100)]
    data = {"runs": {"seed": {"date": "d", "host": HOST, "threads": 2, "repeats": 1, "rounds": 1, "rows": rows}}}
    text = page_module.page(data, "bench.png")
    assert "Command: `python benchmarks/bench_engines.py --section seed`." in text
    assert "![training samples/s per engine and network](bench.png)" in text
    assert page_module.LIMITS["seed"] in text and not any(ch.isdigit() for ch in page_module.LIMITS["recurrent"])
    figure = page_module.figure(data)
    axis = figure.axes[0]
    assert [tick.get_text() for tick in axis.get_yticklabels()] == ["seed (T=100)"]
    assert sorted(bar.get_width() for bar in axis.patches) == [16000.0, 160000.0]  # the T=100 rows only
    figure.savefig(tmp_path / "bench.png")
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_recurrent_section_bounds_the_fast_training_ratio_by_its_forward_and_floor() -> None:
    def row(engine: str, mode: str, ms: float) -> dict:
        return {"network": "700-256ra-20", "engine": engine, "mode": mode, "T": 100, "batch": 128,
                "samples_per_s": 128000 / ms, "ms": ms, "peak_rss_mb": 500.0, "x_reference": 1.0}

    rows = [row("reference", "train", 160.0), row("fast", "train", 25.0), row("floor", "train", 10.0),
            row("reference", "infer", 90.0), row("fast", "infer", 6.0)]
    run = {"date": "d", "host": HOST, "threads": 2, "repeats": 1, "rounds": 1, "rows": rows}
    text = page_module.page({"runs": {"recurrent": run}})
    assert "at most **10.0x** the reference (160.0 ms)" in text and "it measures 6.4x." in text
    assert "Bound at" not in page_module.page({"runs": {"recurrent": {**run, "rows": rows[:3]}}})  # no infer row
    assert "Bound at" not in page_module.page({"runs": {"seed": run}})  # its floor's products can be skipped
