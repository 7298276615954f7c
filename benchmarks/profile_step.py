"""Where a fast-engine training step spends its time, measured inside the training loop.

    python benchmarks/profile_step.py [-T 25] [--steps 400] [--arch 128-10]

Runs the same step as ``bench_engines.py`` (encode + forward + loss + backward + Adam, batch 128,
784-128-10) and times each part with ``perf_counter`` around it: the Poisson setup and draw, the fused
input layer's forward and backward, the readout layer's (its product, LIF scan and spike count, and
backward its adjoint and three products), the LIF scans of any other layers, loss, zero_grad and Adam.
Parts are timed in place, so each includes the cache misses it suffers inside the loop (a kernel alone
is often 1.5-2x faster). Prints ms per step for each part; the rest of a step is Python and autograd
glue. With ``--arch`` naming a conv network (e.g. ``12c5-p2-32c5-p2-10``, whose convolutions run inside
autograd), ``torch.profiler`` gives the split instead: self CPU time per step of the costliest operators.
"""

from __future__ import annotations

import argparse
import collections
import time
from collections.abc import Callable

import torch.nn.functional as F

from spikekit.config import ModelConfig, RunConfig, TrainConfig
from spikekit.data.mnist import load_mnist
from spikekit.kernels import event_layer, events, lif_fused, readout
from spikekit.kernels.allocator import keep_freed_memory
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
    events.LazyEvents.events = _timed(events.LazyEvents.events, "encode: Poisson draw")
    for cls, name in ((event_layer._EventLIF, "input layer"), (readout._Readout, "readout layer"),
                      (lif_fused._FusedLIF, "other LIF scans")):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-T", "--num-steps", type=int, default=25)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--arch", default="128-10", help="network spec (spikekit.nn.spec)")
    args = parser.parse_args()
    keep_freed_memory()  # as the CLI and the benchmark do
    conv = "c" in args.arch
    if not conv:
        _instrument()
    data = load_mnist()
    images, labels = data.train.intensity(slice(0, 128)), data.train.labels[:128]
    config = RunConfig(ModelConfig(arch=args.arch), TrainConfig(engine="fast", num_steps=args.num_steps))
    model = loop.build_model(config)
    optimizer = loop.build_optimizer(model, config.train)
    step_parts = {"loss": lambda counts: F.cross_entropy(counts, labels),
                  "zero_grad": lambda _: optimizer.zero_grad(set_to_none=True)}

    def step(index: int) -> None:
        counts = model(loop.encode_batch(images, config.train, "profile", index))
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
    print(f"T={args.num_steps}, batch 128, {args.steps} steps: {total_ms:.2f} ms per step")
    for label, seconds in TOTALS.items():
        print(f"  {label:30s} {1000 * seconds / args.steps:6.3f} ms")
    print(f"  {'rest (Python, autograd glue)':30s} {total_ms - 1000 * sum(TOTALS.values()) / args.steps:6.3f} ms")


if __name__ == "__main__":
    main()
