"""``fit``: a whole training run, as ``spikekit train`` does it; the CLI only drives it.

One run: load the data of ``config`` (limits, validation split), build the model and Adam, plan the lr
schedule over every batch of the run, then per epoch train (``train_epoch``), evaluate on the test set (and
on validation with ``config.train.val``) and record the metrics. With a run directory it also checkpoints
at the end of every epoch, every ``checkpoint_every`` batches (default: about once a minute) and on
SIGINT/SIGTERM, and ``resume=True`` continues from the newest valid checkpoint bit for bit
(``spikekit.train.state``, ``spikekit.io.run_dir``). What the run prints goes through ``log`` (``print`` by
default; ``None`` is silent), and ``callbacks`` see every batch and epoch (progress bars, early stopping).

Example (the default network, one epoch on 6,000 images, into ``runs/quick``)::

    import spikekit as sk
    config = sk.RunConfig(train=sk.TrainConfig(epochs=1, limit_train=6000))
    result = sk.fit(config, "runs/quick")          # result.history[-1]["test_accuracy"]
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from torch.nn.parallel import DistributedDataParallel

from spikekit.config import RunConfig
from spikekit.data.datasets import load_data
from spikekit.data.mnist import Split
from spikekit.errors import CheckpointError, ConfigError
from spikekit.io.checkpoint import Checkpoint
from spikekit.io.run_dir import RunDir
from spikekit.memory import check_fits
from spikekit.nn.calibrate import calibrate_firing
from spikekit.nn.network import SNN
from spikekit.schedule import build_scheduler
from spikekit.train.distributed import Shard
from spikekit.train.loop import (
    EpochProgress,
    Evaluation,
    build_model,
    build_optimizer,
    evaluate,
    load_optimizer_state,
    num_batches,
    optimizer_state,
    sample_inputs,
    train_epoch,
    warm_up,
)
from spikekit.train.state import TrainingState
from spikekit.train.summary import best_record, selection_key

CHECKPOINT_SECONDS = 60.0  # without checkpoint_every: a checkpoint after about a minute of work
Log = Callable[..., None]  # print's signature: log(text, file=sys.stderr) for warnings


class Callback:
    """Hooks ``fit`` calls; override those you need. ``trainer`` is the running ``Trainer`` (its ``model``,
    ``optimizer``, ``state.history``, ``config``)."""

    def on_epoch_start(self, trainer: Trainer, progress: EpochProgress) -> None:
        """Before the epoch's first batch (or the first batch left, after a resume)."""

    def on_batch(self, trainer: Trainer, progress: EpochProgress) -> None:
        """After each optimiser step; ``progress`` holds the epoch's running sums."""

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        """After an epoch's evaluation and checkpoint; ``record`` is its metrics.jsonl line."""

    def on_evaluate(self, trainer: Trainer, split: str, done: int, total: int) -> None:
        """Progress of a test (``split`` "test") or validation ("validation") pass, in samples."""


class FitResult(NamedTuple):
    model: torch.nn.Module
    history: list[dict]  # the metrics.jsonl records, one per finished epoch
    code: int  # 0, or 128 + the signal number when SIGINT/SIGTERM stopped the run (checkpoint saved)
    run_dir: RunDir | None


def fit(config: RunConfig, run_dir: str | Path | None = None, *, model: torch.nn.Module | None = None,
        data=None, resume: bool = False, force: bool = False, checkpoint_every: int | None = None,
        callbacks: Sequence[Callback] = (), shard: Shard = Shard(), log: Log | None = print) -> FitResult:
    """Train ``config`` as ``spikekit train`` does; returns the model, the per-epoch metrics and the exit code.

    Args:
        run_dir: where config.json, metrics.jsonl and checkpoints go (created atomically; ``force`` replaces an
            existing one); ``None`` trains in memory only (no checkpoints, nothing to resume).
        model: the network (default ``build_model(config)``): an ``SNN``, or a module of your own that maps the
            inputs to class scores ``[B, classes]`` (its test passes then report accuracy only, no firing rates).
        data: the dataset (default: ``load_data`` of ``config``: MNIST, S-MNIST, N-MNIST, SHD..., limits applied).
        resume: continue ``run_dir`` from its newest valid checkpoint.
        checkpoint_every: also checkpoint every N batches (default: about once a minute).
        shard: this process's place in a data-parallel job (``spikekit.train.distributed``).
    """
    say = log if log is not None and shard.is_main else quiet
    if data is None:
        data = load_data(config.data_dir, config.train, config.dataset)
    classes = 1 + max((int(split.labels.max()) for split in (data.train, data.test) if len(split.labels)), default=0)
    if model is None and classes > config.model.outputs:
        raise ConfigError(f"the {config.dataset} data has {classes} classes but the network's last layer has "
                          f"{config.model.outputs} neurons; end --arch with -{classes}")
    try:
        train, val = data.train.hold_out(config.train.val)
    except ValueError as error:
        raise ConfigError(f"--val: {error}") from None
    raised = None
    if model is None:
        model = build_model(config)
        check_fits(model, config.train)  # before a run directory or a batch exists
        raised = first_batch_calibration(model, train, config)
    directory = None
    if run_dir is not None:
        if resume:
            directory = RunDir.existing(run_dir, clean=shard.is_main)  # rank 0 alone writes checkpoints
        else:
            if shard.is_main:
                RunDir.create(run_dir, config.to_dict(), force)
            shard.any(False)  # every rank waits until rank 0 has made the directory
            directory = RunDir(run_dir)
    elif resume:
        raise ConfigError("resume=True needs the run_dir to continue")
    say(f"data: {len(train.labels)} train / " + (f"{len(val.labels)} validation / " if config.train.val else "")
        + f"{len(data.test.labels)} test images from {data.source}")
    if shard.world_size > 1:
        say(f"data-parallel: {shard.world_size} processes, global batch {config.train.batch_size}")
    if raised is not None and any(raised) and not resume:
        say("initial biases raised so that every layer fires on the first batch: "
            + ", ".join(f"layer {number} +{up:g}" for number, up in enumerate(raised, 1) if up)
            + " (in thresholds; --init-firing 0: off)")
    trainer = Trainer(config, model, directory, train, val if config.train.val else None, data.test,
                      checkpoint_every, shard, list(callbacks), say)
    if resume:
        trainer.restore()
    with StopOnSignals() as stop:
        trainer.stop = stop
        code = trainer.train()
    return FitResult(model, trainer.state.history, code, directory)


def first_batch_calibration(model: SNN, train: Split, config: RunConfig) -> list[float] | None:
    """``calibrate_firing`` of a freshly built ``model`` on the first ``batch_size`` training samples, their inputs
    drawn from a stream of their own (seed, "calibrate"), so every process of a run, and a run resumed before its
    first checkpoint, start from the same weights; None when ``config.model.init_firing`` is 0 or no data."""
    if config.model.init_firing == 0 or len(train.labels) == 0:
        return None
    index = torch.arange(min(config.train.batch_size, len(train.labels)))
    inputs = sample_inputs(train, index, config.train, model.input_shape, ("calibrate",))
    return calibrate_firing(model, inputs, config.model.init_firing)


def quiet(*args, **kwargs) -> None:
    """``print`` for ranks other than 0, and for ``log=None``."""


class StopOnSignals:
    """Turn SIGINT/SIGTERM into a request the loop honours at the next batch (after saving a checkpoint).
    Outside the main thread (where Python allows no handlers) it installs none and never asks to stop."""

    def __enter__(self) -> StopOnSignals:
        self.signal: int | None = None
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._handle) for number in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, number: int, frame) -> None:
        if self.signal is not None:  # a second Ctrl-C: the user insists
            raise KeyboardInterrupt
        self.signal = number

    def __exit__(self, *exc_info) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


class _Stopped(Exception):
    """Raised inside the batch loop once a checkpoint of the current position is on disk."""


def epoch_record(progress: EpochProgress, evaluation: Evaluation) -> dict:
    """The metrics.jsonl line of an epoch (epochs counted from 1)."""
    return {
        "epoch": progress.epoch + 1,
        "train_loss": progress.loss,
        "train_accuracy": progress.accuracy,
        "test_accuracy": evaluation.accuracy,
        "firing_rate": evaluation.firing_rate,
        "sparsity": {"zero_fraction": evaluation.zero_fraction, "silent_fraction": evaluation.silent_fraction},
        "seconds": progress.seconds,
        "samples_per_second": progress.seen / max(progress.seconds, 1e-9),
        "eval_seconds": evaluation.seconds,
    }


class Trainer:
    """One run: the model, optimiser, schedule and position, saved to ``run_dir`` (when there is one)."""

    def __init__(self, config: RunConfig, model: torch.nn.Module, run_dir: RunDir | None, train: Split,
                 val: Split | None, test: Split, checkpoint_every: int | None, shard: Shard,
                 callbacks: list[Callback], say: Log) -> None:
        self.config, self.run_dir, self.checkpoint_every = config, run_dir, checkpoint_every
        self.train_split, self.val, self.test = train, val, test
        self.shard, self.callbacks, self.say = shard, callbacks, say
        self.model = model
        self.optimizer = build_optimizer(self.model, config.train)
        self.batches_per_epoch = num_batches(len(train.labels), config.train.batch_size, shard.world_size)
        self.scheduler = build_scheduler(self.optimizer, config.train.epochs * self.batches_per_epoch,
                                         config.train.schedule, config.train.warmup)
        self.state = TrainingState(EpochProgress(0))
        self.stop: StopOnSignals | None = None
        self._last_save = time.monotonic()

    def restore(self) -> None:
        checkpoint, skipped = self.run_dir.latest()
        for reason in skipped:
            self.say(f"warning: skipped {reason}", file=sys.stderr)
        if checkpoint is None:
            self.say(f"{self.run_dir.path} holds no checkpoint yet; starting from the beginning", file=sys.stderr)
            return
        self.state = TrainingState.from_meta(checkpoint.meta.get("state", {}))
        try:
            self.model.load_state_dict(checkpoint.model)
            load_optimizer_state(self.model, self.optimizer, checkpoint.optimizer)
            self.scheduler.load_state_dict(self.state.scheduler)
            # The lr of the next step, from the schedule of this config: the optimizer's saved lr already is
            # that value, except after --epochs extended the run (a finished wsd run had decayed to 0).
            step = self.scheduler.last_epoch
            for group, base, factor in zip(self.optimizer.param_groups, self.scheduler.base_lrs,
                                           self.scheduler.lr_lambdas):
                group["lr"] = base * factor(step)
        except (RuntimeError, ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f"checkpoint in {self.run_dir.checkpoints} does not fit the run's config "
                                  f"({error})") from None
        if self.shard.is_main:
            self.run_dir.write_metrics(self.state.history)
        progress = self.state.progress
        if progress.epoch >= self.config.train.epochs:
            self.say(f"{self.run_dir.path} already finished its {self.config.train.epochs} epochs; nothing to resume")
        else:
            self.say(f"resuming {self.run_dir.path} at epoch {progress.epoch + 1}, batch {progress.batch}")

    def train(self) -> int:
        epochs = self.config.train.epochs
        if self.run_dir is not None:
            self.say(f"run directory: {self.run_dir.path}")
        if self.state.progress.epoch < epochs and isinstance(self.model, SNN):
            seconds = warm_up(self.model, self.train_split, self.config.train)  # the unwrapped model: no collectives
            self.say(f"engine kernels loaded in {seconds:.1f}s")
        # Wrapped only now, after a resume has loaded the weights every rank then holds alike.
        self.trainable = self.model if self.shard.world_size == 1 else DistributedDataParallel(self.model)
        try:
            for epoch in range(self.state.progress.epoch, epochs):
                if self.state.progress.epoch != epoch:
                    self.state.progress = EpochProgress(epoch)
                self._train_epoch()
                self._end_epoch()
                self._maybe_stop()
        except _Stopped:
            progress = self.state.progress
            number = self.stop.signal or signal.SIGTERM  # a rank the signal did not reach stops with the rest
            where = (f"checkpoint saved. Continue with: spikekit train --resume {self.run_dir.path}"
                     if self.run_dir is not None else "no run directory, so nothing was saved")
            self.say(f"{signal.Signals(number).name}: stopped at epoch {progress.epoch + 1}, batch {progress.batch}; "
                     f"{where}", file=sys.stderr)
            return 128 + number
        checkpoints = f"; checkpoints in {self.run_dir.checkpoints}" if self.run_dir is not None else ""
        self.say(best_line(self.state.history, selection_key(self.config.train)) + checkpoints)
        return 0

    def _train_epoch(self) -> None:
        progress = self.state.progress
        for callback in self.callbacks:
            callback.on_epoch_start(self, progress)

        def on_batch(progress: EpochProgress) -> None:
            self.scheduler.step()
            for callback in self.callbacks:
                callback.on_batch(self, progress)
            if self._checkpoint_due(progress.batch):
                self._save()
            self._maybe_stop()
        train_epoch(self.trainable, self.optimizer, self.train_split, self.config.train, progress, on_batch,
                    self.shard)

    def _evaluate(self, split: Split, name: str) -> Evaluation:
        def on_batch(done: int, total: int) -> None:
            for callback in self.callbacks:
                callback.on_evaluate(self, name, done, total)
        test_config = self.config.train.for_evaluation()  # the test passes' T (--eval-steps)
        return evaluate(self.model, split, test_config, on_batch, "val" if name == "validation" else "test")

    def _end_epoch(self) -> None:
        if not self.shard.is_main:  # rank 0 alone evaluates and records; the others wait for it
            self.state.progress = EpochProgress(self.state.progress.epoch + 1)
            return
        record = epoch_record(self.state.progress, self._evaluate(self.test, "test"))
        if self.val is not None:
            record["val_accuracy"] = self._evaluate(self.val, "validation").accuracy
        key = selection_key(self.config.train)  # a "best" only on validation, never on the test set
        best = key is not None and record[key] > self.state.best_accuracy
        if best:
            self.state.best_accuracy = record[key]
        self.state.history.append(record)
        self.state.progress = EpochProgress(self.state.progress.epoch + 1)
        self._save(final=True, best=best)
        if self.run_dir is not None:
            self.run_dir.write_metrics(self.state.history)
        rates = ", ".join(f"{r:.3f}" for r in record["firing_rate"]) or "-"
        self.say(f"epoch {record['epoch']}/{self.config.train.epochs}: loss {record['train_loss']:.4f}  "
                 f"train {100 * record['train_accuracy']:.2f}%  "
                 + (f"val {100 * record['val_accuracy']:.2f}%  " if "val_accuracy" in record else "")
                 + f"test {100 * record['test_accuracy']:.2f}%  firing {rates}  "
                 f"{record['seconds']:.1f}s ({record['samples_per_second']:.0f} samples/s)")
        for callback in self.callbacks:
            callback.on_epoch_end(self, record)

    def _checkpoint_due(self, batch: int) -> bool:
        if self.checkpoint_every is not None:
            return batch % self.checkpoint_every == 0
        return time.monotonic() - self._last_save >= CHECKPOINT_SECONDS

    def _save(self, *, final: bool = False, best: bool = False) -> None:
        if not self.shard.is_main or self.run_dir is None:
            return
        self.state.scheduler = self.scheduler.state_dict()
        history = self.state.history
        meta = {"config": self.config.to_dict(), "epoch": len(history),
                "test_accuracy": history[-1]["test_accuracy"] if history else None, "state": self.state.to_meta()}
        self.run_dir.save(Checkpoint(self.model.state_dict(), optimizer_state(self.model, self.optimizer), meta),
                          final=final, best=best)
        self._last_save = time.monotonic()

    def _maybe_stop(self) -> None:
        if self.shard.any(self.stop is not None and self.stop.signal is not None):  # all ranks stop together
            self._save()
            raise _Stopped


def best_line(history: list[dict], key: str | None) -> str:
    """The run's result in words: its final test accuracy, or (``key``: with a validation split) the epoch
    best on validation with the test accuracy there."""
    if not history:
        return "no epoch finished"
    if key is None:
        return f"final test accuracy {100 * history[-1]['test_accuracy']:.2f}% (epoch {history[-1]['epoch']})"
    best = best_record(history, key)
    return (f"best validation accuracy {100 * best[key]:.2f}% at epoch {best['epoch']}: "
            f"test {100 * best['test_accuracy']:.2f}% there")
