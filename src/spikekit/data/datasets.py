"""Every dataset the trainer reads, by name: ``load_data(data_dir, config, dataset)`` with the config's limits.

``mnist`` (images, Poisson-coded as they are drawn), ``smnist`` / ``psmnist`` (MNIST one pixel a step,
``spikekit.data.smnist``), and the event datasets ``nmnist``, ``shd`` and ``ssc``, binned here into
``config.num_steps`` steps (``spikekit.data.events``).
"""

from __future__ import annotations

from typing import NamedTuple

from spikekit.config import TrainConfig
from spikekit.data.events import BinnedSplit, EventSplit
from spikekit.data.mnist import MNIST, Split, load_mnist
from spikekit.data.nmnist import load_nmnist
from spikekit.data.shd import SOURCE as SHD_SOURCE
from spikekit.data.shd import load_shd
from spikekit.data.smnist import TASKS as SEQUENCE_TASKS
from spikekit.data.smnist import SequenceSplit, sequences
from spikekit.errors import ConfigError


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
