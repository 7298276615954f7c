"""``spikekit train --seeds``: one recipe trained from several seeds into one directory.

Layout in ``spikekit.io.run_dir.SeedRuns``. By default the seeds run one after another in this process,
each with every core, so each seed's figures equal those of ``spikekit train --seed N``. With ``--jobs J``
they run J at a time in child processes (``spikekit train --resume RUN_DIR/seed-<n>``, log in
``seed-<n>/train.log``) of cores/J threads each: on the 2-core machine two 1-thread processes finished two
seeds 1.6x sooner than one 2-thread process did one after the other (docs/cli.md, multi-seed runs), because a
training step leaves part of a second core idle. A seed's trajectory depends on its thread count (summation order), so
``--jobs 2`` figures equal ``OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 spikekit train --seed N`` (tested).

A stopped multi-seed run resumes with ``--resume RUN_DIR``: finished seeds are kept, an interrupted seed
continues from its checkpoint, the others start.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tqdm import tqdm

from spikekit.cli.report import write_seeds_report
from spikekit.cli.session import StopOnSignals, best_line, quiet, train_run
from spikekit.config import RunConfig
from spikekit.errors import ConfigError
from spikekit.io.run_dir import RunDir, SeedRuns
from spikekit.train.distributed import Shard
from spikekit.train.summary import seed_summary, selection_key, summary_table


def train_seeds(config: RunConfig, seeds: list[int], path: Path | str, *, resume: bool,
                checkpoint_every: int | None, shard: Shard, force: bool = False, report: bool = False,
                jobs: int = 1) -> int:
    """Train ``config`` once per seed into ``path/seed-<n>``, keeping ``path/summary.json`` up to date.

    ``jobs`` > 1: that many seeds at a time in child processes (single-process runs only).
    Returns 0 when every seed finished, else the first stopped seed's code (128 + signal number), or 2
    when a child process failed.
    """
    if jobs > 1 and shard.world_size > 1:
        raise ConfigError("--jobs runs seeds in processes of their own; under torchrun, leave it at 1")
    say = print if shard.is_main else quiet
    if not resume:
        if shard.is_main:
            SeedRuns.create(path, seeds, config.to_dict(), force)
        shard.any(False)  # every rank waits until rank 0 has made the directory
    runs = SeedRuns(path)
    key = selection_key(config.train)
    if jobs > 1:
        code = _train_in_processes(runs, config, seeds, jobs, checkpoint_every)
        runs.write_summary(seed_summary(runs.histories(seeds), key))
        if code:
            return code
    for number, seed in enumerate(seeds if jobs == 1 else [], 1):
        run_dir = runs.run(seed)
        # Decided together: the all-reduce orders every rank's look before rank 0 creates the directory.
        started = shard.any(run_dir.config_path.is_file())
        say(f"seed {seed} ({number} of {len(seeds)}): {run_dir.path}")
        seed_config = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed))
        code = train_run(seed_config, run_dir.path, resume=started, checkpoint_every=checkpoint_every, shard=shard)
        if shard.is_main:
            runs.write_summary(seed_summary(runs.histories(seeds), key))
        if code:
            say(f"multi-seed run stopped at seed {seed}; continue every seed with: spikekit train --resume "
                f"{runs.path}", file=sys.stderr)
            return code
    if shard.is_main:
        print(f"{len(seeds)} seeds ({runs.summary_path}):\n{summary_table(seed_summary(runs.histories(seeds), key))}")
        if report:
            write_seeds_report(runs.path, data_dir=config.data_dir, limit_test=config.train.limit_test)
    return 0


def _train_in_processes(runs: SeedRuns, config: RunConfig, seeds: list[int], jobs: int,
                        checkpoint_every: int | None) -> int:
    """Each seed's run in a child ``spikekit train --resume``, ``jobs`` at a time; a progress bar over all
    their epochs. SIGINT/SIGTERM are passed on once to the children (each checkpoints and stops); the
    children leave with this process (Linux: parent-death signal SIGTERM)."""
    threads = max(1, len(os.sched_getaffinity(0)) // jobs)
    environment = os.environ | {name: str(threads) for name in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS",
                                                                 "MKL_NUM_THREADS")}
    extra = ["--checkpoint-every", str(checkpoint_every)] if checkpoint_every is not None else []
    for seed in seeds:
        if not runs.run(seed).config_path.is_file():
            seed_config = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed))
            RunDir.create(runs.run(seed).path, seed_config.to_dict())
    print(f"{len(seeds)} seeds, {jobs} at a time, {threads} thread(s) each; logs in {runs.path}/seed-<n>/train.log")
    waiting, running, failed, stopped = list(seeds), {}, [], 0
    total, recount = len(seeds) * config.train.epochs, 0.0
    with StopOnSignals() as stop, tqdm(total=total, desc="seeds", unit="epoch", file=sys.stderr,
                                      disable=None) as bar:
        while waiting or running:
            if stop.signal is not None and not stopped:
                stopped = stop.signal
                waiting.clear()
                for process, _ in running.values():
                    process.send_signal(stopped)
            while waiting and len(running) < jobs:
                seed = waiting.pop(0)
                log = open(runs.run(seed).path / "train.log", "ab")  # noqa: SIM115 (closed when the child ends)
                command = [sys.executable, "-m", "spikekit", "train", "--resume", str(runs.run(seed).path), *extra]
                running[seed] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment,
                                                  start_new_session=True, preexec_fn=_die_with_parent), log)
            time.sleep(0.05)
            for seed, (process, log) in list(running.items()):
                if process.poll() is None:
                    continue
                log.close()
                del running[seed]
                if process.returncode not in (0, 128 + signal.SIGINT, 128 + signal.SIGTERM):
                    failed.append(seed)
                    print(f"seed {seed}: the child process failed (exit code {process.returncode}); see "
                          f"{runs.run(seed).path / 'train.log'}", file=sys.stderr)
                elif process.returncode == 0:
                    best = best_line(runs.run(seed).read_metrics(), selection_key(config.train))
                    bar.write(f"seed {seed} finished: {best}")
            if time.monotonic() >= recount or not (waiting or running):
                # Epochs done, from every seed's metrics.jsonl: read once a second, not at every 50 ms poll.
                bar.update(sum(len(runs.run(seed).read_metrics()) for seed in seeds) - bar.n)
                recount = time.monotonic() + 1.0
    if stopped:
        print(f"{signal.Signals(stopped).name}: seeds checkpointed and stopped; continue every seed with: "
              f"spikekit train --resume {runs.path} --jobs {jobs}", file=sys.stderr)
        return 128 + stopped
    return 2 if failed else 0


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux for SIGTERM when the parent dies (elsewhere: nothing)."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (AttributeError, OSError):
        pass
