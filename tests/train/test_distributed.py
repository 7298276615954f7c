"""Data-parallel training: 2 CPU processes (gloo, loopback) against one process on the union batch."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from spikekit.config import RunConfig, TrainConfig
from spikekit.data.mnist import MNIST, Split
from spikekit.io.checkpoint import load_checkpoint
from spikekit.kernels import as_events
from spikekit.train.distributed import Shard, leave, share_cores
from spikekit.train.loop import (
    EpochProgress,
    batch_order,
    build_model,
    encode_batch,
    num_batches,
    train_epoch,
    train_intensity,
)

WORLD = 2


def _config(engine: str) -> RunConfig:
    # 300 images, global batch 64: 4 full batches and a last one of 44, split 22 + 22.
    return RunConfig(train=TrainConfig(num_steps=6, batch_size=64, engine=engine, lr=5e-3))


def _digest(model: torch.nn.Module) -> str:
    hasher = hashlib.sha256()
    for tensor in model.state_dict().values():
        hasher.update(tensor.detach().numpy().tobytes())
    return hasher.hexdigest()


def _worker(rank: int, port: int, engine: str, split: Split, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    share_cores(WORLD)  # as the CLI does under torchrun
    torch.save(_train_rank(rank, engine, split), Path(out) / f"rank{rank}.pt")
    dist.barrier()  # as the CLI: no rank leaves while the other still works
    leave()  # the DDP wrapper went with _train_rank's frame


def _train_rank(rank: int, engine: str, split: Split) -> dict:
    config = _config(engine)
    model = build_model(config)
    wrapped = DistributedDataParallel(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    digests = []

    def after_step(progress: EpochProgress) -> None:
        gathered = [None] * WORLD
        dist.all_gather_object(gathered, _digest(model))
        digests.append(gathered)
    progress = train_epoch(wrapped, optimizer, split, config.train, EpochProgress(0), after_step, Shard(rank, WORLD))
    return {"state": model.state_dict(), "digests": digests, "loss_sum": progress.loss_sum, "seen": progress.seen}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _union_run(engine: str, split: Split) -> tuple[torch.nn.Module, float]:
    """One process, each global batch = the ranks' parts with the ranks' own input spikes."""
    config = _config(engine)
    model = build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    order = batch_order(len(split.labels), config.train.seed, 0)
    loss_sum = 0.0
    for batch in range(num_batches(len(order), config.train.batch_size, WORLD)):
        index = order[batch * config.train.batch_size:(batch + 1) * config.train.batch_size]
        parts = []
        for rank in range(WORLD):
            shard = Shard(rank, WORLD)
            intensity = train_intensity(split, shard.rows(index), config.train, (1, 28, 28),
                                        shard.keys("shift", 0, batch))  # the ranks' own augmentation
            spikes = encode_batch(intensity, config.train, *shard.keys("train", 0, batch))
            events = as_events(spikes)
            parts.append(events.to_dense() if events is not None else spikes)
        counts = model(torch.cat(parts, dim=1))
        loss = F.cross_entropy(counts, split.labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(index)
    return model, loss_sum


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_two_processes_equal_one_process_on_the_union_batch(engine: str, mnist: MNIST, tmp_path: Path) -> None:
    split = Split(mnist.train.images[:300], mnist.train.labels[:300])
    mp.start_processes(_worker, args=(_free_port(), engine, split, str(tmp_path)), nprocs=WORLD,
                       start_method="spawn")
    results = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(WORLD)]
    assert len(results[0]["digests"]) == 5
    for step in results[0]["digests"]:  # identical weights on both ranks after every step
        assert step[0] == step[1]
    for name, tensor in results[0]["state"].items():
        assert torch.equal(tensor, results[1]["state"][name]), name
    assert results[0]["seen"] == 300

    single, loss_sum = _union_run(engine, split)
    for name, tensor in single.state_dict().items():
        torch.testing.assert_close(results[0]["state"][name], tensor, rtol=1e-4, atol=1e-5)
    assert results[0]["loss_sum"] == pytest.approx(loss_sum, rel=1e-5)


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(WORLD),
            "-m", "spikekit", "train", *args]


def _environment(tmp_path: Path) -> dict[str, str]:
    """The test's environment with the temporary directory inside ``tmp_path``: torchrun leaves a
    ``torchelastic_*`` folder in it, which pytest then removes with the rest."""
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(scratch)}


def _descendants(pid: int) -> list[int]:
    """All processes below ``pid`` (from /proc), whatever their session or process group."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _wait_until_dead(pids: list[int], seconds: float = 30.0) -> None:
    """Return once every process of ``pids`` is gone or a zombie (it runs no more code); fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    for pid in pids:
        while True:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                break
            if state in ("Z", "X"):
                break
            assert time.monotonic() < deadline, f"process {pid} of the killed run still runs (state {state})"
            time.sleep(0.01)


def test_a_killed_two_process_run_resumes_and_finishes(small_mnist_dir: Path, tmp_path: Path) -> None:
    common = ["--data-dir", str(small_mnist_dir), "--epochs", "2", "-T", "6", "--batch-size", "16",
              "--limit-test", "100", "--checkpoint-every", "1"]
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    environment = _environment(tmp_path)
    system_temp = Path(tempfile.gettempdir())
    before = set(system_temp.glob("torchelastic_*"))
    finished = subprocess.run(_torchrun(*common, "--out", str(whole)), capture_output=True, text=True, timeout=300,
                              env=environment)
    assert finished.returncode == 0, finished.stderr

    process = subprocess.Popen(_torchrun(*common, "--out", str(broken)), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=environment)
    last = broken / "checkpoints" / "last.safetensors"
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        try:
            progress = load_checkpoint(last).meta["state"]["progress"]
            if (progress["epoch"], progress["batch"]) >= (0, 20):  # mid epoch 1 of 2: well before the end
                break
        except Exception:  # not written yet
            pass
        time.sleep(0.01)
    assert process.poll() is None, "the run finished before it could be killed"
    killed = [process.pid, *_descendants(process.pid)]  # torchrun and both workers (own sessions)
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    process.wait()
    _wait_until_dead(killed)  # no process of the killed run still writes when the resumed one starts

    resumed = subprocess.run(_torchrun("--resume", str(broken), "--checkpoint-every", "1"), capture_output=True,
                             text=True, timeout=300, env=environment)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout, resumed.stdout  # killed mid-run, not after the last epoch

    def metrics(run: Path) -> list[dict]:
        timing = ("seconds", "samples_per_second", "eval_seconds")
        return [{k: v for k, v in json.loads(line).items() if k not in timing}
                for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics(broken)) == 2
    assert metrics(broken) == metrics(whole)
    final_whole = load_checkpoint(whole / "checkpoints" / "last.safetensors").model
    final_broken = load_checkpoint(broken / "checkpoints" / "last.safetensors").model
    assert all(torch.equal(final_whole[name], final_broken[name]) for name in final_whole)
    # torchrun's scratch folders went to the test's own temporary directory, not the system's.
    assert set(system_temp.glob("torchelastic_*")) == before
    assert any((tmp_path / "tmp").glob("torchelastic_*"))
