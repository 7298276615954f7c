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
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TITLES = {
    "seed": "The seed network, 784-128-10 (LIF)",
    "alif": "ALIF hidden neurons, 784-128a-10",
    "cuba": "CubaLIF hidden neurons, 784-128s-10",
    "custom": "A user's own model (LIF 784-256, dropout, LIF 256-256 added back, linear head)",
    "conv": "The conv SNN, 12c5-p2-32c5-p2-10",
    "events": "Event data of N-MNIST's shape, 2312-128-10",
    "recurrent": "A recurrent ALIF layer of SHD's shape, 700-256ra-20",
    "smnist": "The S-MNIST network of the ALIF recipe, 1-64ra-256ra-10 at T = 784",
    "smnist-adlif": "The S-MNIST network of the adLIF recipe, 1-64rd-256rd-10 at T = 784",
    "smnist-brf": "The S-MNIST network `--dataset smnist` trains, 1-256rb-10 (one recurrent BRF layer) at T = 784",
}

# What limits each figure, in words (no figures here: every number on the page comes from the results file).
LIMITS = {
    "seed": "The fast engine's training step is one compiled pass for the event-fed hidden layer and the readout, "
            "then the same pass backward; at T=25 the fixed costs around it (the Poisson sampler, autograd, Adam) "
            "are a large part of the step, so the ratio grows with T. `floor` times only the dense products a step "
            "of this network implies (five float32 GEMMs, time folded into the batch): the fast engine runs faster "
            "than that because its products skip the inputs that did not spike.",
    "alif": "Same design as the seed network with ALIF rows in the compiled scan: two state rows per neuron "
            "(membrane, adaptation) instead of one, so the scan does about twice the work per step.",
    "cuba": "Same design with CubaLIF rows: the synaptic current is a second state row per neuron.",
    "custom": "A user's own module: each spikekit layer takes its fast path (event-fed first layer, products from "
              "the nonzeros after dropout), while the dropout, the residual sum and the linear head stay ordinary "
              "PyTorch operations with their own cost.",
    "conv": "The convolutions themselves (PyTorch's, GEMM-bound) are most of the step on both engines; the fast "
            "engine saves the per-step LIF and pooling work around them, so its ratio is the smallest, and `floor` "
            "(the convolutions and the readout product alone, forward and backward) is close to it.",
    "events": "Event recordings feed the event-driven layer directly (no sampling); the step is the compiled "
              "pass over the events and its backward.",
    "recurrent": "The recurrent scan is sequential in time within each sample: the spiking neurons' rows of U are "
                 "added step by step, and the adjoint goes back through U step by step, four samples per pass over "
                 "U in each thread (a dense product: the surrogate reaches every neuron). The input product is made "
                 "from the input events inside the same pass (`kernels/event_recurrent.py`: each row of current "
                 "goes from the events to the neurons while in cache, its gradient from the adjoint to dW and dU). "
                 "What bounds the ratio is the per-step work through U, and it grows with the hidden firing (the "
                 "column on the right): forward, one row of U per spike, from the core's second-level cache; "
                 "backward, the dense product back through U, then dU from the spiking neurons (each neuron's "
                 "gradient rows of a chunk of steps summed in registers and added to its row of dU once, "
                 "`kernels/fired_outer.py`), where the reference's dense products cost the same whatever fires. So "
                 "a network that fires less trains faster on the fast engine and not on the reference. `floor` "
                 "times the two products no exact backward can skip or shrink, the adjoint back through U and "
                 "through the readout's weights for every neuron of every step, as one single-precision GEMM each "
                 "with time folded into the batch (which the recurrence itself forbids: each step needs the adjoint "
                 "of the step after it), so at this host's GEMM rate.",
    "smnist": "784 sequential steps of two recurrent layers per sample: the work is the scan itself, step after "
              "step, which neither engine can spread over time; the fast engine gains by doing each step in "
              "compiled code for all samples of a thread at once. Each [T, B, N] tensor is 103 MB at batch 128 "
              "(T = 784, N = 256), so the step streams memory; at batch 32, what the sequence presets train with "
              "(`--arch smnist-alif` is this network), it is 26 MB, and the reference pays its per-step cost (a "
              "dozen tensor operations a step, forward and back) for a quarter of the samples: the ratio is widest "
              "there. The preset's leaky readout learns its time constants, so the second layer makes the output "
              "layer's current in its own passes (`kernels/recurrent.py`): neither its [T, B, N] spikes nor their "
              "gradient are made or read back (its backward finds who spiked from the saved rows).",
    "smnist-adlif": "The same scan with adLIF rows (an adaptation current beside the membrane: two state rows, as "
                    "ALIF) and the preset's options (all four of its constants learned), at the batch the preset "
                    "trains with. The fast engine's forward adds one row of U per spike, so its time grows with the "
                    "firing, where the reference's dense product costs the same whatever fires.",
    "smnist-brf": "One recurrent layer of 256 BRF neurons (three state rows: the membrane's real and imaginary parts "
                  "and the refractory variable) with the preset's options, at its batch. Each step's adjoint goes "
                  "back through U densely; the reference's step is a dozen tensor operations, forward and back, for "
                  "a layer the width of the other networks' second.",
}


# Sections whose `floor` row times products no exact engine can skip (``bench_engines.recurrent_floor``): there the
# fast training step takes at least its forward (the fast `infer` row's work, without saving anything for the
# backward) plus the floor, which bounds its ratio.
UNAVOIDABLE_FLOOR = {"recurrent"}


def training_bound(rows: list[dict]) -> str:
    """The sentence bounding the fast training ratio of a section in ``UNAVOIDABLE_FLOOR``: the reference's training
    time over (the fast inference time + the floor's), at the training rows' T and batch; "" without those rows."""
    timed = {(row["engine"], row["mode"], row["T"], row["batch"]): row["ms"] for row in rows}
    for (engine, _, steps, batch), floor_ms in timed.items():
        reference, fast = timed.get(("reference", "train", steps, batch)), timed.get(("fast", "train", steps, batch))
        forward = timed.get(("fast", "infer", steps, batch))
        if engine == "floor" and None not in (reference, fast, forward):
            return (f"Bound at T={steps}, batch {batch}: the fast training step runs at least its forward (the fast "
                    f"inference row, {forward:.1f} ms) and the floor's products ({floor_ms:.1f} ms), so it can be at "
                    f"most **{reference / (forward + floor_ms):.1f}x** the reference ({reference:.1f} ms) even if the "
                    "rest of its backward (the neurons' adjoint, dW, dU, the readout's gradients, the saved rows) "
                    f"cost nothing; it measures {reference / fast:.1f}x.")
    return ""


def firing_text(firing: list[float]) -> str:
    """Hidden layers' firing (spikes per neuron per step) in percent, ``/`` between layers; ``-`` if none."""
    return " / ".join(f"{100 * rate:.1f}" for rate in firing) or "-"


def page(data: dict, figure_name: str = "performance.png") -> str:
    lines = ["# Performance", "",
             "Made by `python benchmarks/performance_page.py` from `benchmarks/results/engines.json`, which",
             "`python benchmarks/bench_engines.py [--section NAME]` writes. Each table is one run: its engines",
             "timed in turns, the ratio column against the `reference` engine of the same run and model (the",
             "step-by-step loop). Training step = encoding + forward + loss + backward + Adam; inference = encoding",
             "+ forward.",
             "Timings on these shared 2-core hosts move by 30-50% from run to run, and by up to 3x between hosts",
             "of the same kind (an Intel host with AMX against an AMD one: docs/accuracy.md); compare ratios within",
             "one table, not times across tables.", "",
             f"![training samples/s per engine and network]({figure_name})", "",
             "Training throughput of each engine on each network, at the largest T measured (log scale).", ""]
    for section, run in data["runs"].items():
        host = run["host"]
        lines += [f"## {TITLES.get(section, section)}", "",
                  f"{run['date']}, {host['cpu']} ({host['machine']}, AVX-512 {host['avx512']}, AMX {host['amx']}, "
                  f"numba target {host['numba_cpu']}), {run['threads']} threads, torch {host['torch']}, "
                  f"numba {host['numba']}; median of {run['rounds']} rounds x {run['repeats']} batches.", "",
                  "| engine | mode | T | batch | samples/s | ms/batch | peak RSS MB | x reference | hidden firing % |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for row in run["rows"]:
            lines.append(f"| {row['engine']} | {row['mode']} | {row['T']} | {row['batch']} | "
                         f"{row['samples_per_s']:,.0f} | {row['ms']:.1f} | {row['peak_rss_mb']:.0f} | "
                         f"{row['x_reference']:.1f} | {firing_text(row.get('hidden_firing', []))} |")
        lines += ["", f"Command: `python benchmarks/bench_engines.py --section {section}`."]
        if section in LIMITS:
            lines += ["", LIMITS[section]]
        bound = training_bound(run["rows"]) if section in UNAVOIDABLE_FLOOR else ""
        if bound:
            lines += ["", bound]
        lines.append("")
    return "\n".join(lines)


def figure(data: dict):
    """Bars of training samples/s, one group per network (at its largest T), one bar per engine measured there
    (the same color for an engine everywhere), on a log axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = []  # (label, [(engine, samples/s)])
    for section, run in data["runs"].items():
        rows = [row for row in run["rows"] if row["mode"] == "train"]
        if rows:
            longest = max(row["T"] for row in rows)
            groups.append((f"{section} (T={longest})",
                           [(row["engine"], row["samples_per_s"]) for row in rows if row["T"] == longest]))
    engines = list(dict.fromkeys(engine for _, bars in groups for engine, _ in bars))
    colors = {engine: f"C{number}" for number, engine in enumerate(engines)}
    fig, axis = plt.subplots(figsize=(9, 1.5 + 0.3 * sum(len(bars) + 1 for _, bars in groups)))
    position, ticks = 0.0, []
    for label, bars in groups:
        ticks.append((position + (len(bars) - 1) / 2, label))
        for engine, rate in bars:
            axis.barh(position, rate, color=colors[engine], label=engine)
            position += 1
        position += 1
    handles = {label: handle for handle, label in zip(*axis.get_legend_handles_labels())}  # each engine once
    axis.legend(handles.values(), handles.keys(), loc="lower right", fontsize="small")
    axis.set_yticks([tick for tick, _ in ticks], [label for _, label in ticks])
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlabel("training samples / s (log scale)")
    fig.tight_layout()
    return fig


PEER_TITLES = {"lif": "784-128-10 (LIF)", "alif": "784-128a-10 (ALIF hidden layer)",
               "cuba": "784-128s-10 (CubaLIF hidden layer)",
               "recurrent-alif": "700-256ra-20 (recurrent ALIF hidden layer, SHD-shaped synthetic input)",
               "recurrent-lif": "700-256r-20 (recurrent LIF hidden layer, SHD-shaped synthetic input)",
               "smnist-alif": "1-64ra-256ra-10 (the S-MNIST network's layers, recurrent ALIF, T = 784)",
               "smnist-lif": "1-64r-256r-10 (the S-MNIST network's layers, recurrent LIF, T = 784)"}


def _peaks_above_torch_loop(data: dict) -> list[str]:
    """'<network> <mode> T=<T> (+<MB> MB)' for each spikekit fast row whose peak RSS exceeds the torch loop's."""
    above = []
    for neuron, run in data["runs"].items():
        peaks = {(row["implementation"], row["mode"], row["T"]): row["peak_rss_mb"] for row in run["rows"]}
        for (name, mode, num_steps), peak in peaks.items():
            loop = peaks.get(("torch loop", mode, num_steps))
            if name == "spikekit fast" and peak is not None and loop is not None and peak > loop:
                title = PEER_TITLES.get(neuron, neuron).split(" (")[0]
                above.append(f"{title} {mode} T={num_steps} (+{peak - loop:.0f} MB)")
    return above


def peers_page(data: dict) -> str:
    """The peers' tables (``bench_peers.py`` results): each run's rows, its check and its paired rounds."""
    lines = ["# spikekit and the peer libraries", "",
             "From `benchmarks/results/peers.json`, which `python benchmarks/bench_peers.py",
             "[--network recurrent|smnist] --neuron NAME` writes (`make bench-peers` for LIF). Each peer runs the",
             "same network with the same weights, checked spike for spike against spikekit's reference in float64",
             "before anything is timed; a peer without the neuron, or whose layers cannot express the network, is",
             "listed with the reason.",
             "`x fastest peer`: samples/s over the fastest peer's at the same mode and T. The paired rounds",
             "alternate the peers' training steps with a `spikekit train` epoch (the host's speed drifts over",
             "seconds); their median is the figure to quote. Peak RSS is the whole process's: spikekit's rows",
             "include numba's runtime, which the first call of any compiled function loads (about 60 MB: a process",
             "that imports torch and spikekit grew by 57-61 MB on calling a one-line cached function, 2026-12-06);",
             "none of the torch-only peers loads it.", ""]
    above = _peaks_above_torch_loop(data)
    if above:
        lines[-1:] = [f"spikekit's fast rows that peak above the torch loop's: {', '.join(above)}.", ""]
    for neuron, run in data["runs"].items():
        host = run["host"]
        versions = ", ".join(f"{name} {host.get(name)}" for name in ("snntorch", "spikingjelly", "norse")
                             if host.get(name))
        density = f" Input: {run['input_density']:.1%} of (channel, step) pairs spike." if "input_density" in run \
            else ""
        if "hidden_rate" in run:
            density = (" Input: MNIST's first images read one pixel a step; every implementation runs the same "
                       f"weights, whose hidden layers spike on {run['hidden_rate']:.1%} of the steps.")
        lines += [f"## {PEER_TITLES.get(neuron, neuron)}", "",
                  f"{run['date']}, {host['cpu']}, {run['threads']} threads, torch {host['torch']}; {versions}."
                  f"{density}", "",
                  "Check: " + "; ".join(f"{name}: {verdict}" for name, verdict in run["check"].items()), "",
                  "| implementation | mode | T | batch | samples/s | peak RSS MB | x fastest peer | note |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in run["rows"]:
            rate = "-" if row["samples_per_s"] is None else f"{row['samples_per_s']:,.0f}"
            peak = "-" if row["peak_rss_mb"] is None else f"{row['peak_rss_mb']:.0f}"
            ratio = "-" if row["x_fastest_peer"] is None else f"{row['x_fastest_peer']:.1f}"
            lines.append(f"| {row['implementation']} | {row['mode']} | {row['T']} | {row['batch']} | {rate} | {peak} | "
                         f"{ratio} | {row['note']} |")
        for num_steps in sorted({r["T"] for r in run["paired"]}):
            ratios = sorted(r["ratio"] for r in run["paired"] if r["T"] == num_steps)
            if ratios:
                median = statistics.median(ratios)
                lines += ["", f"Paired, T={num_steps}: `spikekit train` / fastest peer per round "
                          f"{', '.join(f'{r:.1f}' for r in ratios)}; median **{median:.1f}x**."]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "engines.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--peers", type=Path, default=ROOT / "benchmarks" / "results" / "peers.json",
                        help="bench_peers.py's results: rendered into docs/peers.md when the file exists")
    args = parser.parse_args()
    data = json.loads(args.results.read_text())
    image = args.out.with_suffix(".png")  # beside the page: performance.png, performance-avx2.png
    args.out.write_text(page(data, image.name))
    figure(data).savefig(image, dpi=90)
    print(f"wrote {args.out} and {image}")
    if args.peers.exists():
        target = args.out.parent / "peers.md"
        target.write_text(peers_page(json.loads(args.peers.read_text())))
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
