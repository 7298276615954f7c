"""N-MNIST (Orchard et al. 2015): MNIST digits recorded by an event camera (ATIS) on a pan-tilt unit.

File format, one ``.bin`` file per recording, 5 bytes per event, big-endian bit fields:

    byte 0: x (8 bits)      byte 1: y (8 bits)
    bytes 2-4: polarity (top bit of byte 2; 1 = ON, brighter), then the timestamp in microseconds
               (23 bits: the low 7 bits of byte 2, then bytes 3 and 4)

Folder layout: ``Train/<label>/*.bin`` and ``Test/<label>/*.bin`` (labels 0..9), 34 x 34 sensor pixels,
2 polarities, about 300 ms and 4,000 events per recording (three saccades).

Every file is checked: a length that is not a whole number of events (truncation), coordinates outside the
34 x 34 sensor, or timestamps that go backwards raise ``DataError`` naming the file and what is wrong; an
empty file is a recording with no events.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from spikekit.data.events import EventSplit, check_recording, empty_events
from spikekit.errors import DataError

SENSOR = (2, 34, 34)  # polarities, height, width
EVENT_BYTES = 5


def decode_nmnist(data: bytes | np.ndarray, where: str = "<bytes>") -> np.ndarray:
    """Events of one N-MNIST recording from its bytes: a structured array (``spikekit.data.events.EVENT_DTYPE``:
    x, y, p, t in microseconds), checked as the module docstring says."""
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else data
    if raw.size % EVENT_BYTES:
        raise DataError(f"{where}: {raw.size} bytes is not a whole number of {EVENT_BYTES}-byte events "
                        "(truncated or not an N-MNIST file)")
    fields = raw.reshape(-1, EVENT_BYTES).astype(np.int64)
    events = empty_events(len(fields))
    events["x"], events["y"] = fields[:, 0], fields[:, 1]
    events["p"] = fields[:, 2] >> 7
    events["t"] = ((fields[:, 2] & 0x7F) << 16) | (fields[:, 3] << 8) | fields[:, 4]
    check_recording(events, SENSOR, where)
    return events


def read_nmnist_file(path: str | os.PathLike) -> np.ndarray:
    """Events of the recording in ``path`` (``decode_nmnist``); ``DataError`` if unreadable."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise DataError(f"{path}: unreadable ({error.strerror or error})") from None
    return decode_nmnist(data, str(path))


def load_nmnist_split(directory: str | os.PathLike, progress: bool = True) -> EventSplit:
    """All recordings under ``directory``/<label>/*.bin (labels 0..9), labels interleaved (below)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such folder (N-MNIST has Train/<label>/*.bin and Test/<label>/*.bin)")
    by_label = [sorted((directory / str(label)).glob("*.bin")) for label in range(10)]
    labels_named = {str(label) for label in range(10)}
    unknown = sorted(entry.name for entry in directory.iterdir() if entry.is_dir() and entry.name not in labels_named
                     and any(entry.glob("*.bin")))
    if unknown:
        raise DataError(f"{directory}: recordings in folders that are not labels 0..9: {', '.join(unknown)}; "
                        "move or remove them")
    missing = [str(label) for label, files in enumerate(by_label) if not files]
    if missing and len(missing) < 10:
        warnings.warn(f"{directory}: no recordings for label{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                      "(missing or empty folder): the network is never shown them", stacklevel=2)
    # Interleaved, label 0, 1, ..., 9, 0, 1, ... (file-name order within a label): so that the first N
    # recordings (--limit-train, --val's hold-out) hold every label, not only the first ones.
    paths, labels = [], []
    for round_ in range(max(map(len, by_label))):
        for label, files in enumerate(by_label):
            if round_ < len(files):
                paths.append(files[round_])
                labels.append(label)
    if not paths:
        raise DataError(f"{directory}: no <label>/*.bin recordings (labels 0..9)")
    recordings = [read_nmnist_file(path) for path in tqdm(paths, desc=f"reading {directory.name}", unit="file",
                                                              leave=False, disable=None if progress else True)]
    return EventSplit.from_recordings(recordings, np.array(labels), SENSOR)


def load_nmnist(directory: str | os.PathLike) -> tuple[EventSplit, EventSplit]:
    """(train, test) from an N-MNIST folder holding ``Train/`` and ``Test/``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"N-MNIST folder {directory} does not exist or is not a directory")
    return load_nmnist_split(directory / "Train"), load_nmnist_split(directory / "Test")


def encode_nmnist(events: np.ndarray) -> bytes:
    """The bytes of a recording in N-MNIST's format (inverse of ``decode_nmnist``); for tests and tools that
    write small N-MNIST folders. ``ValueError`` if a field does not fit its bits."""
    x, y, p, t = (events[name].astype(np.int64) for name in ("x", "y", "p", "t"))
    if len(events) and (x.min() < 0 or x.max() > 255 or y.min() < 0 or y.max() > 255 or not np.isin(p, (0, 1)).all()
                        or t.min() < 0 or t.max() >= 2**23):
        raise ValueError("N-MNIST stores x and y in 8 bits, p in 1 bit and t in 23 bits (microseconds)")
    out = np.empty((len(events), EVENT_BYTES), dtype=np.uint8)
    out[:, 0], out[:, 1] = x, y
    out[:, 2] = (p << 7) | (t >> 16)
    out[:, 3], out[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    return out.tobytes()


# Synthetic recordings ---------------------------------------------------------------------------------------
# Real N-MNIST cannot be downloaded here, so tests and the benchmark use recordings made from MNIST digits the
# way the dataset was recorded, in spirit: the digit, placed on the 34 x 34 sensor, moves along three saccades
# (100 ms each: two pixels out and back, one pixel per 25 ms step), and each pixel whose brightness rises or
# falls at a move fires ON or OFF events, more for larger changes, at times spread over that step. Not the
# sensor's physics, but digit-shaped events with N-MNIST's density (a few thousand per recording) in the
# real file format.
SACCADES = ((1, 1), (1, -1), (-1, 0))  # direction of each saccade, (dy, dx) per step
STEPS_PER_SACCADE, STEP_US = 4, 25_000


def saccade_events(image: np.ndarray, rng: np.random.Generator, events_per_change: float = 6.0) -> np.ndarray:
    """A synthetic N-MNIST recording (structured events, time-sorted) of ``image`` [28, 28] in [0, 1]."""
    y, x = 3, 3  # the 28 x 28 digit starts centred on the 34 x 34 sensor
    previous, recording, now = _placed(image, y, x), [], 0
    for dy, dx in SACCADES:
        # out and back: the digit ends each saccade where it began
        for step in range(STEPS_PER_SACCADE):
            sign = 1 if step < STEPS_PER_SACCADE // 2 else -1
            y, x = y + sign * dy, x + sign * dx
            frame = _placed(image, y, x)
            recording.append(_change_events(frame - previous, now, rng, events_per_change))
            previous, now = frame, now + STEP_US
    events = np.concatenate(recording)
    return events[np.argsort(events["t"], kind="stable")]


def _placed(image: np.ndarray, y: int, x: int) -> np.ndarray:
    canvas = np.zeros(SENSOR[1:])
    top, left = max(0, y), max(0, x)
    bottom, right = min(SENSOR[1], y + 28), min(SENSOR[2], x + 28)
    canvas[top:bottom, left:right] = image[top - y:bottom - y, left - x:right - x]
    return canvas


def _change_events(change: np.ndarray, start: int, rng: np.random.Generator, per_change: float) -> np.ndarray:
    counts = rng.poisson(np.abs(change) * per_change)
    rows, cols = np.nonzero(counts)
    repeats = counts[rows, cols]
    events = empty_events(int(repeats.sum()))
    events["y"], events["x"] = np.repeat(rows, repeats), np.repeat(cols, repeats)
    events["p"] = np.repeat(change[rows, cols] > 0, repeats)
    events["t"] = start + rng.integers(0, STEP_US, len(events))
    return events


def write_nmnist_folder(directory: str | os.PathLike, images: np.ndarray, labels: np.ndarray, split: str,
                        seed: int = 0) -> Path:
    """Write ``saccade_events`` recordings of ``images`` [N, 28, 28] (0..1) as ``directory/split/<label>/<n>.bin``
    in N-MNIST's format; returns ``directory``."""
    rng = np.random.default_rng(seed)
    root = Path(directory)
    for number, (image, label) in enumerate(zip(images, labels)):
        folder = root / split / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{number:05d}.bin").write_bytes(encode_nmnist(saccade_events(image, rng)))
    return root
