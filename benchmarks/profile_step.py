"""Where a fast-engine training step spends its time, measured inside the training loop.

    python benchmarks/profile_step.py [-T 25] [--steps 400]

Runs the same step as ``bench_engines.py`` (encode + forward + loss + backward + Adam, batch 128,
784-128-10) and times each part with ``perf_counter`` around it: the Poisson setup and draw, the fused
input layer's forward and backward, the other layers' LIF scans, the hidden-to-output products (an
``nn.Linear`` forward and its three backward products, timed through a stand-in that runs the same
torch calls), loss, zero_grad and Adam. Parts are timed in place, so each includes the cache misses it
suffers inside the loop (a kernel alone is often 1.5-2x faster). Prints ms per step for each part; the
rest of a step is Python and autograd glue.
"""

from __future__ import annotations

import argparse
import collections
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from spikekit.config import RunConfig, TrainConfig
from spikekit.data.mnist import load_mnist
from spikekit.kernels import event_layer, events, lif_fused
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


class _TimedLinear(torch.autograd.Function):
    """``F.linear`` with each product timed; the same torch calls autograd makes for it."""

    @staticmethod
    def forward(ctx, inputs: Tensor, weight: Tensor, bias: Tensor) -> Tensor:  # type: ignore[override]
        start = time.perf_counter()
        flat = inputs.reshape(-1, inputs.shape[-1])
        out = torch.addmm(bias, flat, weight.t()).reshape(*inputs.shape[:-1], weight.shape[0])
        TOTALS["linear forward (addmm)"] += time.perf_counter() - start
        ctx.save_for_backward(flat, weight)
        ctx.shape = inputs.shape
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        flat, weight = ctx.saved_tensors
        start = time.perf_counter()
        grad = grad.reshape(-1, grad.shape[-1])
        grad_inputs = (grad @ weight).reshape(ctx.shape)
        grad_weight = grad.t() @ flat
        grad_bias = grad.sum(0)
        TOTALS["linear backward (3 products)"] += time.perf_counter() - start
        return grad_inputs, grad_weight, grad_bias


def _instrument() -> None:
    loop.keyed_generator = _timed(loop.keyed_generator, "encode: key")
    loop.ENCODERS["events"] = _timed(loop.ENCODERS["events"], "encode: Poisson setup")
    events.LazyEvents.events = _timed(events.LazyEvents.events, "encode: Poisson draw")
    for cls, name in ((event_layer._EventLIF, "input layer"), (lif_fused._FusedLIF, "other LIF scans")):
        cls.forward = staticmethod(_timed(cls.forward, f"{name} forward"))
        cls.backward = staticmethod(_timed(cls.backward, f"{name} backward"))
    torch.nn.Linear.forward = lambda self, inputs: _TimedLinear.apply(inputs, self.weight, self.bias)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-T", "--num-steps", type=int, default=25)
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    keep_freed_memory()  # as the CLI and the benchmark do
    _instrument()
    data = load_mnist()
    images, labels = data.train.intensity(slice(0, 128)), data.train.labels[:128]
    config = RunConfig(train=TrainConfig(engine="fast", num_steps=args.num_steps))
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
