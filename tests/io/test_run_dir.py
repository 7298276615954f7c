import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from spikekit.errors import ConfigError
from spikekit.io.checkpoint import Checkpoint, load_checkpoint
from spikekit.io.run_dir import RunDir


def _checkpoint(step: int) -> Checkpoint:
    return Checkpoint({"w": torch.full((2,), float(step))}, None, {"step": step})


def test_rotation_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "run", {})
    for step in (1, 2, 3):
        run.save(_checkpoint(step), final=step < 3, best=step == 1)
    assert load_checkpoint(run.checkpoint_path("last")).meta == {"step": 3}
    assert load_checkpoint(run.checkpoint_path("previous")).meta == {"step": 2}
    assert load_checkpoint(run.checkpoint_path("final")).meta == {"step": 2}
    assert load_checkpoint(run.checkpoint_path("best")).meta == {"step": 1}
    assert run.model_checkpoint() == run.checkpoint_path("best")


def test_without_best_the_model_checkpoint_is_final_and_before_any_epoch_an_error(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "run", {})
    run.save(_checkpoint(1))  # a periodic checkpoint: no epoch finished
    with pytest.raises(ConfigError, match="finished no epoch"):
        run.model_checkpoint()
    run.save(_checkpoint(2), final=True)
    assert run.model_checkpoint() == run.checkpoint_path("final")


def test_a_damaged_last_falls_back_and_is_never_rotated_over_previous(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "run", {})
    run.save(_checkpoint(1))
    run.save(_checkpoint(2))
    run.checkpoint_path("last").write_bytes(b"garbage")
    checkpoint, skipped = run.latest()
    assert checkpoint.meta == {"step": 1} and "last.safetensors" in skipped[0]
    run.save(_checkpoint(3))  # the garbage is replaced, the valid previous stays
    assert load_checkpoint(run.checkpoint_path("previous")).meta == {"step": 1}
    assert run.latest()[0].meta == {"step": 3}


def test_existing_directory_rules(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists"):
        RunDir.create(tmp_path / "run", {})
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"
    with pytest.raises(ConfigError, match="not a spikekit run directory"):
        RunDir.existing(tmp_path / "run")
    run = RunDir.create(tmp_path / "run", {"a": 1}, force=True)
    assert not (run.path / "notes.txt").exists()
    stale = run.checkpoints / ".last.safetensors.x.tmp"
    stale.write_bytes(b"half")
    assert RunDir.existing(run.path).read_config() == {"a": 1}
    assert stale.exists()  # another rank of a torchrun job: the temporary may be rank 0's save in flight
    assert RunDir.existing(run.path, clean=True).read_config() == {"a": 1}
    assert not list(run.checkpoints.glob(".*.tmp"))


_KILL_BEFORE_RENAME = textwrap.dedent("""
    import os, signal, sys
    from spikekit.io.run_dir import RunDir
    real_replace = os.replace
    def replace(source, target):
        if str(source).endswith(".creating"):  # the staged run directory is about to be renamed into place
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(source, target)
    os.replace = replace
    RunDir.create(sys.argv[1], {"new": True}, force=True)
""")


@pytest.mark.parametrize("existing", [False, True])
def test_a_kill_during_create_leaves_no_half_made_run(tmp_path: Path, existing: bool) -> None:
    path = tmp_path / "run"
    if existing:
        RunDir.create(path, {"old": True})
    result = subprocess.run([sys.executable, "-c", _KILL_BEFORE_RENAME, str(path)], env=os.environ | {
        "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == -signal.SIGKILL
    # No half-made run at ``path``: with --force the old run was already moved aside (it was being replaced)
    assert not path.exists()
    assert list(tmp_path.glob(".run.*.creating"))  # what the killed process staged
    run = RunDir.create(path, {"again": True}, force=True)
    assert run.read_config() == {"again": True} and run.checkpoints.is_dir()
    assert not list(tmp_path.glob(".run.*.creating"))  # the next create removed the leftovers
