"""``spikekit train``: train the SNN into a run directory (``spikekit.io.run_dir``), resumable bit for bit.

Checkpoints are written at the end of every epoch, every ``--checkpoint-every`` batches (default: about
once a minute) and on SIGINT/SIGTERM; ``--resume RUN_DIR`` continues from the newest one that loads.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from spikekit.cli.common import add_data_options, check_device, image_progress, load_data
from spikekit.cli.report import write_report
from spikekit.config import ModelConfig, RunConfig, TrainConfig
from spikekit.dynamics.surrogate import SURROGATES
from spikekit.errors import CheckpointError, ConfigError
from spikekit.io.checkpoint import Checkpoint
from spikekit.io.run_dir import RunDir
from spikekit.kernels import ENGINES
from spikekit.nn.spec import PRESETS
from spikekit.train.distributed import Shard, leave, shard_from_environment
from spikekit.train.loop import (
    EpochProgress,
    Evaluation,
    build_model,
    build_optimizer,
    evaluate,
    num_batches,
    train_epoch,
)
from spikekit.train.state import TrainingState


def register(commands: argparse._SubParsersAction) -> None:
    defaults_model, defaults_train = ModelConfig(), TrainConfig()
    parser = commands.add_parser("train", help="train the network on MNIST")
    parser.add_argument("--epochs", type=int, help=f"default {defaults_train.epochs}, or the --arch preset's")
    parser.add_argument("-T", "--num-steps", type=int,
                        help=f"time steps per image (default {defaults_train.num_steps}, or the --arch preset's)")
    parser.add_argument("--arch", metavar="SPEC", help=f"layers (default {defaults_model.arch}, the seed "
                        f"network), e.g. 12c5-p2-32c5-p2-10; or a preset: {', '.join(PRESETS)} (spikekit.nn.spec)")
    parser.add_argument("--hidden", type=int, nargs="+", help="hidden widths of a fully connected network "
                        "(--hidden 128 is --arch 128-10)")
    parser.add_argument("--batch-size", type=int, default=defaults_train.batch_size)
    parser.add_argument("--lr", type=float, help=f"Adam learning rate (default {defaults_train.lr}, or the preset's)")
    parser.add_argument("--tau", type=float, default=defaults_model.tau, help="membrane time constant, in steps")
    parser.add_argument("--threshold", type=float, default=defaults_model.threshold)
    parser.add_argument("--reset", type=float, default=defaults_model.reset)
    parser.add_argument("--surrogate", default=defaults_model.surrogate, help=f"one of {', '.join(SURROGATES)}")
    parser.add_argument("--slope", type=float, default=defaults_model.slope,
                        help="surrogate sharpness (fast_sigmoid: 1/(1+slope*|V-threshold|)^2)")
    parser.add_argument("--seed", type=int, default=defaults_train.seed)
    parser.add_argument("--engine", default=defaults_train.engine, help=f"one of {', '.join(ENGINES)}")
    parser.add_argument("--device", default=defaults_train.device, help="cpu or cuda")
    parser.add_argument("--limit-train", type=int, metavar="N", help="use only the first N training images")
    add_data_options(parser)
    parser.add_argument("--out", metavar="RUN_DIR", help="run directory (default: runs/<date-time>)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing run directory")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its newest valid "
                        "checkpoint (its own config is used; other training options are ignored)")
    parser.add_argument("--report", action="store_true", help="write RUN_DIR/report/index.html at the end")
    parser.add_argument("--checkpoint-every", type=int, metavar="N",
                        help="also checkpoint every N batches (default: about once a minute)")
    parser.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The run's config: ``--arch`` (a spec or a preset, whose T, epochs and lr fill the options not given)
    or ``--hidden``, then the other options."""
    if args.arch is not None and args.hidden is not None:
        raise ConfigError("give the layers with --arch or with --hidden, not both")
    arch = args.arch if args.arch is not None else ModelConfig.arch
    if args.hidden is not None:
        if any(width < 1 for width in args.hidden):
            raise ConfigError(f"layer sizes must be positive integers, got --hidden {' '.join(map(str, args.hidden))}")
        arch = "-".join(map(str, [*args.hidden, ModelConfig().outputs]))
    preset = PRESETS.get(arch)
    defaults = TrainConfig() if preset is None else preset
    def chosen(value, name: str):
        return getattr(defaults, name) if value is None else value
    model = ModelConfig(arch=arch, tau=args.tau, threshold=args.threshold, reset=args.reset,
                        surrogate=args.surrogate, slope=args.slope)
    train = TrainConfig(epochs=chosen(args.epochs, "epochs"), num_steps=chosen(args.num_steps, "num_steps"),
                        batch_size=args.batch_size, lr=chosen(args.lr, "lr"), seed=args.seed, engine=args.engine,
                        device=args.device, limit_train=args.limit_train, limit_test=args.limit_test)
    return RunConfig(model, train, args.data_dir)


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


def run(args: argparse.Namespace) -> int:
    if args.resume and (args.out or args.force):
        raise ConfigError("--resume continues the run in its own directory; do not combine it with --out/--force")
    if args.resume:
        run_dir = RunDir.existing(args.resume)
        config = RunConfig.from_dict(run_dir.read_config())
    else:
        config = config_from_args(args)
        out = args.out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
        RunDir.check_new(out, args.force)
        run_dir = None
    check_device(config.train.device)
    checkpoint_every = _checkpoint_every(args.checkpoint_every)
    shard = shard_from_environment(config.train.device)
    try:
        code = _train(args, config, run_dir, out if run_dir is None else None, checkpoint_every, shard)
        # No rank may tear the process group down while another still works (rank 0 evaluates the
        # last epoch alone).
        shard.any(False)
        return code
    finally:
        leave()  # _train has returned, so its DistributedDataParallel wrapper is out of scope (see leave)


def _train(args: argparse.Namespace, config: RunConfig, run_dir: RunDir | None, out: Path | str | None,
           checkpoint_every: tuple[str, float], shard: Shard) -> int:
    data = load_data(config.data_dir, config.train)
    if run_dir is None:
        if shard.is_main:
            RunDir.create(out, args.force).write_config(config.to_dict())
        shard.any(False)  # every rank waits until rank 0 has made the directory
        run_dir = RunDir(out)
    say = print if shard.is_main else _quiet
    say(f"data: {len(data.train.labels)} train / {len(data.test.labels)} test images from {data.source}")
    if shard.world_size > 1:
        say(f"data-parallel: {shard.world_size} processes, global batch {config.train.batch_size}")
    session = _Session(config, run_dir, data, checkpoint_every, shard)
    if args.resume:
        session.restore()
    with _StopOnSignals() as stop:
        session.stop = stop
        code = session.train()
    if code == 0 and args.report and shard.is_main:
        write_report(run_dir.path, data_dir=config.data_dir, limit_test=config.train.limit_test)
    return code


def _quiet(*args, **kwargs) -> None:
    """``print`` for ranks other than 0."""


class _StopOnSignals:
    """Turn SIGINT/SIGTERM into a request the loop honours at the next batch (after saving a checkpoint)."""

    def __enter__(self) -> _StopOnSignals:
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

    def __init__(self, config: RunConfig, run_dir: RunDir, data, checkpoint_every: tuple[str, float],
                 shard: Shard) -> None:
        self.config, self.run_dir, self.data, self.checkpoint_every = config, run_dir, data, checkpoint_every
        self.shard = shard
        self.say = print if shard.is_main else _quiet
        self.model = build_model(config)
        self.optimizer = build_optimizer(self.model, config.train)
        self.batches_per_epoch = num_batches(len(data.train.labels), config.train.batch_size, shard.world_size)
        self.scheduler = _cosine(self.optimizer, config.train, self.batches_per_epoch)
        self.state = TrainingState(EpochProgress(0))
        self.stop: _StopOnSignals | None = None
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
            self.optimizer.load_state_dict(checkpoint.optimizer)
            self.scheduler.load_state_dict(self.state.scheduler)
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
        self.say(f"best test accuracy {100 * self.state.best_accuracy:.2f}%; checkpoints in {self.run_dir.checkpoints}")
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
            train_epoch(self.trainable, self.optimizer, self.data.train, train, progress, on_batch, self.shard)

    def _end_epoch(self) -> None:
        if not self.shard.is_main:  # rank 0 alone evaluates and records; the others wait for it
            self.state.progress = EpochProgress(self.state.progress.epoch + 1)
            return
        with image_progress(len(self.data.test.labels), "test") as on_batch:
            evaluation = evaluate(self.model, self.data.test, self.config.train, on_batch)
        record = epoch_record(self.state.progress, evaluation)
        best = evaluation.accuracy > self.state.best_accuracy
        self.state.history.append(record)
        self.state.best_accuracy = max(self.state.best_accuracy, evaluation.accuracy)
        self.state.progress = EpochProgress(self.state.progress.epoch + 1)
        self._save(best)
        self.run_dir.write_metrics(self.state.history)
        print(f"epoch {record['epoch']}/{self.config.train.epochs}: loss {record['train_loss']:.4f}  "
              f"train {100 * record['train_accuracy']:.2f}%  test {100 * record['test_accuracy']:.2f}%  "
              f"firing {', '.join(f'{r:.3f}' for r in record['firing_rate'])}  "
              f"{record['seconds']:.1f}s ({record['samples_per_second']:.0f} samples/s)")

    def _checkpoint_due(self, batch: int) -> bool:
        kind, every = self.checkpoint_every
        if kind == "batches":
            return batch % every == 0
        return time.monotonic() - self._last_save >= every

    def _save(self, best: bool = False) -> None:
        if not self.shard.is_main:
            return
        self.state.scheduler = self.scheduler.state_dict()
        history = self.state.history
        meta = {"config": self.config.to_dict(), "epoch": len(history),
                "test_accuracy": history[-1]["test_accuracy"] if history else None, "state": self.state.to_meta()}
        self.run_dir.save(Checkpoint(self.model.state_dict(), self.optimizer.state_dict(), meta), best)
        self._last_save = time.monotonic()

    def _maybe_stop(self) -> None:
        if self.shard.any(self.stop is not None and self.stop.signal is not None):  # all ranks stop together
            self._save()
            raise _Stopped


def _checkpoint_every(value: int | None) -> tuple[str, float]:
    """("batches", N) for --checkpoint-every N, else ("seconds", 60): about once a minute of work."""
    if value is None:
        return ("seconds", 60.0)
    if value < 1:
        raise ConfigError(f"--checkpoint-every must be an integer >= 1 (batches), got {value}")
    return ("batches", value)


def _cosine(optimizer: torch.optim.Optimizer, config: TrainConfig, batches_per_epoch: int):
    # Cosine decay to 0 over the whole run, stepped per batch: measured +0.3-0.5 points over a constant lr.
    total = config.epochs * batches_per_epoch
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
