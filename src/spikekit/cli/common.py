"""Pieces shared by the subcommands: data loading with limits, device checks, progress over images."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm import tqdm

from spikekit.config import TrainConfig
from spikekit.data.events import BinnedSplit, EventSplit
from spikekit.data.mnist import MNIST, Split, load_mnist
from spikekit.data.nmnist import load_nmnist
from spikekit.data.shd import SOURCE as SHD_SOURCE
from spikekit.data.shd import load_shd
from spikekit.data.smnist import TASKS as SEQUENCE_TASKS
from spikekit.data.smnist import SequenceSplit, sequences
from spikekit.errors import ConfigError


def check_output_file(path: str, force: bool) -> None:
    """``ConfigError`` (one line, naming ``path``) if a file cannot be written there: a directory, or an existing
    file without ``force``."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{path} is a directory; give a file name (e.g. {target / 'model'}{target.suffix or ''})")
    if target.exists() and not force:
        raise ConfigError(f"{path} exists; pass --force to overwrite it")
    if not target.parent.is_dir():
        raise ConfigError(f"{path}: the folder {target.parent} does not exist")


def add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", help="directory of the four MNIST IDX files (raw or .gz)")
    parser.add_argument("--limit-test", type=int, metavar="N", help="use only the first N test images")


def load_data(data_dir: str | None, config: TrainConfig, dataset: str = "mnist") -> MNIST | EventData | SequenceData:
    """MNIST, MNIST read as sequences (``smnist``, ``psmnist``), or an event dataset binned to ``config.num_steps``
    steps, with ``config``'s limits applied."""
    if dataset in ("shd", "ssc"):
        if data_dir is None:
            raise ConfigError(f"--dataset {dataset} needs --data-dir DIR, the folder holding {dataset}_train.h5 and "
                              f"{dataset}_test.h5 ({SHD_SOURCE})")
        train, test = load_shd(data_dir, dataset)
        return EventData(_binned(train, config.limit_train, config), _binned(test, config.limit_test, config),
                         str(data_dir))
    if dataset == "nmnist":
        if data_dir is None:
            raise ConfigError("--dataset nmnist needs --data-dir DIR, the folder holding N-MNIST's Train/ and Test/ "
                              "(nothing is downloaded here; with internet, tonic.datasets.NMNIST(save_to=...) "
                              "fetches it)")
        train, test = load_nmnist(data_dir)
        return EventData(_binned(train, config.limit_train, config), _binned(test, config.limit_test, config),
                         str(data_dir))
    data = load_mnist(data_dir)
    if dataset in SEQUENCE_TASKS:
        def sequence(split: Split, limit: int | None) -> SequenceSplit:
            return sequences(split.images[:limit], split.labels[:limit], dataset)
        return SequenceData(sequence(data.train, config.limit_train), sequence(data.test, config.limit_test),
                            data.source)
    def cut(split: Split, limit: int | None) -> Split:
        return split if limit is None else Split(split.images[:limit], split.labels[:limit])
    return MNIST(cut(data.train, config.limit_train), cut(data.test, config.limit_test), data.source)


def _binned(split: EventSplit, limit: int | None, config: TrainConfig) -> BinnedSplit:
    split = split if limit is None else split.subset(limit)
    return split.binned(config.num_steps, config.bin_mode, config.downsample)


class EventData(NamedTuple):
    train: BinnedSplit
    test: BinnedSplit
    source: str


class SequenceData(NamedTuple):
    train: SequenceSplit
    test: SequenceSplit
    source: str


def check_device(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but PyTorch sees no CUDA device here; use --device cpu")


@contextmanager
def image_progress(total: int, desc: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar over ``total`` images on stderr (hidden when stderr is not a terminal); yields the
    ``on_batch(done, total)`` callback that ``evaluate`` and ``build_report`` take."""
    with tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=False, dynamic_ncols=True,
              disable=None) as bar:
        yield lambda done, _total: bar.update(done - bar.n)
