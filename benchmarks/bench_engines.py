"""Engine benchmark: training and inference speed of every engine, measured side by side in one run.

    python benchmarks/bench_engines.py [--repeats 10] [--rounds 3] [--threads 2]
                                       [--section seed|alif|cuba|custom|conv|events|recurrent|smnist|smnist-adlif|
                                                  smnist-brf|all]
                                       [--results FILE]

Training step = Poisson encoding + forward + cross-entropy + backward + Adam step (batch 128);
inference = encoding + forward without gradients. Three networks: the seed's 784-128-10 (inference
batch 1000, T=25 and 100), the conv SNN 12c5-p2-32c5-p2-10 (batch 128, T=25), and 2312-128-10 on event
data of N-MNIST's shape (34 x 34 x 2, T=25 time bins, batch 128; the "encoding" is then taking the batch's
binned spikes: events for the fast engine, dense frames for the reference). The event recordings are
synthetic (``spikekit.data.nmnist.saccade_events`` of MNIST digits: N-MNIST's size and density, a few
thousand events each), since the real set cannot be downloaded here. The "floor" rows time
only the products one training batch cannot avoid, as plain torch calls with time folded into the
batch: for 784-128-10 the five dense float32 GEMMs (2 forward, 1 input gradient, 2 weight gradients);
for the conv net the two convolutions and the readout product forward, and their weight and input
gradients (none for the data), channels-last as the fast engine runs them; for 700-256ra-20 the two dense
products of its backward (``recurrent_floor``). Each row is timed in blocks of
back-to-back batches after a warm-up, the rows of a table taking turns over a few rounds (``_median_ms``).
Every training call starts from the same weights and Adam state (``TrainingStep``, restored untimed), the
same for every engine of a row: a fast engine's work grows with the spikes, and a network trained on one
batch call after call drifts (the recurrent row's hidden layer went from 0.1% to ~10% firing over the 36
calls of one block), so without it a ratio depended on how long the benchmark ran. The start is the
network after ``PRETRAIN`` fast-engine steps on the row's batch, and the row prints its hidden layers'
firing there (spikes per neuron per step, the fast engine's forward).
Peak RSS is the high-water mark of a fresh process that runs 3 calls of that row alone (data loaded, as in
training), Linux only. The ``alif`` and ``cuba`` sections are the seed network with ALIF or CubaLIF hidden
neurons (784-128a-10, 784-128s-10); ``custom`` is a user's own model (``ResidualModel``). ``recurrent`` is SHD's
shape, 700-256ra-20 (recurrent ALIF, leaky readout, T=100, batch 128) on synthetic input spikes at
``peers_recurrent.DENSITY``; ``smnist`` the S-MNIST network of the ALIF recipe, 1-64ra-256ra-10 at T=784
(training only),
``smnist-adlif`` the adLIF recipe's 1-64rd-256rd-10 and ``smnist-brf`` the one ``--dataset smnist`` trains,
1-256rb-10 (one recurrent BRF layer), each at its preset's batch, 32.

The rows are printed and written, with the host (CPU model, vector extensions, torch and numba versions),
into ``--results`` (default ``benchmarks/results/engines.json``, the sections run replacing their earlier
rows); ``benchmarks/performance_page.py`` makes ``docs/performance.md`` from that file.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import peers_recurrent  # benchmarks/, the script's directory, is on sys.path
import torch
import torch.nn.functional as F
from performance_page import firing_text  # benchmarks/, as above

from spikekit.allocator import keep_freed_memory, keep_large_buffers
from spikekit.config import ModelConfig, RunConfig, TrainConfig
from spikekit.data.events import BinnedSplit, EventSplit, empty_events
from spikekit.data.mnist import load_mnist
from spikekit.data.nmnist import SENSOR as NMNIST_SENSOR
from spikekit.data.nmnist import saccade_events
from spikekit.data.shd import SENSOR as SHD_SENSOR
from spikekit.data.smnist import SequenceSplit, sequences
from spikekit.kernels import ENGINES, as_dense
from spikekit.memory import largest_buffer_bytes
from spikekit.nn import SNNLayer, TimeDropout
from spikekit.nn.neurons import LIF
from spikekit.nn.spec import PRESETS
from spikekit.train.distributed import set_threads
from spikekit.train.loop import (
    binned_inputs,
    build_model,
    build_optimizer,
    encode_batch,
    load_optimizer_state,
    optimizer_state,
)


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _median_ms(cases: dict[str, Callable[[int], None]], repeats: int, rounds: int, warmup: int = 2,
               ) -> dict[str, float]:
    """Median ms per call of each case's step: ``rounds`` rounds, each running every case in turn for
    ``warmup`` untimed calls, then ``repeats`` timed calls back to back, as in a training loop.

    Why rounds: this host's speed drifts by 30-50% over tens of seconds, and a row timed in one slow
    stretch skewed its ratio (the N-MNIST row read 8.9x and 10.3x in two runs minutes apart); rounds
    spread every row over the same stretches. Why blocks and not call by call: interleaving the engines
    call by call was tried, and the reference's ~100 MB of autograd buffers between two fast steps evict
    the caches and cost the fast engine 20-30%, which a real run never sees; each block's warm-up calls
    refill them.
    """
    times: dict[str, list[float]] = {name: [] for name in cases}
    for round_index in range(rounds):
        for name, step in cases.items():
            restart = getattr(step, "restart", lambda: None)  # a training step's weights back to its start
            offset = round_index * (warmup + repeats)
            for index in range(warmup):
                restart()
                step(offset + index)
            for index in range(repeats):
                restart()
                start = time.perf_counter()
                step(offset + warmup + index)
                times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def _peak_rss_in_fresh_process(row: tuple) -> float:
    """Peak RSS (MB) of a fresh process that loads the data and runs 3 calls of one row's step.

    Its own process, because freed memory stays mapped (``keep_freed_memory``) and the high-water mark
    of one long process only grows: rows timed after a larger one would all read that one's peak."""
    command = [sys.executable, __file__, "--peak-of", json.dumps(row)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(result.stdout.split()[-1])


def _step_buffer(section: str, num_steps: int, batch: int) -> int:
    """The largest buffer of a section's training step (``memory.largest_buffer_bytes``)."""
    arch, *_, input_shape = SECTIONS[section]
    return largest_buffer_bytes("256-256-10" if section == "custom" else arch,  # ResidualModel's widths
                                input_shape, num_steps, batch)


def _run_peak_of(row: list, threads: int) -> None:
    section, name, mode, num_steps, batch = row
    set_threads(threads)
    keep_freed_memory()
    if mode == "train":
        keep_large_buffers(_step_buffer(section, num_steps, batch))  # as the CLI does for a training run
    step = _cases(section, mode, num_steps, batch, load_mnist(), pretrain=False)[0][name]
    for index in range(3):
        step(index)
    print(_peak_rss_mb())


def _config(arch: str, engine: str, num_steps: int, input_shape: tuple[int, ...] = (1, 28, 28)) -> RunConfig:
    return RunConfig(ModelConfig(arch=arch, input_shape=input_shape, **MODEL_OPTIONS.get(arch, {})),
                     TrainConfig(engine=engine, num_steps=num_steps))


def _inputs(images: torch.Tensor | BinnedSplit, config: RunConfig, index: int):
    """One batch's input spikes as training draws them: Poisson-coded images, or binned event recordings."""
    if isinstance(images, BinnedSplit):
        return binned_inputs(images, slice(0, len(images.labels)), config.train)
    if isinstance(images, SequenceSplit):
        return images.inputs(slice(0, len(images.labels)))
    return encode_batch(images, config.train, "bench", index)


PRETRAIN = 20  # fast-engine training steps on a row's batch before the weights every timed step starts from


def training_step(arch: str, engine: str, num_steps: int, images: torch.Tensor | BinnedSplit,
                  labels: torch.Tensor, input_shape: tuple[int, ...] = (1, 28, 28),
                  start: tuple[dict, dict] | None = None) -> TrainingStep:
    """``arch``'s training step on ``engine`` (``spikekit train``'s model and Adam), starting from ``start``
    (``TrainingStep.state``: the weights and Adam state another engine's model reached) when given."""
    config = _config(arch, engine, num_steps, input_shape)
    model = build_model(config)
    step = TrainingStep(model, build_optimizer(model, config.train), config, images, labels)
    if start is not None:
        step.load(start)
    return step


def pretrained_start(arch: str, num_steps: int, images: torch.Tensor | BinnedSplit, labels: torch.Tensor,
                     input_shape: tuple[int, ...]) -> tuple[dict, dict]:
    """The weights and Adam state after ``PRETRAIN`` fast-engine training steps on the row's batch."""
    step = training_step(arch, "fast", num_steps, images, labels, input_shape)
    for index in range(PRETRAIN):
        step(-1 - index)  # streams of their own (the timed calls count up from 0)
    return step.state()


class TrainingStep:
    """The benchmark's training step of ``model``: the batch ``images`` encoded again each call (a new
    stream per index), forward, cross-entropy, backward, ``optimizer``.

    ``restart()`` puts the weights and Adam state back to ``load``'s (without one: to where the first call
    left them), so that every timed call does the same work; ``_median_ms`` calls it untimed."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, config: RunConfig,
                 images: torch.Tensor | BinnedSplit, labels: torch.Tensor) -> None:
        self.model, self.optimizer, self.config, self.images, self.labels = model, optimizer, config, images, labels
        self.start: tuple[dict, dict] | None = None

    def __call__(self, index: int) -> None:
        counts = self.model(_inputs(self.images, self.config, index))
        loss = F.cross_entropy(counts, self.labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.start is None:  # after a step, so that Adam's moments exist (its first step allocates them)
            self.start = self.state()

    def state(self) -> tuple[dict, dict]:
        """Copies of the model's state dict and the optimizer's (``optimizer_state``: engine-independent)."""
        return (copy.deepcopy(self.model.state_dict()),
                copy.deepcopy(optimizer_state(self.model, self.optimizer)))

    def load(self, state: tuple[dict, dict]) -> None:
        self.model.load_state_dict(state[0])
        load_optimizer_state(self.model, self.optimizer, copy.deepcopy(state[1]))
        self.start = state

    def restart(self) -> None:
        if self.start is not None:
            self.load(self.start)


def step_of(model: torch.nn.Module, optimizer: torch.optim.Optimizer, config: RunConfig,
            images: torch.Tensor | BinnedSplit, labels: torch.Tensor) -> TrainingStep:
    """``TrainingStep`` of a model built elsewhere (``profile_step.py``, the ``custom`` section)."""
    return TrainingStep(model, optimizer, config, images, labels)


def _model_at(arch: str, engine: str, num_steps: int, input_shape: tuple[int, ...],
              start: tuple[dict, dict] | None) -> tuple[RunConfig, torch.nn.Module]:
    """``arch``'s config and model on ``engine``, with ``start``'s weights when given."""
    config = _config(arch, engine, num_steps, input_shape)
    model = build_model(config)
    if start is not None:
        model.load_state_dict(start[0])
    return config, model


def inference_step(arch: str, engine: str, num_steps: int, images: torch.Tensor | BinnedSplit,
                   input_shape: tuple[int, ...] = (1, 28, 28), start: tuple[dict, dict] | None = None,
                   ) -> Callable[[int], None]:
    """``arch``'s forward on ``engine`` without gradients, with ``start``'s weights when given."""
    config, model = _model_at(arch, engine, num_steps, input_shape, start)

    @torch.no_grad()
    def step(index: int) -> None:
        model(_inputs(images, config, index))
    return step


@torch.no_grad()
def hidden_firing(arch: str, num_steps: int, images: torch.Tensor | BinnedSplit, input_shape: tuple[int, ...],
                  start: tuple[dict, dict] | None) -> list[float]:
    """Spikes per neuron per step of each hidden layer with ``start``'s weights, on the call-0 batch."""
    config, model = _model_at(arch, "fast", num_steps, input_shape, start)
    _, layers = model.scores_and_spikes(_inputs(images, config, 0))
    hidden = layers if model.readout == "leaky" else layers[:-1]  # a leaky readout does not spike
    return [float(spikes.mean()) for spikes in hidden]


def gemm_floor(num_steps: int, batch: int, inputs: int = 784) -> Callable[[int], None]:
    rows = num_steps * batch
    x, w1 = (torch.rand(rows, inputs) < 0.13).float(), torch.randn(inputs, 128)
    h, w2 = (torch.rand(rows, 128) < 0.2).float(), torch.randn(128, 10)
    g2, g1 = torch.randn(rows, 10), torch.randn(rows, 128)

    def step(index: int) -> None:
        x @ w1, h @ w2, g2 @ w2.T, g2.T @ h, g1.T @ x
    return step


def conv_floor(num_steps: int, batch: int) -> Callable[[int], None]:
    """12c5-p2-32c5-p2-10's products: convs and readout forward, then their gradients (autograd)."""
    images, channels_last = num_steps * batch, torch.channels_last
    x = (torch.rand(images, 1, 28, 28) < 0.13).float().contiguous(memory_format=channels_last)
    pooled = (torch.rand(images, 12, 14, 14) < 0.05).float().contiguous(memory_format=channels_last)
    flat = (torch.rand(images, 1568) < 0.05).float()
    conv1 = torch.nn.Conv2d(1, 12, 5, padding=2).to(memory_format=channels_last)
    conv2 = torch.nn.Conv2d(12, 32, 5, padding=2).to(memory_format=channels_last)
    readout = torch.nn.Linear(1568, 10)

    def step(index: int) -> None:
        inputs = [pooled.requires_grad_(), flat.requires_grad_()]
        outputs = [conv1(x), conv2(inputs[0]), readout(inputs[1])]
        torch.autograd.backward(outputs, [torch.ones_like(output) for output in outputs])
    return step


def recurrent_floor(num_steps: int, batch: int, hidden: int = 256, outputs: int = 20) -> Callable[[int], None]:
    """The dense products an exact backward of 700-256ra-20 cannot avoid: the adjoint back through U and through
    the readout's weights (g_I U and g_I2 W2 at every neuron of every step: the surrogate gradient is nowhere zero,
    so neither product can skip a neuron, where the forward's and the weight gradients' products skip what did
    not spike). Time folded into the batch, which no engine can do for U: step t's product needs step t+1's."""
    rows = num_steps * batch
    grad_hidden, recurrent = torch.randn(rows, hidden), torch.randn(hidden, hidden)
    grad_readout, readout = torch.randn(rows, outputs), torch.randn(outputs, hidden)
    product = torch.empty(rows, hidden)  # written in place: no allocation timed, the lowest floor

    def step(index: int) -> None:
        torch.mm(grad_hidden, recurrent, out=product)
        torch.addmm(product, grad_readout, readout, out=product)
    return step


NEURON_ROWS = [("train", 25, 128), ("train", 100, 128), ("infer", 25, 128), ("infer", 100, 128)]
SECTIONS = {  # section -> arch, its (mode, T, batch) rows, the floor of its training rows, input shape
    "seed": ("128-10", [("train", 25, 128), ("train", 100, 128), ("infer", 25, 1000), ("infer", 100, 1000)],
             gemm_floor, (1, 28, 28)),
    "alif": ("128a-10", NEURON_ROWS, gemm_floor, (1, 28, 28)),  # the seed network with ALIF hidden neurons
    "cuba": ("128s-10", NEURON_ROWS, gemm_floor, (1, 28, 28)),  # ... with CubaLIF hidden neurons
    "custom": ("user's model", [("train", 25, 128), ("train", 100, 128)], gemm_floor, (1, 28, 28)),
    "conv": ("12c5-p2-32c5-p2-10", [("train", 25, 128), ("infer", 25, 128)], conv_floor, (1, 28, 28)),
    "events": ("128-10", [("train", 25, 128), ("infer", 25, 128)],
               lambda num_steps, batch: gemm_floor(num_steps, batch, 2 * 34 * 34), NMNIST_SENSOR),
    # SHD's shape: 700 channels, recurrent ALIF, 20 classes, on synthetic input spikes (``_audio_batch``)
    "recurrent": ("256ra-20", [("train", 100, 128), ("infer", 100, 128)], recurrent_floor, (700,)),
    # the S-MNIST network of the README's recipe (MODEL_OPTIONS), on MNIST read one pixel a step: at batch 128
    # and at the batch its preset trains with (32)
    "smnist": ("64ra-256ra-10", [("train", 784, 128), ("train", 784, PRESETS["smnist-alif"].batch_size)], None, (1,)),
    # the adLIF recipe (``--arch smnist-adlif``, its preset's options), at its preset's batch
    "smnist-adlif": (PRESETS["smnist-adlif"].arch, [("train", 784, PRESETS["smnist-adlif"].batch_size)], None, (1,)),
    # the network --dataset smnist trains by default (one recurrent BRF layer, its preset's options), at its batch
    "smnist-brf": (PRESETS["smnist"].arch, [("train", 784, PRESETS["smnist"].batch_size)], None, (1,)),
}
# Model options of a section's arch beyond its spec: the S-MNIST recipe (docs/accuracy.md) and SHD's network
MODEL_OPTIONS = {"64ra-256ra-10": dict(PRESETS["smnist-alif"].model),
                 PRESETS["smnist-adlif"].arch: dict(PRESETS["smnist-adlif"].model),
                 PRESETS["smnist"].arch: dict(PRESETS["smnist"].model),
                 "256ra-20": {"readout": "leaky", "init_gain": 4.0, "threshold": 0.3, "tau": 5.0}}
def _audio_batch(labels: torch.Tensor, num_steps: int, density: float = peers_recurrent.DENSITY) -> BinnedSplit:
    """``peers_recurrent.audio_recordings`` (synthetic SHD-shaped input, one per label) as events, each spike at
    its step's centre, binned to ``num_steps`` fixed windows of 10 ms."""
    recordings = []
    for steps, channels in peers_recurrent.audio_recordings(len(labels), num_steps, density, np.random.default_rng(0)):
        events = empty_events(len(steps))
        events["x"], events["t"] = channels, steps * 10_000 + 5_000
        recordings.append(events)
    return EventSplit.from_recordings(recordings, labels.tolist(), SHD_SENSOR).binned(
        num_steps, "fixed", duration=num_steps * 10_000)


def _event_batch(images: torch.Tensor, labels: torch.Tensor, num_steps: int) -> BinnedSplit:
    """Synthetic N-MNIST recordings of ``images`` [B, 784], binned to ``num_steps`` equal-time windows."""
    rng = np.random.default_rng(0)
    recordings = [saccade_events(image.reshape(28, 28).numpy(), rng) for image in images]
    return EventSplit.from_recordings(recordings, labels.tolist(), NMNIST_SENSOR).binned(num_steps)


class ResidualModel(torch.nn.Module):
    """A user's own model (the README's): LIF 784-256, dropout (``TimeDropout``, or ``nn.Dropout`` with
    ``torch_dropout``), LIF 256-256 added back (a residual sum), and a linear head on the spike counts.
    ``dense_input``: the first layer as ``nn.Linear`` then an ``nn.LIF`` module (a dense product over T*B rows)
    instead of an ``SNNLayer`` fed by the input spikes."""

    def __init__(self, engine: str, dense_input: bool = False, torch_dropout: bool = False) -> None:
        super().__init__()
        self.engine, self.dense_input = engine, dense_input
        self.first = torch.nn.Linear(784, 256) if dense_input else SNNLayer(784, 256, LIF())
        self.first_neurons = LIF()
        self.dropout = torch.nn.Dropout(0.2) if torch_dropout else TimeDropout(0.2)
        self.second = SNNLayer(256, 256, LIF())
        self.head = torch.nn.Linear(256, 10)
        with torch.no_grad():  # enough drive that the hidden layers fire from the first batch
            for weight in (self.first.weight if dense_input else self.first.linear.weight, self.second.linear.weight):
                weight.mul_(4.0)

    def forward(self, inputs) -> torch.Tensor:
        if self.dense_input:
            hidden = self.first_neurons(self.first(as_dense(inputs, self.first.weight)))
        else:
            hidden = self.first(inputs, self.engine)
        hidden = hidden + self.second(self.dropout(hidden), self.engine)
        return self.head(hidden.sum(0))


def _custom_step(engine: str, num_steps: int, images: torch.Tensor, labels: torch.Tensor,
                 dense_input: bool = False, torch_dropout: bool = False) -> Callable[[int], None]:
    config = _config("128-10", engine, num_steps)
    torch.manual_seed(0)
    model = ResidualModel(engine, dense_input, torch_dropout)
    return step_of(model, build_optimizer(model, config.train), config, images, labels)


def _cases(section: str, mode: str, num_steps: int, batch: int, data, pretrain: bool = True,
           ) -> tuple[dict[str, Callable[[int], None]], list[float]]:
    """The row's steps by name, and its hidden layers' firing at their start (``hidden_firing``; ``[]`` for
    the ``custom`` section). ``pretrain=False`` (a peak-RSS process): steps start from the initial weights,
    not ``pretrained_start``'s (whose fast model would add its memory to a reference row's peak)."""
    arch, _, floor, input_shape = SECTIONS[section]
    split = data.train if mode == "train" else data.test
    images, labels = split.intensity(slice(0, batch)), split.labels[:batch]
    if section == "custom":
        cases = {engine: _custom_step(engine, num_steps, images, labels) for engine in ENGINES}
        cases["fast, nn.Linear + nn.LIF first"] = _custom_step("fast", num_steps, images, labels, dense_input=True)
        for engine in ENGINES:
            cases[f"{engine}, nn.Dropout"] = _custom_step(engine, num_steps, images, labels, torch_dropout=True)
        return cases, []
    if section == "events":
        images = _event_batch(images, labels, num_steps)
    if section == "recurrent":
        labels = labels % 20
        images = _audio_batch(labels, num_steps)
    if section.startswith("smnist"):
        images = sequences(split.images[:batch], labels, "smnist")
    start = pretrained_start(arch, num_steps, images, labels, input_shape) if pretrain else None
    cases = {engine: (training_step(arch, engine, num_steps, images, labels, input_shape, start) if mode == "train"
                      else inference_step(arch, engine, num_steps, images, input_shape, start)) for engine in ENGINES}
    if mode == "train" and floor is not None:
        cases["floor"] = floor(num_steps, batch)
    return cases, hidden_firing(arch, num_steps, images, input_shape, start) if pretrain else []


RESULTS = Path(__file__).parent / "results" / "engines.json"


def _baseline(name: str) -> str:
    """The row a row's ratio is taken against: the reference engine running the same model (the ``custom``
    section's ``nn.Dropout`` variant has a reference row of its own)."""
    return "reference, nn.Dropout" if name.endswith("nn.Dropout") else "reference"


def host() -> dict[str, str]:
    """What the figures were measured on: CPU model and the vector extensions that decide the kernels' speed."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor() or platform.machine())
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    import numba
    return {"cpu": model, "machine": platform.machine(), "avx512": str("avx512f" in flags),
            "amx": str("amx_tile" in flags), "numba_cpu": numba.config.CPU_NAME or "host",
            "torch": torch.__version__, "numba": numba.__version__, "python": platform.python_version()}


def write_results(path: Path, sections: list[str], rows: list[tuple], args: argparse.Namespace) -> None:
    """Merge this run's rows into ``path`` (JSON), replacing the rows of the sections it ran."""
    data = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    record = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "host": host(),
              "threads": args.threads, "repeats": args.repeats, "rounds": args.rounds,
              "rows": [dict(zip(("network", "engine", "mode", "T", "batch", "samples_per_s", "ms", "peak_rss_mb",
                                 "x_reference", "hidden_firing"), row)) for row in rows]}
    for section in sections:
        data["runs"][section] = {**record, "rows": [row for row, section_of in zip(record["rows"], _row_sections)
                                                    if section_of == section]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


_row_sections: list[str] = []  # the section of each row of main's table, in order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed batches per row and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the rows of a table (median of all)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--section", choices=[*SECTIONS, "all"], default="all", help="which networks to time")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file the rows are merged into")
    parser.add_argument("--peak-of", help=argparse.SUPPRESS)  # internal: one row's peak RSS, in its own process
    args = parser.parse_args()
    if args.peak_of:
        return _run_peak_of(json.loads(args.peak_of), args.threads)
    set_threads(args.threads)  # torch's and numba's pools
    keep_freed_memory()  # as the CLI does; process-wide, so both engines run with it
    data = load_mnist()
    rows = []
    sections = list(SECTIONS) if args.section == "all" else [args.section]
    for section in sections:
        arch, cases_of_section, _, input_shape = SECTIONS[section]
        if section == "events":
            arch = f"{2 * 34 * 34}-{arch} (events)"
        if len(input_shape) == 1:  # flat input (SHD's channels, S-MNIST's pixel): its width leads the name
            arch = f"{input_shape[0]}-{arch}"
        for mode, num_steps, batch in cases_of_section:
            if mode == "train":  # as the CLI does for a training run (process-wide: from here on)
                keep_large_buffers(_step_buffer(section, num_steps, batch))
            cases, firing = _cases(section, mode, num_steps, batch, data)
            ms = _median_ms(cases, args.repeats, args.rounds)
            for name in cases:
                peak = _peak_rss_in_fresh_process((section, name, mode, num_steps, batch))
                rows.append((arch, name, mode, num_steps, batch, 1000 * batch / ms[name], ms[name], peak,
                             ms[_baseline(name)] / ms[name], [] if name == "floor" else firing))
                _row_sections.append(section)
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.rounds} rounds x {args.repeats} "
          "batches, each block after 2 warm-up, every training call from the same weights; peak RSS of a fresh "
          "process running 3 batches of the row\n")
    print("| network | engine | mode | T | batch | samples/s | ms/batch | peak RSS MB | x reference "
          "| hidden firing % |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for arch, name, mode, num_steps, batch, rate, ms, rss, ratio, firing in rows:
        print(f"| {arch} | {name} | {mode} | {num_steps} | {batch} | {rate:,.0f} | {ms:.1f} | {rss:.0f} | "
              f"{ratio:.1f} | {firing_text(firing)} |")
    write_results(args.results, sections, rows, args)
    print(f"\nwritten to {args.results} (python benchmarks/performance_page.py makes docs/performance.md from it)")


if __name__ == "__main__":
    main()
