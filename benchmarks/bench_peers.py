"""spikekit against the SNN libraries people use, on the seed network, measured side by side in one run.

    make bench-peers          # sets up .venv-bench (the peers, torch pinned) and runs this
    python benchmarks/bench_peers.py [--repeats 20] [--quick]

The seed network (784-128-10, LIF tau = 2 steps, threshold 1, reset to 0, Bernoulli-coded MNIST, output
spike counts, cross-entropy, Adam lr 2e-3) written the way each library's users write it:
- ``torch loop``: plain PyTorch, our own code, a Python loop over the T steps (what every peer computes);
- ``snnTorch`` 1.0: ``snn.Leaky`` (beta 0.5, reset to zero, fast-sigmoid surrogate slope 5), stepped in a
  loop as its tutorials do; its input is the current scaled by 1/tau (its V <- beta V + I has no 1/tau);
- ``SpikingJelly`` 2.0 multi-step: ``layer.Linear`` + ``neuron.LIFNode(tau=2, step_mode="m")`` (time
  folded into the batch for the products, the LIF scanned over T; SuperSpike surrogate, alpha 5);
- ``Norse`` 1.1: ``LIFBoxCell`` (tau_mem_inv 0.5, dt 1, SuperSpike alpha 5), stepped in a loop;
- ``spikekit fast``: the fast engine's training step (its own Poisson sampler, events);
- ``spikekit train``: the CLI's epoch throughput (``samples_per_second`` of metrics.jsonl), 200 batches at
  T=25, 100 at T=100, default options otherwise, in a subprocess.
Every peer gets the same weights; a check first runs all of them in float64 on the same input spikes and
requires the same hidden spikes and output counts (the LIF update is written differently by each library,
so they agree up to float rounding, which in float64 flips no spike here). Timing: median of ``repeats``
batches (10 at T=100) after 2 warm-up batches, batch 128, training = encode + forward + loss + backward +
Adam, inference = encode + forward without gradients (batch 1000). Peak RSS: a fresh process running 3
batches of the row alone (Linux). A peer that does not import is listed with the reason, not timed.
After the table, ``--pairs`` rounds (default 3) alternate every training peer's step and a ``spikekit train``
epoch, per T, and print each round's ratio to that round's fastest peer and their median (``paired``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikekit.allocator import keep_freed_memory
from spikekit.config import RunConfig, TrainConfig
from spikekit.data.mnist import load_mnist
from spikekit.nn.network import SNN
from spikekit.train.distributed import set_threads
from spikekit.train.loop import build_optimizer, encode_batch

TAU, THRESHOLD, SLOPE, LR = 2.0, 1.0, 5.0, 2e-3
SIZES = (784, 128, 10)


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward (V >= threshold), fast-sigmoid derivative 1 / (1 + slope |V - threshold|)^2 backward."""

    @staticmethod
    def forward(ctx, shifted: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(shifted)
        return (shifted >= 0).to(shifted.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (shifted,) = ctx.saved_tensors
        return grad / (1 + SLOPE * shifted.abs()) ** 2


class TorchLoop(nn.Module):
    """Plain PyTorch: V <- V + (I - V) / tau, spike at threshold, reset to 0, a loop over the steps."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(SIZES[0], SIZES[1]), nn.Linear(SIZES[1], SIZES[2])

    def forward(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
        v1 = spikes.new_zeros(spikes.shape[1], SIZES[1])
        v2 = spikes.new_zeros(spikes.shape[1], SIZES[2])
        hidden, counts = [], 0
        for x in spikes:
            v1 = v1 + (self.fc1(x) - v1) / TAU
            s1 = FastSigmoidSpike.apply(v1 - THRESHOLD)
            v1 = v1 * (1 - s1)
            v2 = v2 + (self.fc2(s1) - v2) / TAU
            s2 = FastSigmoidSpike.apply(v2 - THRESHOLD)
            v2 = v2 * (1 - s2)
            hidden.append(s1)
            counts = counts + s2
        return counts, torch.stack(hidden)


def _snntorch() -> nn.Module:
    import snntorch as snn
    from snntorch import surrogate

    class SnnTorchNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(SIZES[0], SIZES[1]), nn.Linear(SIZES[1], SIZES[2])
            grad = surrogate.fast_sigmoid(slope=SLOPE)
            self.lif1 = snn.Leaky(beta=1 - 1 / TAU, threshold=THRESHOLD, reset_mechanism="zero", spike_grad=grad)
            self.lif2 = snn.Leaky(beta=1 - 1 / TAU, threshold=THRESHOLD, reset_mechanism="zero", spike_grad=grad)

        def forward(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
            mem1, mem2 = self.lif1.reset_mem(), self.lif2.reset_mem()
            hidden, counts = [], 0
            for x in spikes:
                s1, mem1 = self.lif1(self.fc1(x) / TAU, mem1)
                s1 = s1.to(x.dtype)  # snnTorch's spikes come out float32 whatever the input's dtype
                s2, mem2 = self.lif2(self.fc2(s1) / TAU, mem2)
                hidden.append(s1)
                counts = counts + s2.to(x.dtype)
            return counts, torch.stack(hidden)
    return SnnTorchNet()


def _spikingjelly() -> nn.Module:
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    class SpikingJellyNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            def lif() -> nn.Module:
                return neuron.LIFNode(tau=TAU, v_threshold=THRESHOLD, v_reset=0.0,
                                      surrogate_function=surrogate.SuperSpike(alpha=SLOPE), step_mode="m")
            self.fc1, self.lif1 = layer.Linear(SIZES[0], SIZES[1], step_mode="m"), lif()
            self.fc2, self.lif2 = layer.Linear(SIZES[1], SIZES[2], step_mode="m"), lif()
            self._reset = functional.reset_net

        def forward(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
            self._reset(self)
            hidden = self.lif1(self.fc1(spikes))
            return self.lif2(self.fc2(hidden)).sum(0), hidden
    return SpikingJellyNet()


def _norse() -> nn.Module:
    import norse.torch as norse

    class NorseNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            parameters = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(1 / TAU), v_th=torch.tensor(THRESHOLD),
                                                v_reset=torch.tensor(0.0), v_leak=torch.tensor(0.0),
                                                method="super", alpha=torch.tensor(SLOPE))
            self.fc1, self.fc2 = nn.Linear(SIZES[0], SIZES[1]), nn.Linear(SIZES[1], SIZES[2])
            self.lif1, self.lif2 = norse.LIFBoxCell(parameters, dt=1.0), norse.LIFBoxCell(parameters, dt=1.0)

        def forward(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
            state1 = state2 = None
            hidden, counts = [], 0
            for x in spikes:
                s1, state1 = self.lif1(self.fc1(x), state1)
                s2, state2 = self.lif2(self.fc2(s1), state2)
                hidden.append(s1)
                counts = counts + s2
            return counts, torch.stack(hidden)
    return NorseNet()


PEERS: dict[str, Callable[[], nn.Module]] = {"torch loop": TorchLoop, "snnTorch": _snntorch,
                                             "SpikingJelly": _spikingjelly, "Norse": _norse}


def _peer(name: str) -> nn.Module | str:
    """The peer's network, or why it cannot be built here."""
    try:
        return PEERS[name]()
    except Exception as error:  # noqa: BLE001 (an optional library: report any reason it fails)
        return f"{type(error).__name__}: {str(error).splitlines()[0][:100]}"


def _copy_weights(source: TorchLoop, target: nn.Module) -> None:
    with torch.no_grad():
        for name in ("fc1", "fc2"):
            getattr(target, name).weight.copy_(getattr(source, name).weight)
            getattr(target, name).bias.copy_(getattr(source, name).bias)


def check_same_spikes(images: Tensor) -> dict[str, str]:
    """Every implementation on the same float64 weights and input spikes: 'same' or what differs."""
    torch.manual_seed(0)
    reference = TorchLoop().double()
    with torch.no_grad():  # weights that make both layers spike plenty (the default init leaves outputs silent)
        generator = torch.Generator().manual_seed(2)
        for layer, (mean, std) in ((reference.fc1, (0.005, 0.1)), (reference.fc2, (0.3, 0.5))):
            layer.weight.copy_(mean + std * torch.randn(layer.weight.shape, generator=generator))
    spikes = (torch.rand(25, len(images), SIZES[0], generator=torch.Generator().manual_seed(1),
                         dtype=torch.float64) < images.double()).double()
    with torch.no_grad():
        counts, hidden = reference(spikes)
        results = {}
        for name in PEERS:
            peer = _peer(name)
            if isinstance(peer, str):
                results[name] = f"not run ({peer})"
                continue
            peer = peer.double()
            _copy_weights(reference, peer)
            peer_counts, peer_hidden = peer(spikes)
            flips = int((peer_hidden != hidden).sum())
            results[name] = "same" if flips == 0 and torch.equal(peer_counts, counts) else \
                f"DIFFERENT: {flips} hidden spikes, counts differ by {float((peer_counts - counts).abs().max())}"
        ours = SNN(SIZES, engine="fast").double()
        with torch.no_grad():
            ours.spiking_layers[0].linear.weight.copy_(reference.fc1.weight)
            ours.spiking_layers[0].linear.bias.copy_(reference.fc1.bias)
            ours.spiking_layers[1].linear.weight.copy_(reference.fc2.weight)
            ours.spiking_layers[1].linear.bias.copy_(reference.fc2.bias)
        ours_hidden = ours.layer_spikes(spikes)[0]
        results["spikekit fast"] = "same" if torch.equal(ours(spikes), counts) and torch.equal(ours_hidden, hidden) \
            else "DIFFERENT"
    print(f"check: {float(hidden.mean()):.3f} hidden spikes per neuron per step, {float(counts.sum()):.0f} "
          f"output spikes over {len(images)} samples x 25 steps")
    return results


def _median_ms(step: Callable[[int], None], repeats: int) -> float:
    for index in range(2):
        step(index)
    times = []
    for index in range(repeats):
        start = time.perf_counter()
        step(2 + index)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _step(name: str, mode: str, num_steps: int, images: Tensor, labels: Tensor) -> Callable[[int], None] | str:
    """One batch of ``name`` (a peer or "spikekit fast"), or why it cannot run."""
    if name == "spikekit fast":
        config = RunConfig(train=TrainConfig(num_steps=num_steps))
        model = SNN(SIZES, engine="fast")
        def encode(index: int):
            return encode_batch(images, config.train, "bench", index)
        def outputs(inputs) -> Tensor:
            return model(inputs)
    else:
        model = _peer(name)
        if isinstance(model, str):
            return model
        def encode(index: int) -> Tensor:  # the Bernoulli coding every peer's tutorial uses
            generator = torch.Generator().manual_seed(index)
            return (torch.rand(num_steps, *images.shape, generator=generator) < images).float()
        def outputs(inputs) -> Tensor:
            return model(inputs)[0]
    if mode == "infer":
        @torch.no_grad()
        def infer(index: int) -> None:
            outputs(encode(index))
        return infer
    optimizer = build_optimizer(model, TrainConfig(lr=LR))

    def train(index: int) -> None:
        loss = F.cross_entropy(outputs(encode(index)), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return train


def _repeats(repeats: int, num_steps: int) -> int:
    """Timed batches of a row: ``--repeats`` at T=25, half that (at least 3) at T=100."""
    return repeats if num_steps == 25 else max(3, repeats // 2)


def cli_samples_per_second(num_steps: int, data_dir: str | None) -> float:
    """``spikekit train``'s own epoch throughput (metrics.jsonl) over 200 batches of 128 at T=25, 100 else."""
    batches = 200 if num_steps == 25 else 100
    with tempfile.TemporaryDirectory() as directory:
        command = [sys.executable, "-m", "spikekit", "train", "--epochs", "1", "-T", str(num_steps),
                   "--limit-train", str(128 * batches), "--limit-test", "1000", "--out", f"{directory}/run"]
        subprocess.run(command + (["--data-dir", data_dir] if data_dir else []), check=True, capture_output=True)
        return json.loads(Path(f"{directory}/run/metrics.jsonl").read_text().splitlines()[-1])["samples_per_second"]


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_in_fresh_process(row: tuple, threads: int) -> float:
    command = [sys.executable, __file__, "--threads", str(threads), "--peak-of", json.dumps(row)]
    result = subprocess.run(command, capture_output=True, text=True)
    return float(result.stdout.split()[-1]) if result.returncode == 0 else float("nan")


def _batch(mode: str, data) -> tuple[Tensor, Tensor]:
    split, size = (data.train, 128) if mode == "train" else (data.test, 1000)
    return split.intensity(slice(0, size)), split.labels[:size]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed batches at T=25 (half that at T=100)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="T=25 only, no peak memory (a smoke run)")
    parser.add_argument("--data-dir", help="MNIST IDX folder for the spikekit train rows (default: its sources)")
    parser.add_argument("--pairs", type=int, default=3,
                        help="rounds of every training peer's step, then a spikekit train epoch, per T (0: none)")
    parser.add_argument("--peak-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    set_threads(args.threads)
    keep_freed_memory()
    data = load_mnist(args.data_dir)
    if args.peak_of:
        name, mode, num_steps = json.loads(args.peak_of)
        step = _step(name, mode, num_steps, *_batch(mode, data))
        for index in range(3):
            step(index)
        print(_peak_rss_mb())
        return
    print(f"torch {torch.__version__}, {args.threads} threads; same forward spikes (float64, same weights and "
          "input):")
    for name, verdict in check_same_spikes(data.test.intensity(slice(0, 32))).items():
        print(f"  {name}: {verdict}")
    rows = []
    for num_steps in (25,) if args.quick else (25, 100):
        repeats = _repeats(args.repeats, num_steps)
        for mode in ("train", "infer"):
            images, labels = _batch(mode, data)
            for name in [*PEERS, "spikekit fast"]:
                step = _step(name, mode, num_steps, images, labels)
                if isinstance(step, str):
                    rows.append((name, mode, num_steps, None, None, step))
                    continue
                rate = 1000 * len(labels) / _median_ms(step, repeats)
                peak = float("nan") if args.quick else _peak_in_fresh_process((name, mode, num_steps), args.threads)
                rows.append((name, mode, num_steps, rate, peak, ""))
            if mode == "train":
                rate = cli_samples_per_second(num_steps, args.data_dir)
                rows.append(("spikekit train (CLI epoch)", mode, num_steps, rate, float("nan"), ""))
    print("\n| implementation | mode | T | samples/s | peak RSS MB | x fastest peer | note |")
    print("|---|---|---|---|---|---|---|")
    for name, mode, num_steps, rate, peak, note in rows:
        peers = [r[3] for r in rows if r[1:3] == (mode, num_steps) and r[0] in PEERS and r[3] is not None]
        ratio = f"{rate / max(peers):.1f}" if rate is not None and peers else "-"
        cells = ("-", "-") if rate is None else (f"{rate:,.0f}", f"{peak:.0f}")
        print(f"| {name} | {mode} | {num_steps} | {cells[0]} | {cells[1]} | {ratio} | {note} |")
    if args.pairs:
        paired(rows, args, data)


def paired(rows: list[tuple], args: argparse.Namespace, data) -> None:
    """``spikekit train`` over the fastest peer, measured in alternation: this host's speed drifts by up to
    a third over seconds, all code alike, so the table's two figures, taken half a minute apart, can put
    the ratio anywhere from 6x to 12x. Each round times every peer's training step (as in the table), then
    one ``spikekit train`` epoch, and takes the ratio to the fastest peer of that round; their median is
    printed."""
    print(f"\nPaired: every training peer, then a spikekit train epoch, {args.pairs} rounds per T")
    print("| T | fastest peer of the round | its samples/s | spikekit train samples/s | ratio |")
    print("|---|---|---|---|---|")
    for num_steps in sorted({r[2] for r in rows if r[1] == "train"}):
        names = [r[0] for r in rows if r[1:3] == ("train", num_steps) and r[0] in PEERS and r[3] is not None]
        if not names:
            continue
        repeats = _repeats(args.repeats, num_steps)
        ratios = []
        for _ in range(args.pairs):
            rates = {name: 1000 * 128 / _median_ms(_step(name, "train", num_steps, *_batch("train", data)), repeats)
                     for name in names}
            name = max(rates, key=rates.get)
            cli = cli_samples_per_second(num_steps, args.data_dir)
            ratios.append(cli / rates[name])
            print(f"| {num_steps} | {name} | {rates[name]:,.0f} | {cli:,.0f} | {ratios[-1]:.1f} |")
        print(f"| {num_steps} | median of {len(ratios)} | | | **{statistics.median(ratios):.1f}** |")


if __name__ == "__main__":
    main()
