"""One training run of ``spikekit train`` into a run directory: model, optimiser, schedule and position,
checkpointed at the end of every epoch, every ``--checkpoint-every`` batches (default: about once a minute)
and on SIGINT/SIGTERM, and resumable bit for bit (``spikekit.train.state``).
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from spikekit.cli.common import image_progress, load_data
from spikekit.cli.report import write_report
from spikekit.config import RunConfig
from spikekit.data.mnist import Split
from spikekit.errors import CheckpointError, ConfigError
from spikekit.io.checkpoint import Checkpoint
from spikekit.io.run_dir import RunDir
from spikekit.memory import check_fits
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
    train_epoch,
    warm_up,
)
from spikekit.train.state import TrainingState
from spikekit.train.summary import best_record, selection_key


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


def train_run(config: RunConfig, path: Path | str, *, resume: bool, checkpoint_every: tuple[str, float],
              shard: Shard, force: bool = False, report: bool = False) -> int:
    """Train ``config`` into the run directory ``path``; returns 0, or 128 + the signal number when SIGINT or
    SIGTERM stopped it (a checkpoint of that instant saved).

    A new directory is created atomically (``force`` replaces an existing one); with ``resume`` the existing
    one continues from its newest valid checkpoint. ``report``: write RUN_DIR/report at the end.
    """
    data = load_data(config.data_dir, config.train, config.dataset)
    classes = 1 + max((int(split.labels.max()) for split in (data.train, data.test) if len(split.labels)), default=0)
    if classes > config.model.outputs:
        raise ConfigError(f"the {config.dataset} data has {classes} classes but the network's last layer has "
                          f"{config.model.outputs} neurons; end --arch with -{classes}")
    try:
        train, val = data.train.hold_out(config.train.val)
    except ValueError as error:
        raise ConfigError(f"--val: {error}") from None
    check_fits(build_model(config), config.train)  # before a run directory or a batch exists
    if resume:
        run_dir = RunDir.existing(path)
    else:
        if shard.is_main:
            RunDir.create(path, config.to_dict(), force)
        shard.any(False)  # every rank waits until rank 0 has made the directory
        run_dir = RunDir(path)
    say = print if shard.is_main else quiet
    say(f"data: {len(train.labels)} train / " + (f"{len(val.labels)} validation / " if config.train.val else "")
        + f"{len(data.test.labels)} test images from {data.source}")
    if shard.world_size > 1:
        say(f"data-parallel: {shard.world_size} processes, global batch {config.train.batch_size}")
    session = _Session(config, run_dir, train, val if config.train.val else None, data.test, checkpoint_every,
                       shard)
    if resume:
        session.restore()
    with StopOnSignals() as stop:
        session.stop = stop
        code = session.train()
    if code == 0 and report and shard.is_main:
        write_report(run_dir.path, data_dir=config.data_dir, limit_test=config.train.limit_test)
    return code


def quiet(*args, **kwargs) -> None:
    """``print`` for ranks other than 0."""


class StopOnSignals:
    """Turn SIGINT/SIGTERM into a request the loop honours at the next batch (after saving a checkpoint)."""

    def __enter__(self) -> StopOnSignals:
        self.signal: int | None = None
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


class _Session:
    """One run of ``spikekit train``: the model, optimiser, schedule and position, saved to ``run_dir``."""

    def __init__(self, config: RunConfig, run_dir: RunDir, train: Split, val: Split | None, test: Split,
                 checkpoint_every: tuple[str, float], shard: Shard) -> None:
        self.config, self.run_dir, self.checkpoint_every = config, run_dir, checkpoint_every
        self.train_split, self.val, self.test = train, val, test
        self.shard = shard
        self.say = print if shard.is_main else quiet
        self.model = build_model(config)
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
        self.say(f"run directory: {self.run_dir.path}")
        if self.state.progress.epoch < epochs:
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
            self.say(f"{signal.Signals(number).name}: stopped at epoch {progress.epoch + 1}, batch {progress.batch}; "
                     f"checkpoint saved. Continue with: spikekit train --resume {self.run_dir.path}", file=sys.stderr)
            return 128 + number
        best = best_line(self.state.history, selection_key(self.config.train))
        self.say(f"{best}; checkpoints in {self.run_dir.checkpoints}")
        return 0

    def _train_epoch(self) -> None:
        train = self.config.train
        progress = self.state.progress
        with tqdm(total=self.batches_per_epoch, initial=progress.batch,
                  desc=f"epoch {progress.epoch + 1}/{train.epochs}", unit="batch", file=sys.stderr, leave=False,
                  dynamic_ncols=True, disable=None if self.shard.is_main else True, mininterval=0.5) as bar:
            def on_batch(progress: EpochProgress) -> None:
                self.scheduler.step()
                bar.update(1)
                bar.set_postfix(loss=f"{progress.loss:.3f}", acc=f"{progress.accuracy:.3f}",
                                rate=f"{progress.seen / max(progress.seconds, 1e-9):.0f}/s", refresh=False)
                if self._checkpoint_due(progress.batch):
                    self._save()
                self._maybe_stop()
            train_epoch(self.trainable, self.optimizer, self.train_split, train, progress, on_batch, self.shard)

    def _end_epoch(self) -> None:
        if not self.shard.is_main:  # rank 0 alone evaluates and records; the others wait for it
            self.state.progress = EpochProgress(self.state.progress.epoch + 1)
            return
        test_config = self.config.train.for_evaluation()  # the test passes' T (--eval-steps)
        with image_progress(len(self.test.labels), "test") as on_batch:
            evaluation = evaluate(self.model, self.test, test_config, on_batch)
        record = epoch_record(self.state.progress, evaluation)
        if self.val is not None:
            with image_progress(len(self.val.labels), "validation") as on_batch:
                record["val_accuracy"] = evaluate(self.model, self.val, test_config, on_batch, "val").accuracy
        key = selection_key(self.config.train)  # a "best" only on validation, never on the test set
        best = key is not None and record[key] > self.state.best_accuracy
        if best:
            self.state.best_accuracy = record[key]
        self.state.history.append(record)
        self.state.progress = EpochProgress(self.state.progress.epoch + 1)
        self._save(final=True, best=best)
        self.run_dir.write_metrics(self.state.history)
        print(f"epoch {record['epoch']}/{self.config.train.epochs}: loss {record['train_loss']:.4f}  "
              f"train {100 * record['train_accuracy']:.2f}%  "
              + (f"val {100 * record['val_accuracy']:.2f}%  " if "val_accuracy" in record else "")
              + f"test {100 * record['test_accuracy']:.2f}%  "
              f"firing {', '.join(f'{r:.3f}' for r in record['firing_rate'])}  "
              f"{record['seconds']:.1f}s ({record['samples_per_second']:.0f} samples/s)")

    def _checkpoint_due(self, batch: int) -> bool:
        kind, every = self.checkpoint_every
        if kind == "batches":
            return batch % every == 0
        return time.monotonic() - self._last_save >= every

    def _save(self, *, final: bool = False, best: bool = False) -> None:
        if not self.shard.is_main:
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


def checkpoint_every_option(value: int | None) -> tuple[str, float]:
    """("batches", N) for --checkpoint-every N, else ("seconds", 60): about once a minute of work."""
    if value is None:
        return ("seconds", 60.0)
    if value < 1:
        raise ConfigError(f"--checkpoint-every must be an integer >= 1 (batches), got {value}")
    return ("batches", value)
