"""Where a fast-engine training step spends its time, measured inside the training loop.

    python benchmarks/profile_step.py [-T 25] [--steps 400] [--arch 128-10] [--loop | --events | --compare]

Runs the same step as ``bench_engines.py`` (encode + forward + loss + backward + Adam, batch 128,
784-128-10) and times each part with ``perf_counter`` around it: the Poisson setup and draw, forward
and backward of the input layer and the readout layer (one node when the network is an event-fed layer
and the readout, ``event_readout``; else each its own), the LIF scans of any other layers, loss,
zero_grad and Adam.
Parts are timed in place, so each includes the cache misses it suffers inside the loop (a kernel alone
is often 1.5-2x faster). Prints ms per step for each part; the rest of a step is Python and autograd
glue. With ``--arch`` naming a conv network (e.g. ``12c5-p2-32c5-p2-10``, whose convolutions run inside
autograd), ``torch.profiler`` gives the split instead: self CPU time per step of the costliest operators.
With ``--loop``, the same parts are timed inside ``train_epoch`` itself (what ``spikekit train`` runs, with
its default options: shuffled batches, shift augmentation, loss reductions) over ``--steps`` batches of
real training images, after the kernel warm-up the CLI does; it prints the epoch's samples/s as
metrics.jsonl would, the first batch, and the mean and median batch. With ``--events``, the step is the
benchmark's event-data row instead: 128 synthetic N-MNIST recordings binned to T steps, 2312-128-10 (the
input layer consumes the events; "encode: events" is the batch's ``SpikeEvents`` made from the bins).
With ``--compare``, ``--rounds`` rounds in one process each run a ``--block``-batch ``train_epoch`` (what
``spikekit train`` times), then as many of the benchmark's steps on the benchmark's own fresh model, then as
many on the loop's model, and print each round's ratios of rates and their medians: how close the CLI's loop
comes to the benchmark's step, measured at the same moments (with the loop's model, the same weights and so
the same spiking work: what the loop itself adds).
"""

from __future__ import annotations

import argparse
import collections
import time
from collections.abc import Callable

import torch.nn.functional as F

from spikekit import spike_events as events
from spikekit.allocator import keep_freed_memory
from spikekit.config import ModelConfig, RunConfig, TrainConfig
from spikekit.data.mnist import load_mnist
from spikekit.data.nmnist import SENSOR as NMNIST_SENSOR
from spikekit.kernels import event_layer, event_readout, lif_fused, readout, scan
from spikekit.train import loop

TOTALS: dict[str, float] = collections.defaultdict(float)


def _timed(function: Callable, label: str) -> Callable:
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        TOTALS[label] += time.perf_counter() - start
        return result
    return wrapper


def _instrument() -> None:
    loop.keyed_generator = _timed(loop.keyed_generator, "encode: key")
    loop.ENCODERS["events"] = _timed(loop.ENCODERS["events"], "encode: Poisson setup")
    loop.binned_inputs = _timed(loop.binned_inputs, "encode: events")
    events.LazyEvents.events = _timed(events.LazyEvents.events, "encode: Poisson draw")
    for cls, name in ((event_layer._EventNeurons, "input layer"), (readout._Readout, "readout layer"),
                      (event_readout._EventReadout, "input + readout layers"),
                      (lif_fused._FusedLIF, "other LIF scans"), (scan._Scan, "other neuron scans")):
        cls.forward = staticmethod(_timed(cls.forward, f"{name} forward"))
        cls.backward = staticmethod(_timed(cls.backward, f"{name} backward"))


def _profile_operators(step: Callable[[int], None], args: argparse.Namespace) -> None:
    from torch.profiler import profile

    start = time.perf_counter()
    with profile() as profiler:
        for index in range(args.steps):
            step(index)
    total_ms = 1000 * (time.perf_counter() - start) / args.steps
    print(f"{args.arch}, T={args.num_steps}, batch 128, {args.steps} steps: {total_ms:.1f} ms per step "
          "(under the profiler); self CPU time per step of the costliest operators:")
    events = sorted(profiler.key_averages(), key=lambda event: event.self_cpu_time_total, reverse=True)
    for event in events[:12]:
        print(f"  {event.key[:50]:50s} {event.self_cpu_time_total / 1000 / args.steps:7.2f} ms")


def _profile_loop(args: argparse.Namespace) -> None:
    import statistics

    from spikekit.data.mnist import Split

    loop.shift_offsets = _timed(loop.shift_offsets, "augment: shift offsets")
    # the loop's inputs: gathered from the bytes, shifted and set up for the draw in one pass
    loop.poisson_encode_byte_events = _timed(loop.poisson_encode_byte_events, "encode: Poisson setup")
    data = load_mnist()
    count = 128 * args.steps
    split = Split(data.train.images[:count], data.train.labels[:count])
    config = RunConfig(ModelConfig(arch=args.arch), TrainConfig(num_steps=args.num_steps))
    model = loop.build_model(config)
    optimizer = loop.build_optimizer(model, config.train)
    optimizer.step = _timed(optimizer.step, "Adam")
    seconds = loop.warm_up(model, split, config.train)
    print(f"kernel warm-up (outside the epoch's clock, as in the CLI): {seconds:.2f} s")
    TOTALS.clear()
    stamps = [time.perf_counter()]
    progress = loop.train_epoch(model, optimizer, split, config.train, loop.EpochProgress(0),
                                lambda _: stamps.append(time.perf_counter()))
    batches = [1000 * (b - a) for a, b in zip(stamps, stamps[1:])]
    print(f"train_epoch, {args.arch}, T={args.num_steps}, {len(batches)} batches of 128: "
          f"{progress.seen / progress.seconds:,.0f} samples/s (metrics.jsonl's figure); batch ms: first "
          f"{batches[0]:.1f}, mean {statistics.fmean(batches):.2f}, median {statistics.median(batches):.2f}")
    for label, seconds in TOTALS.items():
        print(f"  {label:30s} {1000 * seconds / len(batches):6.3f} ms")
    rest = statistics.fmean(batches) - 1000 * sum(TOTALS.values()) / len(batches)
    print(f"  {'rest (Python, autograd glue)':30s} {rest:6.3f} ms")


def _compare(args: argparse.Namespace) -> None:
    """The CLI's loop against the benchmark's step, in one process, taking turns (the host's speed moves
    within seconds, so two separate runs compare moments, not code)."""
    import statistics

    from bench_engines import step_of, training_step  # benchmarks/ is the script's directory, on sys.path

    from spikekit.data.mnist import Split

    data = load_mnist()
    split = Split(data.train.images[:128 * args.block], data.train.labels[:128 * args.block])
    config = RunConfig(ModelConfig(arch=args.arch), TrainConfig(num_steps=args.num_steps))
    model = loop.build_model(config)
    optimizer = loop.build_optimizer(model, config.train)
    loop.warm_up(model, split, config.train)
    images, labels = data.train.intensity(slice(0, 128)), data.train.labels[:128]
    steps = {"benchmark's step": training_step(args.arch, "fast", args.num_steps, images, labels),
             "step, loop's model": step_of(model, optimizer, config, images, labels)}
    for step in steps.values():
        for index in range(3):  # warm-up (and numba compilation on a first run)
            step(index)
    print(f"{args.arch}, T={args.num_steps}, batch 128, ms a batch in rounds that take turns: a {args.block}-batch "
          "train_epoch (what `spikekit train` runs and times: shuffled real images, shift, loss and accuracy sums; "
          f"the epoch's seconds / batches, as metrics.jsonl), then {args.block} of the benchmark's steps "
          "(bench_engines: one batch encoded again each step, forward, loss, backward, Adam) on its own fresh "
          "model, then as many on the loop's model (the same weights and firing as the loop)")
    print(f"| round | loop | {' | '.join(steps)} | loop's rate / each step's |")
    print("|---|---|---|---|---|")
    ratios: dict[str, list[float]] = {name: [] for name in steps}
    for number in range(args.rounds):
        progress = loop.train_epoch(model, optimizer, split, config.train, loop.EpochProgress(number))
        loop_ms, cells = 1000 * progress.seconds / progress.batch, []
        for name, step in steps.items():
            start = time.perf_counter()
            for index in range(args.block):
                step(3 + index)
            step_ms = 1000 * (time.perf_counter() - start) / args.block
            ratios[name].append(step_ms / loop_ms)
            cells.append(f"{step_ms:.2f}")
        print(f"| {number + 1} | {loop_ms:.2f} | {' | '.join(cells)} | "
              f"{', '.join(f'{r[-1]:.0%}' for r in ratios.values())} |")
    medians = ", ".join(f"{statistics.median(r):.0%}" for r in ratios.values())
    print(f"| median of {args.rounds} | | | | **{medians}** |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-T", "--num-steps", type=int, default=25)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--arch", default="128-10", help="network spec (spikekit.nn.spec)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--loop", action="store_true", help="time the parts inside train_epoch (the CLI's loop)")
    mode.add_argument("--events", action="store_true", help="time the benchmark's event-data step instead")
    mode.add_argument("--compare", action="store_true",
                      help="the CLI's train_epoch against the benchmark's step, taking turns in one process")
    parser.add_argument("--rounds", type=int, default=9, help="--compare: rounds of loop and step")
    parser.add_argument("--block", type=int, default=50, help="--compare: batches per side and round")
    args = parser.parse_args()
    keep_freed_memory()  # as the CLI and the benchmark do
    conv = "c" in args.arch
    if args.compare:
        return _compare(args)
    if args.loop:
        _instrument()
        return _profile_loop(args)
    if not conv:
        _instrument()
    data = load_mnist()
    images, labels = data.train.intensity(slice(0, 128)), data.train.labels[:128]
    input_shape = (1, 28, 28)
    if args.events:
        from bench_engines import _event_batch  # benchmarks/ is the script's directory, on sys.path

        images, input_shape = _event_batch(images, labels, args.num_steps), NMNIST_SENSOR
    config = RunConfig(ModelConfig(arch=args.arch, input_shape=input_shape),
                       TrainConfig(engine="fast", num_steps=args.num_steps))
    model = loop.build_model(config)
    optimizer = loop.build_optimizer(model, config.train)
    step_parts = {"loss": lambda counts: F.cross_entropy(counts, labels),
                  "zero_grad": lambda _: optimizer.zero_grad(set_to_none=True)}

    def step(index: int) -> None:
        inputs = (loop.binned_inputs(images, slice(0, 128), config.train) if args.events
                  else loop.encode_batch(images, config.train, "profile", index))
        counts = model(inputs)
        loss = _timed(step_parts["loss"], "loss")(counts)
        _timed(step_parts["zero_grad"], "zero_grad")(None)
        loss.backward()
        _timed(optimizer.step, "Adam")()

    for index in range(5):  # warm-up (and numba compilation on a first run)
        step(index)
    if conv:
        _profile_operators(step, args)
        return
    TOTALS.clear()
    start = time.perf_counter()
    for index in range(args.steps):
        step(index)
    total_ms = 1000 * (time.perf_counter() - start) / args.steps
    print(f"{'events, ' if args.events else ''}T={args.num_steps}, batch 128, {args.steps} steps: "
          f"{total_ms:.2f} ms per step")
    for label, seconds in TOTALS.items():
        print(f"  {label:30s} {1000 * seconds / args.steps:6.3f} ms")
    print(f"  {'rest (Python, autograd glue)':30s} {total_ms - 1000 * sum(TOTALS.values()) / args.steps:6.3f} ms")


if __name__ == "__main__":
    main()
