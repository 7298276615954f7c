"""Each figure draws what it claims: labelled axes, the right number of panels, the data behind images."""

import numpy as np
import pytest

from spikekit import plots

HISTORY = [
    {"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.8 + 0.05 * e, "test_accuracy": 0.79 + 0.05 * e,
     "firing_rate": [0.3, 0.05], "sparsity": {"zero_fraction": [0.7, 0.95], "silent_fraction": [0.01 * e, 0.0]},
     "seconds": 5.0} for e in (1, 2, 3)
]


def _labelled(axes) -> bool:
    return bool(axes.get_xlabel()) and bool(axes.get_ylabel())


def test_encoding_heat_map_shows_the_spike_counts() -> None:
    rng = np.random.default_rng(0)
    intensity = rng.uniform(0, 1, 784)
    spikes = (rng.uniform(0, 1, (30, 784)) < intensity).astype(np.float32)
    figure = plots.encoding_figure(intensity, spikes, label=4)
    digit, heat, raster = figure.axes[:3]
    assert np.array_equal(heat.images[0].get_array(), spikes.sum(0).reshape(28, 28))
    assert np.allclose(digit.images[0].get_array(), intensity.reshape(28, 28))
    assert len(raster.collections[0].get_offsets()) == spikes.sum()
    assert all(_labelled(axes) for axes in (digit, heat, raster))


def test_training_curves_plot_the_history() -> None:
    loss, accuracy = plots.training_curves(HISTORY).axes
    assert list(loss.lines[0].get_ydata()) == [r["train_loss"] for r in HISTORY]
    assert [list(line.get_ydata()) for line in accuracy.lines] == [
        [100 * r[key] for r in HISTORY] for key in ("train_accuracy", "test_accuracy")]
    assert _labelled(loss) and accuracy.get_ylabel() == "accuracy (%)"


def test_validation_is_drawn_when_the_run_had_one() -> None:
    history = [record | {"val_accuracy": 0.5 + 0.1 * record["epoch"]} for record in HISTORY]
    _, accuracy = plots.training_curves(history).axes
    assert [line.get_label() for line in accuracy.lines] == ["train", "validation", "test"]
    assert list(accuracy.lines[1].get_ydata()) == pytest.approx([60, 70, 80])


def test_seed_curves_overlay_one_line_per_seed() -> None:
    shifted = [record | {"test_accuracy": record["test_accuracy"] - 0.01, "val_accuracy": 0.9} for record in HISTORY]
    loss, accuracy = plots.seed_curves({7: HISTORY, 2: shifted}).axes
    assert [line.get_label() for line in loss.lines] == ["seed 2", "seed 7"]
    assert [line.get_label() for line in accuracy.lines] == ["seed 2 test", "seed 2 validation", "seed 7 test"]
    assert list(accuracy.lines[2].get_ydata()) == [100 * r["test_accuracy"] for r in HISTORY]
    assert loss.lines[0].get_color() == accuracy.lines[0].get_color() == accuracy.lines[1].get_color()
    assert all(_labelled(axes) for axes in (loss, accuracy))


def test_one_raster_per_layer_with_one_dot_per_spike() -> None:
    rng = np.random.default_rng(1)
    layers = [(rng.uniform(0, 1, (20, n)) < 0.2).astype(np.float32) for n in (784, 128, 10)]
    figure = plots.raster_figure(layers, ["input", "hidden", "output"], "digit")
    assert len(figure.axes) == 3
    for axes, spikes in zip(figure.axes, layers):
        assert len(axes.collections[0].get_offsets()) == spikes.sum()
        assert axes.get_ylabel().endswith("neuron")
    assert figure.axes[-1].get_xlabel() == "time step"


def test_membrane_traces_mark_threshold_and_spikes() -> None:
    membrane = np.array([[0.2, 0.5], [1.2, 0.9], [0.4, 1.1]])
    spikes = (membrane >= [1.0, 0.8]).astype(np.float32)
    figure = plots.membrane_figure(membrane, spikes, [1.0, 0.8], ["a", "b"])
    for axes, trace, fired, threshold in zip(figure.axes, membrane.T, spikes.T, [1.0, 0.8]):
        voltage, line, markers = axes.lines
        assert np.array_equal(voltage.get_ydata(), trace)
        assert list(line.get_ydata()) == [threshold, threshold]
        assert list(markers.get_xdata()) == list(np.nonzero(fired)[0])


def test_membrane_figure_draws_a_moving_threshold_and_other_state_where_a_neuron_has_them() -> None:
    membrane = np.array([[0.2, 0.5], [1.2, 0.9], [0.4, 1.1]])
    thresholds = np.array([[1.0, 0.8], [1.0, 0.8], [1.1, 0.8]])  # the first neuron's rises after its spike
    spikes = (membrane >= thresholds).astype(np.float32)
    current = np.array([[np.nan, 0.4], [np.nan, 0.7], [np.nan, 1.3]])  # only the second neuron has one
    figure = plots.membrane_figure(membrane, spikes, thresholds, ["a", "b"], {"synaptic current J": current})
    moving, fixed = figure.axes
    assert [line.get_label() for line in moving.lines] == ["membrane V", "adaptive threshold", "spike"]
    assert np.array_equal(moving.lines[1].get_ydata(), thresholds[:, 0])
    assert list(moving.lines[2].get_xdata()) == [1] and list(moving.lines[2].get_ydata()) == [1.0]
    assert [line.get_label() for line in fixed.lines] == ["membrane V", "synaptic current J", "threshold", "spike"]
    assert np.array_equal(fixed.lines[1].get_ydata(), current[:, 1])
    assert list(fixed.lines[2].get_ydata()) == [0.8, 0.8]
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["membrane V", "adaptive threshold", "spike", "synaptic current J", "threshold"]


def test_rate_histograms_count_every_neuron() -> None:
    rates = [np.linspace(0, 1, 128), np.zeros(10)]
    figure = plots.rate_histograms(rates, ["hidden", "output"])
    for axes, layer_rates in zip(figure.axes, rates):
        assert sum(patch.get_height() for patch in axes.patches) == len(layer_rates)
        assert _labelled(axes)
    assert "silent 100%" in figure.axes[1].get_title()


def test_sparsity_over_epochs_has_a_line_per_layer() -> None:
    zero, silent = plots.sparsity_over_epochs(HISTORY).axes
    assert len(zero.lines) == len(silent.lines) == 2
    assert list(silent.lines[0].get_ydata()) == pytest.approx([1.0, 2.0, 3.0])


def test_confusion_image_is_the_matrix() -> None:
    matrix = np.arange(100).reshape(10, 10)
    axes = plots.confusion_figure(matrix).axes[0]
    assert np.array_equal(axes.images[0].get_array(), matrix)
    assert axes.get_xlabel() == "predicted digit" and axes.get_ylabel() == "true digit"


def test_wrong_digits_one_panel_each() -> None:
    images = np.random.default_rng(2).uniform(0, 1, (3, 784))
    figure = plots.wrong_digits_figure(images, np.array([1, 2, 3]), np.array([7, 7, 8]), np.array([0.9, 0.8, 0.7]))
    assert [axes.get_title() for axes in figure.axes] == [
        "true 1, said 7\n90.0% sure", "true 2, said 7\n80.0% sure", "true 3, said 8\n70.0% sure"]
