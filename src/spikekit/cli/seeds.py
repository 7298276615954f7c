"""``spikekit train --seeds``: one recipe trained from several seeds, one after another, into one directory.

Layout in ``spikekit.io.run_dir.SeedRuns``. The seeds run sequentially, each with every core: on the
2-core machine this was measured against two seeds in parallel processes of one thread each (README).
A stopped multi-seed run resumes with ``--resume RUN_DIR``: finished seeds are kept, the interrupted seed
continues from its checkpoint, the others start.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from spikekit.cli.report import write_seeds_report
from spikekit.cli.session import quiet, selection_key, train_run
from spikekit.config import RunConfig
from spikekit.io.run_dir import SeedRuns
from spikekit.train.distributed import Shard
from spikekit.train.summary import seed_summary, summary_table


def train_seeds(config: RunConfig, seeds: list[int], path: Path | str, *, resume: bool,
                checkpoint_every: tuple[str, float], shard: Shard, force: bool = False, report: bool = False) -> int:
    """Train ``config`` once per seed into ``path/seed-<n>``, keeping ``path/summary.json`` up to date.

    Returns 0 when every seed finished, else the first stopped seed's code (128 + signal number).
    """
    say = print if shard.is_main else quiet
    if not resume:
        if shard.is_main:
            SeedRuns.create(path, seeds, config.to_dict(), force)
        shard.any(False)  # every rank waits until rank 0 has made the directory
    runs = SeedRuns(path)
    key = selection_key(config)
    for number, seed in enumerate(seeds, 1):
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
