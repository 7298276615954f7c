"""Event-camera recordings as training data: containers, checks, binning to time steps, tonic interop.

An event is (x, y, p, t): pixel column and row, polarity (1 = brighter, 0 = darker) and time in
microseconds. A recording is a structured array of events (``EVENT_DTYPE``; tonic's field names), sorted
by time. ``EventSplit`` holds many recordings with their labels; ``EventSplit.binned(T, mode)`` turns each
into T time steps once, and batches are then drawn as ``SpikeEvents`` (what the fast engine's event-driven
first layer consumes, fully connected or conv) or as dense frames [T, B, P*H*W] (the reference engine).

Binning (``--bins``/``-T`` and ``--bin-mode``):
- ``time``: T windows of equal duration over each recording's span, first to last event: event k goes to
  step floor((t_k - t_first) * T / (t_last - t_first + 1)).
- ``count``: T windows of equal numbers of events: event k (0-based, time order) of n goes to floor(k * T / n).
- ``fixed``: T windows of equal duration over one window [0, D) microseconds, the same for every recording
  (``duration`` D, default 1 s: the usual framing of the audio sets SHD and SSC): event k goes to step
  floor(t_k * T / D), counted from the recording's time zero, not from its first event; events at t < 0 or
  t >= D are dropped (clipping them into the last step would make that step a summary of a tail of any length).
An input (polarity, y, x) spikes at step t if it had at least one event in window t (several events in a
window are one spike: the network's inputs are binary, like Poisson-coded MNIST). ``downsample`` s maps
pixel (y, x) to (y // s, x // s) on a ceil(H / s) x ceil(W / s) grid.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numba
import numpy as np
import torch
from torch import Tensor

from spikekit.errors import DataError
from spikekit.spike_events import SpikeEvents, index_dtype

EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("p", "u1"), ("t", "<i8")])
BIN_MODES = ("time", "count", "fixed")  # a mode's index here is the code the compiled binning takes
TIME, COUNT, FIXED = range(len(BIN_MODES))
DEFAULT_DURATION = 1_000_000  # microseconds: the window of mode "fixed" unless given


def empty_events(count: int = 0) -> np.ndarray:
    return np.zeros(count, dtype=EVENT_DTYPE)


def check_recording(events: np.ndarray, sensor: tuple[int, int, int], where: str) -> None:
    """``DataError`` naming ``where`` unless every event lies on the sensor (P, H, W) and times never go back."""
    if not len(events):
        return
    polarities, height, width = sensor
    for name, size in (("x", width), ("y", height), ("p", polarities)):
        values = events[name]
        bad = (values < 0) | (values >= size)
        if bad.any():
            first = int(np.argmax(bad))
            raise DataError(f"{where}: {int(bad.sum())} events with {name} outside 0..{size - 1} (first: event "
                            f"{first}, {name} = {int(values[first])}); the sensor is {width} x {height} with "
                            f"{polarities} polarities")
    backwards = np.diff(events["t"]) < 0
    if backwards.any():
        first = int(np.argmax(backwards)) + 1
        raise DataError(f"{where}: timestamps go backwards at {int(backwards.sum())} events (first: event {first}, "
                        f"t = {int(events['t'][first])} after {int(events['t'][first - 1])} us)")


class EventSplit(NamedTuple):
    """Recordings and labels: the events of recording i are rows ``offsets[i]:offsets[i + 1]``."""

    events: np.ndarray  # [E] EVENT_DTYPE, all recordings one after another
    offsets: np.ndarray  # [S + 1] int64
    labels: Tensor  # [S] int64
    sensor: tuple[int, int, int]  # (polarities, height, width)

    @classmethod
    def from_recordings(cls, recordings: list[np.ndarray], labels: Iterable[int],
                        sensor: tuple[int, int, int]) -> EventSplit:
        offsets = np.zeros(len(recordings) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(r) for r in recordings])
        events = np.concatenate(recordings) if recordings else empty_events()
        return cls(events.astype(EVENT_DTYPE, copy=False), offsets, torch.as_tensor(np.asarray(list(labels)),
                                                                                   dtype=torch.int64), sensor)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def recording(self, index: int) -> np.ndarray:
        return self.events[self.offsets[index]:self.offsets[index + 1]]

    def subset(self, count: int) -> EventSplit:
        """The first ``count`` recordings."""
        count = min(count, len(self))
        return EventSplit(self.events[:self.offsets[count]], self.offsets[:count + 1], self.labels[:count],
                          self.sensor)

    def _chunks(self):
        """(first, last, (offsets, t, x, y, p)) for every ``BIN_CHUNK`` recordings, offsets relative to the
        chunk: contiguous copies of one chunk's columns (the full N-MNIST train set holds ~250 M events;
        copying all columns at once would take ~3 GB more)."""
        for first in range(0, len(self), BIN_CHUNK):
            last = min(len(self), first + BIN_CHUNK)
            low, high = self.offsets[first], self.offsets[last]
            columns = [np.ascontiguousarray(self.events[name][low:high]) for name in ("t", "x", "y", "p")]
            yield first, last, (self.offsets[first:last + 1] - low, *columns)

    def binned(self, num_bins: int, mode: str = "time", downsample: int = 1,
               duration: int = DEFAULT_DURATION) -> BinnedSplit:
        """Every recording as ``num_bins`` steps of binary input spikes (module docstring); ``duration`` is the
        window of mode ``fixed`` in microseconds (the other modes take each recording's own span or count).

        >>> events = empty_events(4)
        >>> events["x"], events["t"] = [3, 3, 5, 6], [0, 9_999, 10_000, 1_000_000]  # the last one is past 1 s
        >>> split = EventSplit.from_recordings([events], [0], (1, 1, 8))
        >>> split.binned(100, "fixed", duration=1_000_000).dense(slice(0, 1))[:2, 0].nonzero().tolist()
        [[0, 3], [1, 5]]
        """
        check_binning(num_bins, mode, downsample, duration)
        polarities, height, width = self.sensor
        shape = (polarities, -(-height // downsample), -(-width // downsample))
        settings = (num_bins, BIN_MODES.index(mode), duration, *shape, downsample)
        counts = np.zeros((len(self), num_bins), dtype=np.int64)
        for first, last, columns in self._chunks():
            _count_pairs(*columns, *settings, counts[first:last])
        starts = np.zeros(counts.size + 1, dtype=np.int64)
        np.cumsum(counts.reshape(-1), out=starts[1:])
        pairs = np.zeros(starts[-1], dtype=_numpy_index_dtype(int(np.prod(shape))))
        for first, _, columns in self._chunks():
            _fill_pairs(*columns, *settings, starts[first * num_bins:], pairs)
        return BinnedSplit(pairs, starts, counts, self.labels, num_bins, shape)


BIN_CHUNK = 4096  # recordings binned at a time: the events' columns are copied one chunk at a time


def _numpy_index_dtype(num_inputs: int) -> type:
    return np.int16 if index_dtype(num_inputs) == torch.int16 else np.int32


def check_binning(num_bins: int, mode: str, downsample: int, duration: int = DEFAULT_DURATION) -> None:
    if not isinstance(num_bins, int) or num_bins < 1:
        raise ValueError(f"the number of time bins must be an integer >= 1, got {num_bins!r}")
    if mode not in BIN_MODES:
        raise ValueError(f"unknown bin mode {mode!r}; choose one of {', '.join(BIN_MODES)}")
    if not isinstance(downsample, int) or downsample < 1:
        raise ValueError(f"downsample must be an integer >= 1, got {downsample!r}")
    if not isinstance(duration, (int, np.integer)) or isinstance(duration, bool) or duration < 1:
        raise ValueError(f"the binning window must be an integer >= 1 (microseconds), got {duration!r}")


class BinnedSplit(NamedTuple):
    """Recordings binned to ``num_steps`` steps: the inputs that spike in step t of recording s are
    ``pairs[starts[s * T + t]:starts[s * T + t + 1]]`` (indices into the flattened (P, H, W) input)."""

    pairs: np.ndarray  # int16 / int32 input indices
    starts: np.ndarray  # [S * T + 1] int64
    counts: np.ndarray  # [S, T] spikes per (recording, step)
    labels: Tensor  # [S] int64
    num_steps: int
    shape: tuple[int, int, int]  # (P, H', W') of one step's input

    def events(self, index: Tensor | slice) -> SpikeEvents:
        """``SpikeEvents`` [T, B, P*H'*W'] of the recordings ``index`` (all as on events, no defaults)."""
        rows = np.arange(len(self.labels))[index.numpy() if isinstance(index, Tensor) else index]
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        num_inputs = int(np.prod(self.shape))
        capacity = max(1, int(self.counts[rows].max())) if len(rows) else 1
        # entries past num_on are padding, never read as events (SpikeEvents): no need to zero 1.2 MB a batch
        indices = np.empty((self.num_steps, len(rows), capacity), dtype=self.pairs.dtype)
        num_on = np.empty((self.num_steps, len(rows)), dtype=np.int32)
        _gather_pairs(self.pairs, self.starts, rows, self.num_steps, indices, num_on)
        return SpikeEvents.on_only(torch.from_numpy(indices), torch.from_numpy(num_on), num_inputs)

    def hold_out(self, count: int) -> tuple[BinnedSplit, BinnedSplit]:
        """(all but the last ``count`` recordings, the last ``count``), sharing ``pairs``."""
        if not 0 <= count < len(self.labels):
            raise ValueError(f"cannot hold out {count} of {len(self.labels)} training recordings for validation; "
                             f"choose 0 <= N < {len(self.labels)}")
        keep, steps = len(self.labels) - count, self.num_steps
        return (self._replace(starts=self.starts[:keep * steps + 1], counts=self.counts[:keep],
                              labels=self.labels[:keep]),
                self._replace(starts=self.starts[keep * steps:], counts=self.counts[keep:], labels=self.labels[keep:]))

    def dense(self, index: Tensor | slice) -> Tensor:
        """Dense binary frames [T, B, P*H'*W'] float32 of the recordings ``index``."""
        return self.events(index).to_dense()

    def frames(self, number: int) -> np.ndarray:
        """Recording ``number``'s binary frames [T, P, H', W'] (for pictures)."""
        return self.dense(slice(number, number + 1))[:, 0].reshape(-1, *self.shape).numpy()


@numba.njit(cache=True)
def _mark(t, x, y, p, start, stop, num_bins, mode, duration, height, width, downsample, mark):
    """mark[step, input] = 1 for every event start <= k < stop of one recording; ``mode`` is an index into
    ``BIN_MODES`` (module docstring)."""
    n = stop - start
    if n == 0:
        return
    first, span = t[start], t[stop - 1] - t[start] + 1
    for k in range(start, stop):
        if mode == FIXED:
            if t[k] < 0 or t[k] >= duration:
                continue
            step = t[k] * num_bins // duration
        elif mode == COUNT:
            step = (k - start) * num_bins // n
        else:
            step = (t[k] - first) * num_bins // span
        mark[step, (p[k] * height + y[k] // downsample) * width + x[k] // downsample] = 1


@numba.njit(parallel=True, cache=True)
def _count_pairs(offsets, t, x, y, p, num_bins, mode, duration, polarities, height, width, downsample, counts):
    for s in numba.prange(len(offsets) - 1):
        mark = np.zeros((num_bins, polarities * height * width), dtype=np.uint8)
        _mark(t, x, y, p, offsets[s], offsets[s + 1], num_bins, mode, duration, height, width, downsample, mark)
        for step in range(num_bins):
            counts[s, step] = mark[step].sum()


@numba.njit(parallel=True, cache=True)
def _fill_pairs(offsets, t, x, y, p, num_bins, mode, duration, polarities, height, width, downsample, starts, pairs):
    for s in numba.prange(len(offsets) - 1):
        mark = np.zeros((num_bins, polarities * height * width), dtype=np.uint8)
        _mark(t, x, y, p, offsets[s], offsets[s + 1], num_bins, mode, duration, height, width, downsample, mark)
        for step in range(num_bins):
            k = starts[s * num_bins + step]
            for i in range(mark.shape[1]):
                if mark[step, i]:
                    pairs[k] = i
                    k += 1


@numba.njit(parallel=True, cache=True)
def _gather_pairs(pairs, starts, rows, num_steps, indices, num_on):
    for b in numba.prange(len(rows)):
        for step in range(num_steps):
            start, stop = starts[rows[b] * num_steps + step], starts[rows[b] * num_steps + step + 1]
            num_on[step, b] = stop - start
            for k in range(start, stop):
                indices[step, b, k - start] = pairs[k]


def from_tonic(dataset, sensor_size: tuple[int, int, int] | None = None) -> EventSplit:
    """An ``EventSplit`` of a tonic dataset (or any sequence of ``(events, label)`` whose events are structured
    arrays with fields x, y, p, t, as tonic's are), read once, in order.

    ``sensor_size`` is tonic's (width, height, polarities), by default ``dataset.sensor_size``. With two
    polarities, p > 0 is ON (1) and the rest OFF (0); with one (the audio sets SHD and SSC: sensor (700, 1, 1),
    p always 1), every event goes to the one channel. A sensor of height 1 needs no y field (SHD's events are
    (t, x, p)). Events are sorted by time where a recording's are not, and checked as N-MNIST's. Downloads are
    tonic's own business (``tonic.datasets.NMNIST(save_to=...)`` with internet).
    """
    sensor_size = sensor_size if sensor_size is not None else getattr(dataset, "sensor_size", None)
    if sensor_size is None:
        raise ValueError("give sensor_size=(width, height, polarities): the dataset has no sensor_size")
    width, height, polarities = (int(n) for n in sensor_size)
    if min(width, height, polarities) < 1:
        raise ValueError(f"sensor_size must be (width, height, polarities), each >= 1, got {tuple(sensor_size)}")
    channels = 1 if polarities == 1 else 2
    sensor = (channels, height, width)
    needed = {"x", "t"} | ({"y"} if height > 1 else set()) | ({"p"} if channels == 2 else set())
    recordings, labels = [], []
    for number in range(len(dataset)):
        events, label = dataset[number]
        names = set(events.dtype.names or ())
        missing = needed - names
        if missing:
            raise DataError(f"recording {number}: events lack the fields {', '.join(sorted(missing))} "
                            f"(a structured array with {', '.join(sorted(needed))} is expected for a sensor of "
                            f"{width} x {height} with {polarities} polarities)")
        recording = empty_events(len(events))
        for name in ("x", "y", "t"):
            if name in names:
                recording[name] = events[name]
        if channels == 2:
            recording["p"] = np.asarray(events["p"]) > 0
        if len(recording) and (np.diff(recording["t"]) < 0).any():
            recording = recording[np.argsort(recording["t"], kind="stable")]
        check_recording(recording, sensor, f"recording {number}")
        recordings.append(recording)
        labels.append(int(label))
    return EventSplit.from_recordings(recordings, labels, sensor)
