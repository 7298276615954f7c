"""N-MNIST's .bin format: hand-written bytes, every field and bit boundary, and every way a file can be bad."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spikekit.data.events import empty_events
from spikekit.data.nmnist import SENSOR, decode_nmnist, encode_nmnist, load_nmnist, load_nmnist_split
from spikekit.errors import DataError

# Most folders here hold a few labels only, on purpose; the warning for the others is tested below.
pytestmark = pytest.mark.filterwarnings("ignore:.*no recordings for label:UserWarning")


def _events(*rows: tuple[int, int, int, int]) -> np.ndarray:
    events = empty_events(len(rows))
    for i, (x, y, p, t) in enumerate(rows):
        events[i] = (x, y, p, t)
    return events


def test_every_field_from_hand_written_bytes() -> None:
    data = bytes([
        0, 0, 0x00, 0x00, 0x00,  # x 0, y 0, OFF, t 0
        33, 5, 0x80, 0x00, 0x01,  # x 33, y 5, ON (top bit), t 1
        7, 33, 0x01, 0x00, 0x00,  # t 2**16: the lowest timestamp bit of byte 2
        1, 2, 0x7F, 0xFF, 0xFF,  # OFF, t 2**23 - 1: every timestamp bit set, polarity clear
    ])
    events = decode_nmnist(data)
    assert events["x"].tolist() == [0, 33, 7, 1] and events["y"].tolist() == [0, 5, 33, 2]
    assert events["p"].tolist() == [0, 1, 0, 0]
    assert events["t"].tolist() == [0, 1, 2**16, 2**23 - 1]
    assert encode_nmnist(events) == data


def test_polarity_and_the_top_timestamp_bits_do_not_mix() -> None:
    events = decode_nmnist(bytes([3, 4, 0xFF, 0xFF, 0xFF]))  # ON and t = 2**23 - 1
    assert (events["p"][0], events["t"][0]) == (1, 2**23 - 1)


def test_an_empty_file_is_a_recording_without_events() -> None:
    assert len(decode_nmnist(b"")) == 0


@pytest.mark.parametrize("data, message", [
    (bytes(6), "6 bytes is not a whole number of 5-byte events"),
    (bytes([34, 0, 0, 0, 0]), "x outside 0..33"),
    (bytes([0, 40, 0, 0, 0]), "y outside 0..33"),
    (bytes([0, 0, 0, 0, 9, 0, 0, 0, 0, 3]), "timestamps go backwards at 1 events (first: event 1, t = 3 after 9"),
])
def test_bad_files_raise_naming_the_file(data: bytes, message: str, tmp_path: Path) -> None:
    path = tmp_path / "Train" / "4" / "00001.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    with pytest.raises(DataError, match="00001.bin") as error:
        load_nmnist_split(tmp_path / "Train", progress=False)
    assert message in str(error.value)


@given(st.lists(st.tuples(st.integers(0, 33), st.integers(0, 33), st.integers(0, 1), st.integers(0, 2**23 - 1)),
                max_size=40))
def test_encode_decode_round_trip(rows: list[tuple[int, int, int, int]]) -> None:
    rows = sorted(rows, key=lambda row: row[3])
    events = _events(*rows)
    assert np.array_equal(decode_nmnist(encode_nmnist(events)), events)


def test_folders_are_read_with_labels_interleaved(tmp_path: Path) -> None:
    for split in ("Train", "Test"):
        for label in (2, 7):
            for number in range(3):
                folder = tmp_path / split / str(label)
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{number}.bin").write_bytes(encode_nmnist(_events((label, number, 1, 10 * number))))
    train, test = load_nmnist(tmp_path)
    assert train.labels.tolist() == [2, 7, 2, 7, 2, 7] and len(test) == 6
    assert train.recording(1)["x"].tolist() == [7] and train.recording(2)["y"].tolist() == [1]
    assert train.sensor == SENSOR


def test_missing_folders_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_nmnist(tmp_path / "nowhere")
    (tmp_path / "Train").mkdir()
    with pytest.raises(DataError, match="no <label>/\\*.bin recordings"):
        load_nmnist(tmp_path)


def test_unknown_label_folders_are_refused_and_missing_labels_warned(tmp_path: Path) -> None:
    for label in ("3", "cat", "10"):
        folder = tmp_path / "Train" / label
        folder.mkdir(parents=True)
        (folder / "0.bin").write_bytes(encode_nmnist(_events((1, 1, 1, 10))))
    (tmp_path / "Train" / "7").mkdir()  # empty
    with pytest.raises(DataError, match="recordings in folders that are not labels 0..9: 10, cat; move or remove"):
        load_nmnist_split(tmp_path / "Train", progress=False)
    for label in ("cat", "10"):
        (tmp_path / "Train" / label / "0.bin").unlink()
    with pytest.warns(UserWarning, match=r"no recordings for labels 0, 1, 2, 4, 5, 6, 7, 8, 9 \(missing or empty"):
        split = load_nmnist_split(tmp_path / "Train", progress=False)
    assert split.labels.tolist() == [3]
