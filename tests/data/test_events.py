"""Binning event recordings to time steps, against a plain loop; tonic interop on tonic-style arrays."""

import numpy as np
import pytest
import torch

from spikekit.data.events import EventSplit, empty_events, from_tonic
from spikekit.data.nmnist import SENSOR
from spikekit.errors import DataError


def _random_recordings(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    recordings = []
    for number in range(count):
        n = 0 if number == 3 else int(rng.integers(1, 400))  # one empty recording
        events = empty_events(n)
        events["x"], events["y"] = rng.integers(0, 34, n), rng.integers(0, 34, n)
        events["p"], events["t"] = rng.integers(0, 2, n), np.sort(rng.integers(0, 300_000, n))
        recordings.append(events)
    return recordings


def _loop_bins(events: np.ndarray, steps: int, mode: str, downsample: int, duration: int = 200_000) -> np.ndarray:
    side = -(-34 // downsample)
    frames = np.zeros((steps, 2 * side * side), dtype=np.float32)
    n = len(events)
    for k, (x, y, p, t) in enumerate(events[["x", "y", "p", "t"]].tolist()):
        if mode == "fixed":
            if t >= duration:
                continue
            step = t * steps // duration
        elif mode == "count":
            step = k * steps // n
        else:
            step = (t - int(events["t"][0])) * steps // (int(events["t"][-1]) - int(events["t"][0]) + 1)
        frames[step, (p * side + y // downsample) * side + x // downsample] = 1
    return frames


@pytest.mark.parametrize("mode", ["time", "count", "fixed"])
@pytest.mark.parametrize("steps, downsample", [(1, 1), (7, 1), (25, 2), (5, 3)])
def test_binning_matches_a_plain_loop(mode: str, steps: int, downsample: int) -> None:
    recordings = _random_recordings(12)  # 0..300 ms: a 200 ms window drops about a third of the events
    split = EventSplit.from_recordings(recordings, range(12), SENSOR)
    binned = split.binned(steps, mode, downsample, duration=200_000)
    index = torch.tensor([5, 3, 0, 11])
    dense = binned.dense(index).numpy()
    for column, number in enumerate(index.tolist()):
        assert np.array_equal(dense[:, column], _loop_bins(recordings[number], steps, mode, downsample))
    events = binned.events(index)
    assert events.shape == (steps, 4, dense.shape[2]) and events.num_spikes() == dense.sum()


def test_count_windows_hold_equal_numbers_of_events() -> None:
    events = empty_events(100)
    events["x"] = np.arange(100) % 34  # 100 events, all distinct inputs
    events["y"] = np.arange(100) // 34
    events["t"] = np.arange(100) ** 2  # bunched early in time
    binned = EventSplit.from_recordings([events], [0], SENSOR).binned(4, "count")
    assert binned.counts[0].tolist() == [25, 25, 25, 25]
    assert EventSplit.from_recordings([events], [0], SENSOR).binned(4, "time").counts[0, 0] > 25


def test_fixed_windows_have_integer_edges_from_time_zero() -> None:
    # 4 steps over 1 ms: [0, 250), [250, 500), [500, 750), [750, 1000) us; from t = 0, not the first event
    events = empty_events(8)
    events["x"] = np.arange(8)
    events["t"] = [249, 250, 499, 500, 749, 750, 999, 1000]
    binned = EventSplit.from_recordings([events], [0], (1, 1, 8)).binned(4, "fixed", duration=1000)
    assert binned.counts[0].tolist() == [1, 2, 2, 2]  # t = 1000 is past the window: dropped, not clipped
    assert binned.dense(slice(0, 1))[:, 0].nonzero().tolist() == [[0, 0], [1, 1], [1, 2], [2, 3], [2, 4],
                                                                    [3, 5], [3, 6]]
    late = events[events["t"] >= 500]  # the same times, starting later: the same steps, unlike mode "time"
    shifted = EventSplit.from_recordings([late], [0], (1, 1, 8)).binned(4, "fixed", duration=1000)
    assert shifted.counts[0].tolist() == [0, 0, 2, 2]
    assert EventSplit.from_recordings([late], [0], (1, 1, 8)).binned(4, "time").counts[0, 0] == 1
    uneven = EventSplit.from_recordings([events], [0], (1, 1, 8)).binned(3, "fixed", duration=1000)
    assert uneven.counts[0].tolist() == [2, 2, 3]  # step floor(3 t / 1000): [0, 334), [334, 667), [667, 1000)
    early = empty_events(2)
    early["x"], early["t"] = [1, 2], [-1, 0]  # before time zero: dropped too
    assert EventSplit.from_recordings([early], [0], (1, 1, 8)).binned(4, "fixed", duration=1000).pairs.tolist() == [2]
    with pytest.raises(ValueError, match="window must be an integer >= 1"):
        EventSplit.from_recordings([events], [0], (1, 1, 8)).binned(4, "fixed", duration=0)


def test_hold_out_keeps_each_recordings_spikes() -> None:
    recordings = _random_recordings(8, seed=1)
    binned = EventSplit.from_recordings(recordings, range(8), SENSOR).binned(5)
    head, tail = binned.hold_out(3)
    assert head.labels.tolist() == [0, 1, 2, 3, 4] and tail.labels.tolist() == [5, 6, 7]
    assert torch.equal(tail.dense(slice(0, 3)), binned.dense(slice(5, 8)))
    assert torch.equal(head.dense(slice(0, 5)), binned.dense(slice(0, 5)))
    with pytest.raises(ValueError, match="hold out"):
        binned.hold_out(8)


class _TonicStyle:
    """What a tonic dataset looks like to spikekit: a sequence of (structured events, label), sensor_size
    (width, height, polarities); polarity here in {-1, 1}, as some tonic datasets give it."""

    sensor_size = (34, 34, 2)

    def __init__(self, recordings: list[np.ndarray]) -> None:
        self.items = []
        for number, events in enumerate(recordings):
            tonic_events = np.zeros(len(events), dtype=[("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
            for name in ("x", "y", "t"):
                tonic_events[name] = events[name]
            tonic_events["p"] = np.where(events["p"] > 0, 1, -1)
            self.items.append((tonic_events, number % 10))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.items[index]


def test_from_tonic_bins_as_our_own_reader() -> None:
    recordings = _random_recordings(6, seed=2)
    ours = EventSplit.from_recordings(recordings, [n % 10 for n in range(6)], SENSOR).binned(9)
    wrapped = from_tonic(_TonicStyle(recordings)).binned(9)
    assert torch.equal(wrapped.labels, ours.labels)
    assert torch.equal(wrapped.dense(slice(0, 6)), ours.dense(slice(0, 6)))


def test_from_tonic_checks_what_it_reads() -> None:
    bad = _TonicStyle(_random_recordings(2))
    bad.items[1][0]["x"][0] = 40
    with pytest.raises(DataError, match="recording 1: 1 events with x outside 0..33"):
        from_tonic(bad)
    with pytest.raises(DataError, match="lack the fields p"):
        from_tonic([(np.zeros(2, dtype=[("x", "i8"), ("y", "i8"), ("t", "i8")]), 0)], sensor_size=(34, 34, 2))


def test_from_tonic_reads_one_dimensional_audio_events() -> None:
    # SHD / SSC as tonic gives them: (t, x, p) with p = 1, sensor_size (700, 1, 1): one channel of 700 inputs.
    rng = np.random.default_rng(5)
    items = []
    for label in range(3):
        n = int(rng.integers(5, 60))
        events = np.zeros(n, dtype=[("t", "<i8"), ("x", "<i8"), ("p", "<i8")])
        events["t"], events["x"], events["p"] = np.sort(rng.integers(0, 1_000_000, n)), rng.integers(0, 700, n), 1
        items.append((events, label))
    split = from_tonic(items, sensor_size=(700, 1, 1))
    assert split.sensor == (1, 1, 700)
    binned = split.binned(4)
    dense = binned.dense(slice(0, 3)).numpy()  # [T, B, 700]
    assert dense.shape == (4, 3, 700)
    for column, (events, _) in enumerate(items):
        expected = np.zeros((4, 700), dtype=np.float32)
        span = int(events["t"][-1] - events["t"][0]) + 1
        expected[(events["t"] - events["t"][0]) * 4 // span, events["x"]] = 1
        assert np.array_equal(dense[:, column], expected)
    from spikekit.nn.network import SNN
    network = SNN("32-20", input_shape=split.sensor)  # the fast engine's event-driven layer takes them as they are
    network(binned.events(slice(0, 3))).sum().backward()
    assert network.layers[0].linear.weight_t.grad.abs().sum() > 0  # the first layer holds W^T (InputMajorLinear)
    with pytest.raises(DataError, match="lack the fields y"):  # a 2-D sensor needs y
        from_tonic(items, sensor_size=(700, 2, 1))
    with pytest.raises(ValueError, match="each >= 1"):
        from_tonic(items, sensor_size=(700, 0, 1))


def test_from_tonic_on_a_real_tonic_array() -> None:
    tonic = pytest.importorskip("tonic", reason="tonic is not installed (pip install tonic)")
    events = tonic.io.make_structured_array(np.array([1, 5, 33]), np.array([2, 0, 33]), np.array([10, 20, 30]),
                                            np.array([1, 0, 1]))
    split = from_tonic([(events, 4)], sensor_size=(34, 34, 2))
    assert split.recording(0)["x"].tolist() == [1, 5, 33] and split.labels.tolist() == [4]
    assert split.binned(3).counts[0].tolist() == [1, 1, 1]
    # SHD's own event layout and sensor (tonic.datasets.SHD: dtype (t, x, p), p = 1, sensor (700, 1, 1)).
    shd = pytest.importorskip("tonic.datasets", reason="tonic.datasets does not import here").SHD
    audio = tonic.io.make_structured_array(np.array([10.0, 20.5]) * 1e6, np.array([3, 699]), 1, dtype=shd.dtype)
    split = from_tonic([(audio, 7)], sensor_size=shd.sensor_size)
    assert split.sensor == (1, 1, 700) and split.recording(0)["x"].tolist() == [3, 699]
    assert split.binned(2).dense(slice(0, 1))[:, 0].nonzero().tolist() == [[0, 3], [1, 699]]


@pytest.mark.parametrize("arch", ["16-10", "4c3-p2-10"])
def test_both_engines_agree_on_binned_event_batches(arch: str) -> None:
    """The fast engine eats the events (event-driven first layer, fully connected or conv); the reference
    the dense frames: same output counts and gradients (float64, so summation order cannot flip a spike)."""
    from spikekit.nn.network import SNN

    binned = EventSplit.from_recordings(_random_recordings(6, seed=3), range(6), SENSOR).binned(8)
    torch.manual_seed(0)
    fast = SNN(arch, engine="fast", input_shape=SENSOR).double()
    with torch.no_grad():  # stronger than the default init, so that the outputs fire from the start
        for parameter in fast.parameters():
            parameter.abs_().mul_(8.0)
    reference = SNN(arch, engine="reference", input_shape=SENSOR).double()
    reference.load_state_dict(fast.state_dict())
    counts = fast(binned.events(slice(0, 6)))
    expected = reference(binned.dense(slice(0, 6)).double())
    assert torch.equal(counts, expected) and counts.sum() > 0
    counts.square().sum().backward()
    expected.square().sum().backward()
    for (name, a), b in zip(fast.named_parameters(), reference.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-10, msg=name)


def test_binning_in_chunks_of_recordings_gives_the_same_spikes(monkeypatch: pytest.MonkeyPatch) -> None:
    import spikekit.data.events as events_module

    split = EventSplit.from_recordings(_random_recordings(20, seed=4), range(20), SENSOR)
    whole = split.binned(6, "count")
    monkeypatch.setattr(events_module, "BIN_CHUNK", 3)  # 7 chunks, the last one short
    chunked = split.binned(6, "count")
    assert np.array_equal(chunked.starts, whole.starts) and np.array_equal(chunked.pairs, whole.pairs)
