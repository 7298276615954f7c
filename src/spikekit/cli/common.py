"""Pieces shared by the subcommands: output-file and device checks, progress over images (data loading:
``spikekit.data.datasets``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from tqdm import tqdm

from spikekit.data.datasets import EventData, SequenceData, load_data
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


__all__ = ["EventData", "SequenceData", "add_data_options", "check_device", "check_output_file", "image_progress",
           "load_data"]
