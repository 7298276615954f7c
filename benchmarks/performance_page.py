"""Make docs/performance.md from the benchmark results file (``bench_engines.py --results``).

    python benchmarks/performance_page.py [--results benchmarks/results/engines.json] [--out docs/performance.md]

docs/performance-avx2.md is the same page for a run without AVX-512 (``--results
benchmarks/results/engines-avx2.json``: bench_engines.py run with NUMBA_CPU_NAME=haswell, NUMBA_CPU_FEATURES
with every avx512 feature off, and ATEN_CPU_CAPABILITY=avx2).

Every figure on the page comes from that file: one table per section, with the host and date it was measured
on. Ratios compare engines measured in the same run (``bench_engines.py``); figures from different runs or
hosts are not compared.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TITLES = {
    "seed": "The seed network, 784-128-10 (LIF)",
    "alif": "ALIF hidden neurons, 784-128a-10",
    "cuba": "CubaLIF hidden neurons, 784-128s-10",
    "custom": "A user's own model (LIF 784-256, dropout, LIF 256-256 added back, linear head)",
    "conv": "The conv SNN, 12c5-p2-32c5-p2-10",
    "events": "Event data of N-MNIST's shape, 2312-128-10",
}


def page(data: dict) -> str:
    lines = ["# Performance", "",
             "Made by `python benchmarks/performance_page.py` from `benchmarks/results/engines.json`, which",
             "`python benchmarks/bench_engines.py [--section NAME]` writes. Each table is one run: its engines",
             "timed in turns, the ratio column against the `reference` engine of the same run (the step-by-step",
             "loop). Training step = encoding + forward + loss + backward + Adam; inference = encoding + forward.",
             "Timings on these shared 2-core hosts move by 30-50% from run to run; compare ratios, not times.", ""]
    for section, run in data["runs"].items():
        host = run["host"]
        lines += [f"## {TITLES.get(section, section)}", "",
                  f"{run['date']}, {host['cpu']} ({host['machine']}, AVX-512 {host['avx512']}, AMX {host['amx']}, "
                  f"numba target {host['numba_cpu']}), {run['threads']} threads, torch {host['torch']}, "
                  f"numba {host['numba']}; median of {run['rounds']} rounds x {run['repeats']} batches.", "",
                  "| engine | mode | T | batch | samples/s | ms/batch | peak RSS MB | x reference |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in run["rows"]:
            lines.append(f"| {row['engine']} | {row['mode']} | {row['T']} | {row['batch']} | "
                         f"{row['samples_per_s']:,.0f} | {row['ms']:.1f} | {row['peak_rss_mb']:.0f} | "
                         f"{row['x_reference']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "engines.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args()
    args.out.write_text(page(json.loads(args.results.read_text())))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
