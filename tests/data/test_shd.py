"""SHD / SSC files: every field read back from hand-written files in the official layout, each broken file refused
in one line, and the binned spikes of a hand-written sample as computed by hand."""

import gzip
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from spikekit.data.shd import SENSOR, WINDOW_US, load_shd, load_shd_split, write_shd
from spikekit.errors import DataError

# Three samples as the official files hold them (float16 seconds, uint16 channels), the middle one silent.
# 0.01 s is not a float16: it is stored as 1311 / 2**17 s = 10002.136... us, read as 10002 us; 1023/1024 s is
# 999023.4375 us, read as 999023; 1.25 s lies past the 1 s window.
TIMES = [[0.0, 0.0, 0.01, 0.25, 0.5, 1023 / 1024, 1.25], [], [0.125]]
UNITS = [[3, 699, 3, 0, 12, 5, 6], [], [699]]
LABELS = [7, 0, 19]


def _write(path: Path, times=TIMES, units=UNITS, labels=LABELS, time_dtype=np.float16, unit_dtype=np.uint16) -> Path:
    """An HDF5 file in SHD's layout (``write_shd``) with an extra group (speakers) that the reader ignores."""
    write_shd(path, times, units, labels, time_dtype, unit_dtype)
    with h5py.File(path, "a") as file:
        file.create_dataset("extra/speaker", data=np.arange(len(labels), dtype=np.uint16))
    return path


def _refused(path: Path, match: str, name: str = "shd") -> None:
    with pytest.raises(DataError, match=match) as caught:
        load_shd_split(path, name)
    assert "\n" not in str(caught.value)


def test_every_field_is_read_back(tmp_path: Path) -> None:
    split = load_shd_split(_write(tmp_path / "shd_train.h5"))
    assert split.sensor == SENSOR == (1, 1, 700) and len(split) == 3
    assert split.offsets.tolist() == [0, 7, 7, 8] and split.labels.tolist() == LABELS
    assert split.labels.dtype == torch.int64
    first = split.recording(0)
    assert first["t"].tolist() == [0, 0, 10_002, 250_000, 500_000, 999_023, 1_250_000]
    assert first["x"].tolist() == UNITS[0]
    assert first["y"].tolist() == [0] * 7 and first["p"].tolist() == [0] * 7  # the one row, the one polarity
    assert len(split.recording(1)) == 0  # the silent sample
    assert split.recording(2)[["x", "t"]].tolist() == [(699, 125_000)]


def test_float64_seconds_and_signed_channels_read_too(tmp_path: Path) -> None:
    path = _write(tmp_path / "own.h5", times=[[0.0000014, 0.5]], units=[[1, 2]], labels=[3],
                  time_dtype=np.float64, unit_dtype=np.int32)
    assert load_shd_split(path).recording(0)[["x", "t"]].tolist() == [(1, 1), (2, 500_000)]


def test_binning_a_hand_written_sample(tmp_path: Path) -> None:
    binned = load_shd_split(_write(tmp_path / "shd_test.h5")).binned(4, "fixed", duration=WINDOW_US)
    dense = binned.dense(slice(0, 3))  # [T=4, B=3, 700], steps of 250 ms from t = 0
    expected = torch.zeros(4, 3, 700)
    # sample 0: channels 3 and 699 at 0 s, 3 again at 10 ms (one spike: inputs are binary), 0 at 250 ms,
    # 12 at 500 ms, 5 at 999 ms; channel 6 at 1.25 s is past the window, dropped. Sample 1: silent.
    for step, channel in ((0, 3), (0, 699), (1, 0), (2, 12), (3, 5)):
        expected[step, 0, channel] = 1
    expected[0, 2, 699] = 1  # sample 2: 125 ms
    assert torch.equal(dense, expected)
    assert binned.counts.tolist() == [[2, 1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 0]]
    # 10 ms steps: 10002 us is the second step, 999023 us the last
    fine = load_shd_split(tmp_path / "shd_test.h5").binned(100, "fixed", duration=WINDOW_US)
    assert fine.dense(slice(0, 1))[:, 0].nonzero().tolist() == [[0, 3], [0, 699], [1, 3], [25, 0], [50, 12],
                                                                 [99, 5]]


def test_load_shd_reads_train_and_test(tmp_path: Path) -> None:
    _write(tmp_path / "ssc_train.h5", labels=[34, 0, 1])
    _write(tmp_path / "ssc_test.h5", times=[[0.5]], units=[[1]], labels=[2])
    train, test = load_shd(tmp_path, "ssc")  # SSC's 35 classes
    assert train.labels.tolist() == [34, 0, 1] and test.recording(0)[["x", "t"]].tolist() == [(1, 500_000)]
    with pytest.raises(DataError, match="labels outside 0..19 .first: sample 0, label 34.*SSC 35"):
        load_shd_split(tmp_path / "ssc_train.h5")  # as SHD
    with pytest.raises(DataError, match=r"shd_train.h5: no such file; .*https://zenkelab.org/datasets/"):
        load_shd(tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        load_shd(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown data set 'tidigits'; choose one of shd, ssc"):
        load_shd_split(tmp_path / "ssc_test.h5", "tidigits")


def test_times_out_of_order_are_sorted_with_a_warning(tmp_path: Path) -> None:
    path = _write(tmp_path / "made.h5", times=[[0.5, 0.75], [0.5, 0.25, 0.25, 0.0]], units=[[1, 2], [4, 3, 5, 6]],
                  labels=[0, 1])
    with pytest.warns(UserWarning, match=r"made.h5: spike times out of order in 1 of 2 samples \(first: sample 1\)"):
        split = load_shd_split(path)
    # each spike keeps its channel; equal times keep their order in the file
    assert split.recording(1)[["x", "t"]].tolist() == [(6, 0), (3, 250_000), (5, 250_000), (4, 500_000)]
    assert split.recording(0)[["x", "t"]].tolist() == [(1, 500_000), (2, 750_000)]


@pytest.mark.parametrize(("times", "units", "labels", "match"), [
    ([[0.1, 0.2]], [[3, 700]], [0], r"1 spikes with a channel outside 0..699 \(first: sample 0, channel 700\)"),
    ([[0.1], [0.2]], [[3], [-1]], [0, 1], r"1 spikes with a channel outside 0..699 \(first: sample 1, channel -1\)"),
    ([[0.1], [-0.5]], [[3], [4]], [0, 1],
     r"1 spike times not finite or outside 0..9.0e\+09 s \(first: sample 1, t = -0.5 s\)"),
    ([[np.nan, 0.1]], [[3, 4]], [0], r"1 spike times not finite .*\(first: sample 0, t = nan s\)"),
    ([[0.1, np.inf]], [[3, 4]], [0], r"1 spike times not finite .*\(first: sample 0, t = inf s\)"),
    ([[0.1], [0.2]], [[3], [4]], [0, 20], r"1 labels outside 0..19 \(first: sample 1, label 20\)"),
    ([[0.1], [0.2]], [[3], [4]], [0], r"1 labels for 2 samples"),
    ([[0.1, 0.2], [0.3]], [[3, 4], [5, 6]], [0, 1],
     r"spikes/times and spikes/units differ in length in 1 samples \(first: sample 1, 1 times and 2 units\)"),
    ([[0.1], [0.2]], [[3]], [0, 1], r"2 samples in spikes/times but 1 in spikes/units"),
], ids=["channel-700", "channel-negative", "time-negative", "time-nan", "time-inf", "label-20", "label-count",
        "length-sample", "length-count"])
def test_bad_values_are_refused_in_one_line(tmp_path: Path, times, units, labels, match: str) -> None:
    path = _write(tmp_path / "bad.h5", times=times, units=units, labels=labels, time_dtype=np.float32,
                  unit_dtype=np.int32)
    _refused(path, "bad.h5: " + match)


def test_broken_files_are_refused_in_one_line(tmp_path: Path) -> None:
    _refused(tmp_path / "shd_train.h5", r"shd_train.h5: no such file; SHD and SSC come from "
                                        r"https://zenkelab.org/datasets/ .*gunzip")
    packed = tmp_path / "packed.h5"
    (tmp_path / "packed.h5.gz").write_bytes(gzip.compress(_write(tmp_path / "good.h5").read_bytes()))
    _refused(packed, r"packed.h5: no such file; gunzip .*packed.h5.gz first")
    _refused(tmp_path / "packed.h5.gz", r"packed.h5.gz: not an HDF5 file \(gzip-compressed: gunzip it first\)")
    (tmp_path / "text.h5").write_text("times,units\n0.1,3\n")
    _refused(tmp_path / "text.h5", r"text.h5: not an HDF5 file$")
    for key in ("labels", "spikes/units", "spikes"):
        path = _write(tmp_path / f"no-{key.replace('/', '-')}.h5")
        with h5py.File(path, "a") as file:
            del file[key]
        missing = "spikes/times" if key == "spikes" else key
        _refused(path, f"no dataset {missing} \\(an SHD/SSC file has spikes/times, spikes/units and labels\\)")
    with h5py.File(tmp_path / "dense.h5", "w") as file:  # a padded 2-D array instead of one array per sample
        file.create_dataset("spikes/times", data=np.zeros((2, 5), dtype=np.float16))
    _refused(tmp_path / "dense.h5", r"spikes/times holds float16 of shape \(2, 5\), not variable-length arrays")
    _refused(_write(tmp_path / "float-units.h5", unit_dtype=np.float32), "spikes/units holds float32, not integers")
    path = _write(tmp_path / "float-labels.h5")
    with h5py.File(path, "a") as file:
        del file["labels"]
        file.create_dataset("labels", data=np.array([0.0, 1.0, 2.0]))
    _refused(path, "labels are float64, not integers")
