"""Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC), Cramer et al. 2020: spoken words
turned into spikes by a model of the inner ear, 700 channels (hair-cell places along the cochlea).

File format (the official ``shd_train.h5``, ``shd_test.h5``, ``ssc_train.h5``, ``ssc_valid.h5`` and
``ssc_test.h5``, from https://zenkelab.org/datasets/ as ``.h5.gz``), HDF5 with S samples:

    spikes/times   [S] variable-length arrays, spike times of sample s in seconds (float16), time-sorted
    spikes/units   [S] variable-length arrays, the channel 0..699 of each of those spikes (uint16)
    labels         [S] integers, the class: 0..19 for SHD (digits 0-9 in English and German), 0..34 for SSC
    extra/         speakers, keys and metadata (not read)

A sample becomes a recording of ``EventSplit`` on the sensor (1, 1, 700): channel as x, y = 0 and polarity 0,
the sensor's only one (binning maps (p, y, x) to input (p * H + y) * W + x, so channel c is input c), times
rounded to whole microseconds. Every file is checked; each problem raises a one-line ``DataError`` naming the
file and the first bad sample: no such file (saying where the files come from), not HDF5, a missing dataset,
times and units of different lengths, a channel outside 0..699, a time that is negative or not finite, a label
outside the data set's classes or a number of labels that is not the number of samples. Spike times that are not
sorted are sorted, with one warning per file (the official files are sorted; a file made elsewhere need not be,
and the order of a sample's spikes carries nothing). A sample with no spikes is a recording without events.

Bin with ``EventSplit.binned(T, "fixed", duration=WINDOW_US)``: T windows over the first second of every
sample (spikekit.data.events), e.g. T = 100 steps of 10 ms; spikes after 1 s are dropped.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal

import h5py
import numpy as np
import torch

from spikekit.data.events import EventSplit, empty_events
from spikekit.errors import DataError

SENSOR = (1, 1, 700)  # one polarity, one row, 700 cochlear channels
NUM_CLASSES = {"shd": 20, "ssc": 35}
WINDOW_US = 1_000_000  # the usual window: SSC's clips are 1 s; some SHD digits last longer (dropped)
SOURCE = ("SHD and SSC come from https://zenkelab.org/datasets/ (shd_train.h5.gz, shd_test.h5.gz, "
          "ssc_train.h5.gz, ...): download and gunzip them into one folder")
MAX_SECONDS = 2.0**53 / 1e6  # beyond this, microseconds lose integer precision in float64


def load_shd_split(path: str | os.PathLike, name: Literal["shd", "ssc"] = "shd") -> EventSplit:
    """Every sample of one SHD or SSC file (``name`` picks the number of classes), in file order, checked as
    the module docstring says.

    Returns:
        ``EventSplit`` on the sensor (1, 1, 700): S recordings, x = channel, t in integer microseconds.
    """
    if name not in NUM_CLASSES:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(NUM_CLASSES)}")
    path = Path(path)
    times, units, labels = _read(path)
    return _to_split(times, units, labels, NUM_CLASSES[name], str(path))


def load_shd(directory: str | os.PathLike, name: Literal["shd", "ssc"] = "shd") -> tuple[EventSplit, EventSplit]:
    """(train, test) from ``directory``/``name``_train.h5 and ``name``_test.h5 (SSC's valid file is not read)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such folder; {SOURCE}")
    return (load_shd_split(directory / f"{name}_train.h5", name),
            load_shd_split(directory / f"{name}_test.h5", name))


def write_shd(path: str | os.PathLike, times, units, labels, time_dtype=np.float16, unit_dtype=np.uint16) -> Path:
    """Write S samples as an HDF5 file in the official layout (module docstring): ``spikes/times`` and
    ``spikes/units``, one variable-length array per sample (seconds as ``time_dtype``, channels as ``unit_dtype``,
    float16 and uint16 as the official files), and ``labels``. For synthetic recordings (the benchmarks' SHD-shaped
    input) and hand-written test files; ``load_shd_split`` reads it back. Returns ``path``.

    Args:
        times, units: S sequences of spike times (s) and channels (0..699), sample by sample, equal lengths.
        labels: S class numbers.
    """
    path = Path(path)
    with h5py.File(path, "w") as file:
        for key, values, dtype in (("spikes/times", times, time_dtype), ("spikes/units", units, unit_dtype)):
            dataset = file.create_dataset(key, (len(values),), dtype=h5py.vlen_dtype(np.dtype(dtype)))
            for number, sample in enumerate(values):
                dataset[number] = np.asarray(sample, dtype=dtype)
        file.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
    return path


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times [S] object, units [S] object, labels [S]) as stored in ``path``; ``DataError`` if not there."""
    with _open(path) as file:
        return tuple(_dataset(file, key, per_sample, path)
                     for key, per_sample in (("spikes/times", True), ("spikes/units", True), ("labels", False)))


def _open(path: Path) -> h5py.File:
    if not path.is_file():
        gzipped = path.with_name(path.name + ".gz")
        hint = f"gunzip {gzipped} first" if gzipped.is_file() else SOURCE
        raise DataError(f"{path}: no such file; {hint}")
    try:
        with path.open("rb") as handle:
            magic = handle.read(2)
    except OSError as error:
        raise DataError(f"{path}: unreadable ({error.strerror or error})") from None
    try:
        return h5py.File(path, "r")
    except OSError:
        gzip = " (gzip-compressed: gunzip it first)" if magic == b"\x1f\x8b" else ""
        raise DataError(f"{path}: not an HDF5 file{gzip}") from None


def _dataset(file: h5py.File, key: str, per_sample: bool, path: Path) -> np.ndarray:
    """The values of ``key``: one variable-length array per sample, or (``per_sample`` False) one value."""
    try:
        dataset = file[key]
    except (KeyError, TypeError):
        dataset = None
    if not isinstance(dataset, h5py.Dataset):
        raise DataError(f"{path}: no dataset {key} (an SHD/SSC file has spikes/times, spikes/units and labels)")
    if dataset.ndim != 1 or per_sample and h5py.check_vlen_dtype(dataset.dtype) is None:
        kind = "variable-length arrays, one per sample" if per_sample else "one integer per sample"
        raise DataError(f"{path}: {key} holds {dataset.dtype} of shape {dataset.shape}, not {kind}")
    try:
        return dataset[()]
    except (OSError, ValueError, TypeError) as error:
        raise DataError(f"{path}: {key} unreadable ({error})") from None


def _to_split(times: np.ndarray, units: np.ndarray, labels: np.ndarray, num_classes: int, where: str) -> EventSplit:
    """The checked ``EventSplit`` of one file's arrays (``_read``); ``where`` names the file in errors."""
    lengths = _lengths(times, units, where)
    _check_labels(labels, len(lengths), num_classes, where)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    seconds = _joined(times, np.float64, "spikes/times", where)
    channels = _joined(units, np.int64, "spikes/units", where)
    sample_of = np.repeat(np.arange(len(lengths)), lengths)  # [E] the sample of each spike, for messages
    bad = (channels < 0) | (channels >= SENSOR[2])
    if bad.any():
        k = _first(bad)
        raise DataError(f"{where}: {int(bad.sum())} spikes with a channel outside 0..{SENSOR[2] - 1} (first: sample "
                        f"{sample_of[k]}, channel {channels[k]})")
    bad = ~(np.isfinite(seconds) & (seconds >= 0) & (seconds < MAX_SECONDS))
    if bad.any():
        k = _first(bad)
        raise DataError(f"{where}: {int(bad.sum())} spike times not finite or outside 0..{MAX_SECONDS:.1e} s "
                        f"(first: sample {sample_of[k]}, t = {seconds[k]} s)")
    events = empty_events(len(seconds))
    events["x"], events["t"] = channels, _microseconds(seconds)
    _sort_samples(events, offsets, sample_of, where)
    return EventSplit(events, offsets, torch.as_tensor(labels.astype(np.int64)), SENSOR)


def _lengths(times: np.ndarray, units: np.ndarray, where: str) -> np.ndarray:
    """[S] int64 spikes per sample; ``DataError`` unless times and units hold as many samples and values."""
    if len(times) != len(units):
        raise DataError(f"{where}: {len(times)} samples in spikes/times but {len(units)} in spikes/units")
    lengths = np.array([len(sample) for sample in times], dtype=np.int64)
    unit_lengths = np.array([len(sample) for sample in units], dtype=np.int64)
    differ = lengths != unit_lengths
    if differ.any():
        k = _first(differ)
        raise DataError(f"{where}: spikes/times and spikes/units differ in length in {int(differ.sum())} samples "
                        f"(first: sample {k}, {lengths[k]} times and {unit_lengths[k]} units)")
    return lengths


def _check_labels(labels: np.ndarray, num_samples: int, num_classes: int, where: str) -> None:
    if labels.dtype.kind not in "iu":
        raise DataError(f"{where}: labels are {labels.dtype}, not integers")
    if len(labels) != num_samples:
        raise DataError(f"{where}: {len(labels)} labels for {num_samples} samples")
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        k = _first(bad)
        raise DataError(f"{where}: {int(bad.sum())} labels outside 0..{num_classes - 1} (first: sample {k}, label "
                        f"{labels[k]}); SHD has 20 classes, SSC 35 (name='ssc')")


def _joined(samples: np.ndarray, dtype: type, key: str, where: str) -> np.ndarray:
    """Every sample's values, one after another, as ``dtype`` (ints stay ints: no float channel numbers)."""
    if not len(samples):
        return np.zeros(0, dtype=dtype)
    values = np.concatenate(samples)
    allowed = "iuf" if dtype is np.float64 else "iu"
    if values.dtype.kind not in allowed:
        raise DataError(f"{where}: {key} holds {values.dtype}, not {'numbers' if 'f' in allowed else 'integers'}")
    return values.astype(dtype)


def _microseconds(seconds: np.ndarray) -> np.ndarray:
    """Seconds as the nearest whole microseconds, int64.

    >>> _microseconds(np.array([0.0, 0.5, 1.25], dtype=np.float16).astype(np.float64)).tolist()
    [0, 500000, 1250000]
    """
    return np.rint(seconds * 1e6).astype(np.int64)


def _sort_samples(events: np.ndarray, offsets: np.ndarray, sample_of: np.ndarray, where: str) -> None:
    """Sort, in place and stably by time, the samples whose spikes go back in time; warn once if any did."""
    backwards = np.diff(events["t"]) < 0
    backwards &= sample_of[1:] == sample_of[:-1]  # a new sample may start earlier than the last one ended
    unsorted = np.unique(sample_of[1:][backwards])
    for s in unsorted:
        sample = events[offsets[s]:offsets[s + 1]]
        sample[:] = sample[np.argsort(sample["t"], kind="stable")]
    if len(unsorted):
        warnings.warn(f"{where}: spike times out of order in {len(unsorted)} of {len(offsets) - 1} samples (first: "
                      f"sample {unsorted[0]}); sorted by time", stacklevel=4)


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))
