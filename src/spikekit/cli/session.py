"""One training run of ``spikekit train``: ``spikekit.train.fit`` into a run directory, with progress bars on a
terminal and the report at the end (``--report``). Checkpointing, resume and signals are the trainer's.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from spikekit.cli.report import write_report
from spikekit.config import RunConfig
from spikekit.errors import ConfigError
from spikekit.train.distributed import Shard
from spikekit.train.loop import EpochProgress
from spikekit.train.trainer import Callback, StopOnSignals, Trainer, best_line, epoch_record, fit, quiet

__all__ = ["ProgressBars", "StopOnSignals", "best_line", "checkpoint_every_option", "epoch_record", "quiet",
           "train_run"]


def train_run(config: RunConfig, path: Path | str, *, resume: bool, checkpoint_every: int | None,
              shard: Shard, force: bool = False, report: bool = False) -> int:
    """Train ``config`` into the run directory ``path``; returns 0, or 128 + the signal number when SIGINT or
    SIGTERM stopped it (a checkpoint of that instant saved).

    A new directory is created atomically (``force`` replaces an existing one); with ``resume`` the existing
    one continues from its newest valid checkpoint. ``report``: write RUN_DIR/report at the end.
    """
    result = fit(config, path, resume=resume, force=force, checkpoint_every=checkpoint_every, shard=shard,
                 callbacks=[ProgressBars()] if shard.is_main else [])
    if result.code == 0 and report and shard.is_main:
        write_report(result.run_dir.path, data_dir=config.data_dir, limit_test=config.train.limit_test)
    return result.code


class ProgressBars(Callback):
    """tqdm bars on stderr (hidden when it is not a terminal): per epoch (loss, accuracy, samples/s) and per
    test or validation pass (images)."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None
        self.split: str | None = None  # the pass the bar counts (a disabled tqdm keeps no desc to ask)

    def on_epoch_start(self, trainer: Trainer, progress: EpochProgress) -> None:
        self.bar = tqdm(total=trainer.batches_per_epoch, initial=progress.batch,
                        desc=f"epoch {progress.epoch + 1}/{trainer.config.train.epochs}", unit="batch",
                        file=sys.stderr, leave=False, dynamic_ncols=True, disable=None, mininterval=0.5)

    def on_batch(self, trainer: Trainer, progress: EpochProgress) -> None:
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{progress.loss:.3f}", acc=f"{progress.accuracy:.3f}",
                             rate=f"{progress.seen / max(progress.seconds, 1e-9):.0f}/s", refresh=False)

    def on_evaluate(self, trainer: Trainer, split: str, done: int, total: int) -> None:
        if self.bar is None or self.split != split:
            self._close()
            self.split = split
            self.bar = tqdm(total=total, desc=split, unit="img", file=sys.stderr, leave=False, dynamic_ncols=True,
                            disable=None)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self._close()

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar = self.split = None


def checkpoint_every_option(value: int | None) -> int | None:
    """--checkpoint-every N (batches), checked; None: about once a minute of work (the trainer's default)."""
    if value is not None and value < 1:
        raise ConfigError(f"--checkpoint-every must be an integer >= 1 (batches), got {value}")
    return value
