"""A training run's directory: config, metrics and a rotation of checkpoints that always keeps one valid.

Layout:
    config.json                          the RunConfig of the run
    metrics.jsonl                        one JSON object per finished epoch, rewritten atomically
    checkpoints/last.safetensors         the newest checkpoint (end of epoch, periodic, or on a signal)
    checkpoints/previous.safetensors     the one before it, kept so a damaged ``last`` costs little work
    checkpoints/final.safetensors        the checkpoint at the end of the newest finished epoch
    checkpoints/best.safetensors         with a validation split only: the end-of-epoch checkpoint best on it
                                         (never chosen on the test set: that would be model selection on test)

Every file is replaced by rename, never rewritten in place, so a crash at any instant leaves either the
old or the new version. ``last`` is rotated to ``previous`` only when it loads, so a damaged ``last``
never pushes out the valid ``previous``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from spikekit.errors import CheckpointError, ConfigError
from spikekit.io.atomic import create_directory, write_atomic
from spikekit.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

CHECKPOINT_NAMES = ("last", "previous")  # searched in this order by ``latest``


class RunDir:
    """Files of one run under ``path`` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.config_path = self.path / "config.json"
        self.metrics_path = self.path / "metrics.jsonl"
        self.checkpoints = self.path / "checkpoints"

    def checkpoint_path(self, name: str) -> Path:
        return self.checkpoints / f"{name}.safetensors"

    @classmethod
    def check_new(cls, path: str | os.PathLike, force: bool = False) -> None:
        """Raise ``ConfigError`` unless ``create(path, force)`` may proceed (checked before slow work)."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ConfigError(f"--out {path} exists and is not a directory")
        if path.is_dir() and any(path.iterdir()) and not force:
            raise ConfigError(f"run directory {path} already exists; pass --resume to continue it "
                              "or --force to overwrite it")

    @classmethod
    def create(cls, path: str | os.PathLike, config: dict[str, Any], force: bool = False) -> RunDir:
        """A new run directory holding ``config`` (as config.json) and an empty ``checkpoints/``.

        Refuses an existing non-empty directory unless ``force`` (which replaces it). Atomic
        (``spikekit.io.atomic.create_directory``): a kill at any instant leaves no run directory without
        its config.
        """
        cls.check_new(path, force)
        def populate(staging: Path) -> None:
            (staging / "checkpoints").mkdir()
            cls(staging).write_config(config)
        create_directory(path, populate)
        return cls(path)

    @classmethod
    def existing(cls, path: str | os.PathLike, *, clean: bool = False) -> RunDir:
        """An existing run directory (for ``--resume``). With ``clean``, removes the temporaries a killed writer
        left in ``checkpoints/``: only the one process that writes checkpoints may (rank 0 of a torchrun job,
        before it writes any), as another process's clean-up would delete the temporary of a save in flight."""
        run = cls(path)
        if not run.config_path.is_file():
            raise ConfigError(f"{run.path} is not a spikekit run directory (no config.json); "
                              "start a new run with --out instead of --resume")
        run.checkpoints.mkdir(exist_ok=True)
        if clean:
            for stale in run.checkpoints.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
        return run

    def read_config(self) -> dict[str, Any]:
        try:
            return json.loads(self.config_path.read_text())
        except (OSError, ValueError) as error:
            raise ConfigError(f"{self.config_path}: unreadable ({error})") from None

    def write_config(self, config: dict[str, Any]) -> None:
        _write_text_atomic(self.config_path, json.dumps(config, indent=2) + "\n")

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """Replace metrics.jsonl with ``history`` (rewritten whole, so a resumed run never repeats a line)."""
        _write_text_atomic(self.metrics_path, "".join(json.dumps(record) + "\n" for record in history))

    def read_metrics(self) -> list[dict[str, Any]]:
        """The records of metrics.jsonl ([] when there is none yet)."""
        if not self.metrics_path.is_file():
            return []
        try:
            return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line]
        except (OSError, ValueError) as error:
            raise ConfigError(f"{self.metrics_path}: unreadable ({error})") from None

    def save(self, checkpoint: Checkpoint, *, final: bool = False, best: bool = False) -> None:
        """Make ``checkpoint`` the new ``last`` (rotating a loadable ``last`` to ``previous``); also ``final``
        (an epoch's end) and ``best`` (best on validation so far)."""
        last = self.checkpoint_path("last")
        keep = self.checkpoint_path("previous") if last.exists() and _loads(last) else None
        save_checkpoint(last, checkpoint, keep_previous=keep)
        for name, wanted in (("final", final), ("best", best)):
            if wanted:
                save_checkpoint(self.checkpoint_path(name), checkpoint)

    def model_checkpoint(self) -> Path:
        """The checkpoint to show or evaluate by default: ``best`` (chosen on validation) where the run has
        one, else ``final``; ``ConfigError`` when the run has finished no epoch yet."""
        for name in ("best", "final"):
            if self.checkpoint_path(name).is_file():
                return self.checkpoint_path(name)
        raise ConfigError(f"{self.path} has finished no epoch yet (no {self.checkpoints}/final.safetensors)")

    def latest(self) -> tuple[Checkpoint | None, list[str]]:
        """The newest checkpoint that loads (``last``, else ``previous``) and the reasons others were skipped."""
        skipped = []
        for name in CHECKPOINT_NAMES:
            path = self.checkpoint_path(name)
            if not path.exists():
                continue
            try:
                return load_checkpoint(path), skipped
            except CheckpointError as error:
                skipped.append(str(error))
        return None, skipped


class SeedRuns:
    """A multi-seed run (``spikekit train --seeds``): one recipe trained from several seeds.

    Layout:
        seeds.json      {"seeds": [...], "config": the RunConfig shared by all (its seed is the first's)}
        seed-<n>/       a ``RunDir`` per seed, its config that of seeds.json with seed n
        summary.json    ``spikekit.train.summary.seed_summary`` of the seeds finished so far
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.plan_path = self.path / "seeds.json"
        self.summary_path = self.path / "summary.json"

    @classmethod
    def holds(cls, path: str | os.PathLike) -> bool:
        """Whether ``path`` is a multi-seed run directory."""
        return cls(path).plan_path.is_file()

    @classmethod
    def create(cls, path: str | os.PathLike, seeds: list[int], config: dict[str, Any], force: bool = False) -> SeedRuns:
        """A new multi-seed directory holding its plan (atomically, as ``RunDir.create``); no seed started."""
        RunDir.check_new(path, force)
        create_directory(path, lambda staging: cls(staging).write_plan(seeds, config))
        return cls(path)

    def write_plan(self, seeds: list[int], config: dict[str, Any]) -> None:
        """(Re)write seeds.json atomically."""
        _write_text_atomic(self.plan_path, json.dumps({"seeds": seeds, "config": config}, indent=2) + "\n")

    def read_plan(self) -> tuple[list[int], dict[str, Any]]:
        """(seeds, shared config dict); ``ConfigError`` if seeds.json is unreadable or malformed."""
        try:
            plan = json.loads(self.plan_path.read_text())
            seeds, config = [int(seed) for seed in plan["seeds"]], dict(plan["config"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ConfigError(f"{self.plan_path}: unreadable ({error})") from None
        return seeds, config

    def run(self, seed: int) -> RunDir:
        """The run directory of ``seed`` (which may not exist yet)."""
        return RunDir(self.path / f"seed-{seed}")

    def histories(self, seeds: list[int]) -> dict[int, list[dict[str, Any]]]:
        """Each seed's metrics.jsonl records (empty for a seed not started or with no finished epoch)."""
        return {seed: self.run(seed).read_metrics() for seed in seeds}

    def write_summary(self, summary: dict[str, Any]) -> None:
        _write_text_atomic(self.summary_path, json.dumps(summary, indent=2) + "\n")


def _loads(path: Path) -> bool:
    try:
        load_checkpoint(path)
        return True
    except CheckpointError:
        return False


def _write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, text.encode())


__all__ = ["RunDir", "SeedRuns"]
