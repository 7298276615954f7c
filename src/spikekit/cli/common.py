"""Pieces shared by the subcommands: data loading with limits, device checks, JSON files."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from spikekit.config import TrainConfig
from spikekit.data.mnist import MNIST, Split, load_mnist
from spikekit.errors import ConfigError


def add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", help="directory of the four MNIST IDX files (raw or .gz)")
    parser.add_argument("--limit-test", type=int, metavar="N", help="use only the first N test images")


def load_data(data_dir: str | None, config: TrainConfig) -> MNIST:
    """MNIST with ``config``'s limits applied."""
    data = load_mnist(data_dir)
    def cut(split: Split, limit: int | None) -> Split:
        return split if limit is None else Split(split.images[:limit], split.labels[:limit])
    return MNIST(cut(data.train, config.limit_train), cut(data.test, config.limit_test), data.source)


def check_device(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but PyTorch sees no CUDA device here; use --device cpu")


def write_json_atomic(path: Path, value: Any) -> None:
    """Write ``value`` as indented JSON via a temporary file and a rename."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w") as file:
            json.dump(value, file, indent=2)
            file.write("\n")
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
