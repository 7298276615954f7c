"""Training and evaluation loops: numbers in, numbers out; progress reported through callbacks.

One training step, as in the seed: encode the batch as Poisson spikes over T steps, run the network
from rest (every forward starts from a fresh membrane), take cross-entropy of the output spike
counts against the labels, back-propagate through the surrogate gradient, step Adam.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from spikekit.config import RunConfig, TrainConfig
from spikekit.data.augment import random_shift, shift_offsets
from spikekit.data.encoding import ENCODERS, poisson_encode_byte_events
from spikekit.data.events import BinnedSplit
from spikekit.data.mnist import BYTE_INTENSITY, Split
from spikekit.data.smnist import SequenceSplit
from spikekit.errors import SpikekitError
from spikekit.kernels import Inputs, as_events
from spikekit.metrics import accuracy, firing_rate, neuron_totals, silent_fraction
from spikekit.nn.build import build_network
from spikekit.nn.input_major import InputMajorLinear
from spikekit.nn.network import SNN, batch_slice
from spikekit.train.distributed import Shard
from spikekit.train.rng import keyed_generator, keyed_seed


class NonFiniteLossError(SpikekitError):
    """The loss became NaN or infinite; training stops before the optimiser uses it."""


@dataclass
class EpochProgress:
    """Where an epoch stands; enough to resume it exactly after batch ``batch``."""

    epoch: int
    batch: int = 0  # batches completed
    num_batches: int = 0
    loss_sum: float = 0.0  # sum over completed batches of (mean batch loss * batch size)
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0

    @property
    def loss(self) -> float:
        return self.loss_sum / max(1, self.seen)

    @property
    def accuracy(self) -> float:
        return self.correct / max(1, self.seen)


class Evaluation(NamedTuple):
    accuracy: float
    firing_rate: list[float]  # per layer: spikes per neuron per step
    zero_fraction: list[float]  # per layer: fraction of zero entries in the [T, B, N] spike tensor
    silent_fraction: list[float]  # per layer: fraction of neurons silent over the whole set
    counts: Tensor  # [N, C] scores per sample: output spike counts, or the leaky readout's mean membrane
    seconds: float
    neuron_rates: list[Tensor]  # per layer: [N_layer] spikes per step of each neuron, float64
    input_rate: float  # input spikes per pixel per step


def build_model(config: RunConfig) -> SNN:
    """The network of ``config.model``, initialised from (seed, "init") without touching global RNG."""
    return build_network(config.model, config.train.engine, keyed_seed(config.train.seed, "init")).to(
        config.train.device)


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Adam:
    """Adam with ``config.lr`` (AdamW when ``config.weight_decay``), in PyTorch's fused form: one kernel for
    all parameters instead of a few ops per tensor (measured 0.28 -> 0.12 ms per step for 784-128-10)."""
    if config.weight_decay:
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    return torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)


def _optimized(optimizer: torch.optim.Optimizer) -> list[torch.nn.Parameter]:
    """The optimizer's parameters, in the order ``state_dict()`` numbers them."""
    return [param for group in optimizer.param_groups for param in group["params"]]


def _stored_transposed(model: torch.nn.Module, params: list[torch.nn.Parameter]) -> set[int]:
    """Indices in ``params`` of the parameters that are an ``InputMajorLinear``'s W^T."""
    transposed = {id(module.weight_t) for module in model.modules() if isinstance(module, InputMajorLinear)}
    return {index for index, param in enumerate(params) if id(param) in transposed}


def optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """``optimizer.state_dict()`` with the state of each input-major weight (``InputMajorLinear.weight_t``,
    [N_in, N_out]) transposed to [N_out, N_in]: checkpoints hold every weight and its Adam moments as
    ``nn.Linear`` lays them out, whatever layout the engine trains in."""
    state = optimizer.state_dict()
    for index in _stored_transposed(model, _optimized(optimizer)):
        values = state["state"].get(index, {})
        state["state"][index] = {key: value.t() if isinstance(value, Tensor) and value.dim() == 2 else value
                                 for key, value in values.items()}
    return state


def load_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load what ``optimizer_state`` made. ``ValueError`` if a per-parameter tensor (Adam's moments) does
    not have its parameter's shape: ``Optimizer.load_state_dict`` does not check, and fused Adam would
    pair a parameter's elements with the wrong moments, or read past them."""
    params = _optimized(optimizer)
    transposed = _stored_transposed(model, params)
    per_param = {}
    for index, values in state["state"].items():
        position, values = int(index), dict(values)
        param = params[position] if 0 <= position < len(params) else None
        for key, value in values.items():
            if not isinstance(value, Tensor) or value.dim() == 0:  # Adam's step count
                continue
            if position in transposed and value.dim() == 2:
                # contiguous, as the parameter: fused Adam walks parameter, gradient and moments as flat arrays
                values[key] = value = value.t().contiguous()
            if param is None or value.shape != param.shape:
                raise ValueError(f"optimizer state {key!r} of parameter {index} has shape {list(value.shape)}, "
                                 f"the parameter {list(param.shape) if param is not None else 'does not exist'}")
        per_param[index] = values
    optimizer.load_state_dict({**state, "state": per_param})


def encoder_name(config: TrainConfig) -> str:
    """Events from the counter-based sampler on the CPU, dense spikes elsewhere. The engine plays no part:
    switching it may change rounding, never the input spikes (the reference engine reads the same events
    as a dense tensor; tests)."""
    return "events" if config.device == "cpu" else "dense"


def encode_batch(intensity: Tensor, config: TrainConfig, *keys: int | str) -> object:
    """Input spikes for one batch, drawn from the stream keyed (seed, *keys)."""
    generator = keyed_generator(config.seed, *keys, device=intensity.device)
    return ENCODERS[encoder_name(config)](intensity, config.num_steps, generator)


def batch_order(num_samples: int, seed: int, epoch: int) -> Tensor:
    """The epoch's shuffle of ``range(num_samples)``, a pure function of (seed, epoch)."""
    return torch.randperm(num_samples, generator=keyed_generator(seed, "shuffle", epoch))


def binned_inputs(split: BinnedSplit, index: Tensor | slice, config: TrainConfig) -> Inputs:
    """Binned event recordings ``index`` as the engines take them: ``SpikeEvents`` on the CPU (no dense tensor
    is made), dense [T, B, N] frames otherwise."""
    if encoder_name(config) == "events":
        return split.events(index)
    return split.dense(index).to(config.device)


def image_inputs(split: Split, index: Tensor, config: TrainConfig, input_shape: tuple[int, ...],
                 keys: tuple[int | str, ...], shift_keys: tuple[int | str, ...] | None = None) -> Inputs:
    """Poisson input spikes of the images ``index`` drawn from the stream keyed (seed, *keys); with ``shift_keys``,
    each image first translated by up to ``config.shift`` pixels (offsets from the stream (seed, *shift_keys)).

    Equal to ``encode_batch(train_intensity(...), config, *keys)`` (tested). For the events encoder it is made
    in one pass from the raw bytes (``poisson_encode_byte_events``): no float batch is gathered, shifted and
    read again (measured ~0.35 -> ~0.25 ms of a ~2.9 ms T=25 batch in the CLI's loop).
    """
    if encoder_name(config) != "events":
        return encode_batch(train_intensity(split, index, config, input_shape, shift_keys), config, *keys)
    offsets, shape = None, (input_shape if len(input_shape) == 3 else None)
    if shift_keys is not None and config.shift and shape is not None and len(index):
        offsets = shift_offsets(len(index), config.shift, keyed_generator(config.seed, *shift_keys))
    return poisson_encode_byte_events(split.images, index, BYTE_INTENSITY, config.num_steps,
                                      keyed_generator(config.seed, *keys), shape, offsets)


def train_intensity(split: Split, index: Tensor, config: TrainConfig, input_shape: tuple[int, ...],
                    keys: tuple[int | str, ...] | None) -> Tensor:
    """Intensities [B, P] of the training images ``index``, on ``config.device``, each translated by up to
    ``config.shift`` pixels with offsets drawn from the stream keyed (seed, *keys); untranslated if ``keys``
    is None (evaluation)."""
    intensity = split.intensity(index).to(config.device)
    if not config.shift or keys is None:
        return intensity
    generator = keyed_generator(config.seed, *keys, device=config.device)
    return random_shift(intensity, input_shape, config.shift, generator)


def sample_inputs(split: Split | BinnedSplit | SequenceSplit, index: Tensor, config: TrainConfig,
                  input_shape: tuple[int, ...], keys: tuple[int | str, ...],
                  shift_keys: tuple[int | str, ...] | None = None) -> Inputs:
    """The inputs of samples ``index`` as the engines take them, whatever the data: a sequence's values, binned
    recordings' events, or images' Poisson spikes drawn from the stream keyed (seed, *keys) (shifted by the
    stream (seed, *shift_keys) when given)."""
    if isinstance(split, SequenceSplit):
        return split.inputs(index).to(config.device)
    if isinstance(split, BinnedSplit):
        return binned_inputs(split, index, config)
    return image_inputs(split, index, config, input_shape, keys, shift_keys)


def model_input_shape(model: torch.nn.Module) -> tuple[int, ...]:
    """The shape of one sample's input at one step: an ``SNN``'s ``input_shape``, or a module's own
    ``input_shape`` attribute, else MNIST's (1, 28, 28) (which the ``--shift`` augmentation needs)."""
    return tuple(getattr(model, "input_shape", (1, 28, 28)))


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, split: Split | BinnedSplit | SequenceSplit,
                config: TrainConfig, progress: EpochProgress, on_batch: Callable[[EpochProgress], None] | None = None,
                shard: Shard = Shard()) -> EpochProgress:
    """Train from batch ``progress.batch`` to the end of epoch ``progress.epoch``, updating ``progress``.

    ``on_batch(progress)`` runs after every batch (the CLI draws progress and checkpoints there). The epoch
    covers the first ``config.limit_train`` samples of ``split`` (all when None), shuffled by (seed, epoch).
    The lr schedule is the caller's: ``spikekit.train.fit`` steps it; a hand-written loop steps its own.
    With a multi-process ``shard`` (``spikekit.train.distributed``), ``model`` is the
    DistributedDataParallel wrapper, this rank trains on its part of each global batch, and
    ``progress`` holds the sums over all ranks. Raises ``NonFiniteLossError`` naming epoch and batch
    (1-based) if the loss is not finite, on every rank alike.
    """
    model.train()
    input_shape = model_input_shape(getattr(model, "module", model))  # unwrapped from DistributedDataParallel
    samples = len(split.labels) if config.limit_train is None else min(config.limit_train, len(split.labels))
    order = batch_order(samples, config.seed, progress.epoch)
    progress.num_batches = num_batches(len(order), config.batch_size, shard.world_size)
    for batch in range(progress.batch, progress.num_batches):
        start = time.perf_counter()
        index = shard.rows(order[batch * config.batch_size:(batch + 1) * config.batch_size])
        global_size = min(config.batch_size, len(order) - batch * config.batch_size)
        labels = split.labels[index].to(config.device)
        inputs = sample_inputs(split, index, config, input_shape, shard.keys("train", progress.epoch, batch),
                               shard.keys("shift", progress.epoch, batch))
        counts = model(inputs)
        if shard.world_size == 1:
            loss = F.cross_entropy(counts, labels, label_smoothing=config.label_smoothing)
        else:  # DDP averages gradients over ranks: scale so the average is that of the global mean loss
            loss = F.cross_entropy(counts, labels, reduction="sum", label_smoothing=config.label_smoothing) * (
                shard.world_size / global_size)
        local_sum = loss.item() * (len(labels) if shard.world_size == 1 else global_size / shard.world_size)
        loss_sum, correct = shard.sum([local_sum, float((counts.argmax(1) == labels).sum())])
        if not math.isfinite(loss_sum):
            raise NonFiniteLossError(f"loss became {loss_sum / global_size} at epoch {progress.epoch + 1}, "
                                     f"batch {batch + 1}; try a smaller --lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
        optimizer.step()
        progress.batch = batch + 1
        progress.loss_sum += loss_sum
        progress.correct += int(correct)
        progress.seen += global_size
        progress.seconds += time.perf_counter() - start
        if on_batch is not None:
            on_batch(progress)
    return progress


def warm_up(model: SNN, split: Split | BinnedSplit | SequenceSplit, config: TrainConfig) -> float:
    """One forward and backward pass on the first two training samples, gradients then dropped, so that the
    engine's compiled kernels are loaded (numba reads each from its cache on first call) before an epoch's
    clock starts; returns the seconds it took.

    Measured: the first training batch of a run took 470-670 ms against ~5 ms for the others (784-128-10,
    T=25), which over a 200-batch epoch is a third of its time. Weights, optimiser state and random streams
    are untouched (inputs drawn from their own keyed stream), so runs and resumes stay bit-identical.
    """
    if len(split.labels) == 0:
        return 0.0
    start = time.perf_counter()
    # through the shift too, whose kernel the first batch loaded otherwise (~7 of its ~18 ms at T=25)
    inputs = sample_inputs(split, torch.arange(min(2, len(split.labels))), config, model_input_shape(model),
                           ("warm-up",), ("warm-up", "shift"))
    model.train()
    model(inputs).sum().backward()
    for parameter in model.parameters():
        parameter.grad = None
    return time.perf_counter() - start


def num_batches(num_samples: int, batch_size: int, world_size: int = 1) -> int:
    """Global batches per epoch; with several processes, a last partial batch smaller than the number
    of processes is skipped (some rank would have no rows)."""
    full, rest = divmod(num_samples, batch_size)
    return full + (1 if rest >= world_size else 0)


@torch.no_grad()
def evaluate(model: SNN, split: Split | BinnedSplit | SequenceSplit, config: TrainConfig,
             on_batch: Callable[[int, int], None] | None = None, stream: str = "test") -> Evaluation:
    """Accuracy and per-layer spike statistics over ``split``; inputs drawn from fixed keyed streams
    (seed, ``stream``, batch), so every epoch's evaluation sees the same spikes.

    ``on_batch(done, total)`` reports progress in samples.
    """
    model.eval()
    start = time.perf_counter()
    # every spiking layer's totals; with the leaky readout the output layer does not fire and has none
    spiking = isinstance(model, SNN)  # a module of the user's own: its scores only, no per-layer statistics
    totals = [torch.zeros(size, dtype=torch.float64) for size in model.sizes[1:len(model.sizes) - (
        model.readout == "leaky")]] if spiking else []
    input_total = 0.0
    counts = []
    size = config.eval_batch_size
    for batch, first in enumerate(range(0, len(split.labels), size)):
        if isinstance(split, SequenceSplit):
            inputs = split.inputs(slice(first, first + size)).to(config.device)
        elif isinstance(split, BinnedSplit):  # event data: the same binned spikes every time
            inputs = binned_inputs(split, slice(first, first + size), config)
        else:
            index = torch.arange(first, min(first + size, len(split.labels)))
            inputs = image_inputs(split, index, config, model_input_shape(model), (stream, batch))
        events = as_events(inputs)
        input_total += float(events.num_spikes() if events is not None else inputs.sum())
        # A conv net's layer-by-layer spikes of 1000 samples (~300 MB for 12c5 at T=8) go in chunks of the
        # size a no-grad forward uses (test pass 12.5 -> 7.4 s); the seed's (13 MB) stay whole, which
        # measured faster for it than chunks of 128 (0.23-0.27 vs 0.36-0.47 s).
        chunk = model.inference_chunk(config.num_steps, limit=size) if spiking else size
        for offset in range(0, inputs.shape[1], chunk):
            part = batch_slice(inputs, offset, offset + chunk)
            scores, layers = model.scores_and_spikes(part) if spiking else (model(part), [])
            for total, spikes in zip(totals, layers):
                total += neuron_totals(spikes)
            counts.append(scores.cpu())
        if on_batch is not None:
            on_batch(min(first + size, len(split.labels)), len(split.labels))
    counts_all = torch.cat(counts) if counts else torch.zeros(0, model.sizes[-1] if spiking else 0)
    samples_steps = max(1, len(split.labels) * config.num_steps)
    rates = [firing_rate(total, len(split.labels), config.num_steps) for total in totals]
    silent = [silent_fraction(total) for total in totals]
    return Evaluation(accuracy(counts_all, split.labels), rates, [1.0 - rate for rate in rates], silent,
                      counts_all, time.perf_counter() - start, [total / samples_steps for total in totals],
                      input_total / (samples_steps * math.prod(model_input_shape(model))))
