"""Figures: arrays in, matplotlib ``Figure`` out. Nothing here writes files or shows windows."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever saved by the CLI

import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

# colors of the other state variables over V (tab:blue), apart from the threshold (gray) and spikes (tab:red)
OTHER_COLORS = ("tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:olive")


def encoding_figure(intensity: np.ndarray, spikes: np.ndarray, label: int | None = None) -> Figure:
    """The seed's picture of Poisson rate coding for one image.

    Args:
        intensity: pixel intensities in [0, 1], shape [784] (28 x 28, row-major).
        spikes: the encoded spike train, shape [T, 784], values in {0, 1}.
        label: the digit, for the title.
    Returns:
        a figure with three panels: the digit; the per-pixel spike count over T steps as a heat map
        (the image behind it is exactly ``spikes.sum(0)`` reshaped to 28 x 28); and a raster of
        pixel index against time step for the pixels that spiked at least once.
    """
    num_steps = spikes.shape[0]
    counts = spikes.sum(0).reshape(28, 28)
    figure = Figure(figsize=(13, 4), layout="constrained")
    digit_axes, heat_axes, raster_axes = figure.subplots(1, 3, width_ratios=[1, 1.2, 1.8])
    digit_axes.imshow(intensity.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
    digit_axes.set_title("input image" + (f" (label {label})" if label is not None else ""))
    digit_axes.set_xlabel("pixel column")
    digit_axes.set_ylabel("pixel row")
    heat = heat_axes.imshow(counts, cmap="inferno", vmin=0, vmax=num_steps)
    heat_axes.set_title(f"spike count per pixel over T={num_steps} steps")
    heat_axes.set_xlabel("pixel column")
    heat_axes.set_ylabel("pixel row")
    figure.colorbar(heat, ax=heat_axes, label="spikes")
    times, pixels = np.nonzero(spikes)
    raster_axes.scatter(times, pixels, s=2, marker="|", color="black")
    raster_axes.set_xlim(-0.5, num_steps - 0.5)
    raster_axes.set_ylim(0, spikes.shape[1])
    raster_axes.set_title(f"raster: {len(times)} input spikes")
    raster_axes.set_xlabel("time step")
    raster_axes.set_ylabel("pixel index (row-major)")
    return figure


def event_figure(frames: np.ndarray, label: int | None = None) -> Figure:
    """An event recording as the network sees it: ``frames`` [T, P, H, W] binary spikes after binning
    (P = 2 polarities: 1 ON, 0 OFF). Two panels: spikes per pixel over the T steps, ON in red and OFF in
    blue (each channel scaled to its own maximum; the image behind it is exactly ``frames.sum(0)``), and a
    raster of input index (polarity, row, column, flattened) against time step, colored by polarity."""
    num_steps, polarities, height, width = frames.shape
    counts = frames.sum(0)
    rgb = np.zeros((height, width, 3))
    for channel, color in ((1, 0), (0, 2)):  # ON -> red, OFF -> blue
        if channel < polarities and counts[channel].max() > 0:
            rgb[..., color] = counts[channel] / counts[channel].max()
    figure = Figure(figsize=(11, 4), layout="constrained")
    image_axes, raster_axes = figure.subplots(1, 2, width_ratios=[1, 1.8])
    image_axes.imshow(rgb)
    image_axes.set_title("spikes per pixel: ON red, OFF blue" + (f" (label {label})" if label is not None else ""))
    image_axes.set_xlabel("pixel column")
    image_axes.set_ylabel("pixel row")
    steps, channels, rows, cols = np.nonzero(frames)
    index = (channels * height + rows) * width + cols
    for channel, color, name in ((1, "red", "ON"), (0, "blue", "OFF")):
        chosen = channels == channel
        raster_axes.scatter(steps[chosen], index[chosen], s=2, marker="|", color=color, label=name)
    raster_axes.set_xlim(-0.5, num_steps - 0.5)
    raster_axes.set_ylim(0, polarities * height * width)
    raster_axes.set_title(f"raster: {len(steps)} input spikes in T={num_steps} bins")
    raster_axes.set_xlabel("time bin")
    raster_axes.set_ylabel("input index (polarity, row, column)")
    raster_axes.legend(loc="upper right", fontsize="small")
    return figure


def training_curves(history: list[dict]) -> Figure:
    """Loss and accuracy per epoch from metrics.jsonl records (keys ``epoch``, ``train_loss``,
    ``train_accuracy``, ``test_accuracy``, and ``val_accuracy`` if the run had one): two panels, accuracies
    in percent."""
    epochs = [record["epoch"] for record in history]
    figure, loss_axes, accuracy_axes = _epoch_panels("training loss", "accuracy")
    loss_axes.plot(epochs, [r["train_loss"] for r in history], marker="o", label="train loss")
    for key, name in (("train_accuracy", "train"), ("val_accuracy", "validation"), ("test_accuracy", "test")):
        if history and key in history[0]:  # validation only in runs with --val
            accuracy_axes.plot(epochs, [100 * r[key] for r in history], marker="o", label=name)
    _finish_epoch_axes(loss_axes, accuracy_axes)
    return figure


def accuracy_over_time(history: list[dict]) -> Figure:
    """Test (and validation) accuracy against the run's time so far, in minutes: each epoch's training and
    evaluation seconds added up (metrics.jsonl's ``seconds`` and ``eval_seconds``)."""
    minutes = np.cumsum([record.get("seconds", 0.0) + record.get("eval_seconds", 0.0) for record in history]) / 60
    figure = Figure(figsize=(6, 3.8), layout="constrained")
    axes = figure.subplots()
    for key, name in (("val_accuracy", "validation"), ("test_accuracy", "test")):
        if history and key in history[0]:
            axes.plot(minutes, [100 * r[key] for r in history], marker="o", label=name)
    axes.set_title("accuracy against time")
    axes.set_xlabel("minutes of training and evaluation")
    axes.set_ylabel("accuracy (%)")
    axes.grid(alpha=0.3)
    axes.legend()
    return figure


def sequence_figure(intensity: np.ndarray, sequence: np.ndarray, label: int | None = None) -> Figure:
    """An image read as a sequence (S-MNIST, PS-MNIST): the digit, intensity [784], and the value the network
    sees at each step, sequence [T]."""
    figure = Figure(figsize=(12, 3.6), layout="constrained")
    digit_axes, line_axes = figure.subplots(1, 2, width_ratios=[1, 3])
    digit_axes.imshow(intensity.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
    digit_axes.set_title("input image" + (f" (label {label})" if label is not None else ""))
    line_axes.plot(np.arange(len(sequence)), sequence, linewidth=0.8, color="black")
    line_axes.set_title(f"the input, one pixel a step over T={len(sequence)} steps")
    line_axes.set_xlabel("time step")
    line_axes.set_ylabel("pixel intensity")
    return figure


def _epoch_panels(left: str, right: str, left_unit: str = "cross-entropy of spike counts (nats)",
                  right_unit: str = "accuracy (%)") -> tuple[Figure, Axes, Axes]:
    """A figure of two panels over epochs, titled ``left`` and ``right``, their y axes labelled."""
    figure = Figure(figsize=(11, 3.8), layout="constrained")
    left_axes, right_axes = figure.subplots(1, 2)
    for axes, title, unit in ((left_axes, left, left_unit), (right_axes, right, right_unit)):
        axes.set_title(title)
        axes.set_ylabel(unit)
    return figure, left_axes, right_axes


def _finish_epoch_axes(*panels: Axes, fontsize: str | None = None) -> None:
    for axes in panels:
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        axes.legend(fontsize=fontsize)


def seed_curves(histories: dict[int, list[dict]]) -> Figure:
    """Several seeds' runs overlaid: training loss and test accuracy (validation dashed, when there is one)
    per epoch, one color per seed, from each run's metrics.jsonl records."""
    figure, loss_axes, accuracy_axes = _epoch_panels("training loss", "accuracy per seed")
    for index, (seed, history) in enumerate(sorted(histories.items())):
        color = f"C{index % 10}"
        epochs = [record["epoch"] for record in history]
        loss_axes.plot(epochs, [r["train_loss"] for r in history], marker=".", color=color, label=f"seed {seed}")
        accuracy_axes.plot(epochs, [100 * r["test_accuracy"] for r in history], marker=".", color=color,
                           label=f"seed {seed} test")
        if history and "val_accuracy" in history[0]:
            accuracy_axes.plot(epochs, [100 * r["val_accuracy"] for r in history], linestyle="--", color=color,
                               label=f"seed {seed} validation")
    _finish_epoch_axes(loss_axes, accuracy_axes, fontsize="small")
    return figure


def raster_figure(layers: list[np.ndarray], names: list[str], title: str = "") -> Figure:
    """One spike raster per layer for one sample: ``layers[i]`` is [T, N_i] in {0, 1}; neuron index
    against time step, a dot per spike."""
    figure = Figure(figsize=(11, 1.2 + 1.9 * len(layers)), layout="constrained")
    axes_list = np.atleast_1d(figure.subplots(len(layers), 1, sharex=True, height_ratios=[
        max(1.0, np.log2(layer.shape[1])) for layer in layers]))
    for axes, spikes, name in zip(axes_list, layers, names):
        times, neurons = np.nonzero(spikes)
        axes.scatter(times, neurons, s=4, marker="|", color="black")
        axes.set_ylim(-0.5, spikes.shape[1] - 0.5)
        axes.set_ylabel(f"{name}\nneuron")
        axes.set_title(f"{name}: {len(times)} spikes", fontsize=9, loc="left")
    axes_list[-1].set_xlim(-0.5, layers[0].shape[0] - 0.5)
    axes_list[-1].set_xlabel("time step")
    if title:
        figure.suptitle(title)
    return figure


def membrane_figure(membrane: np.ndarray, spikes: np.ndarray, thresholds: np.ndarray | list[float], names: list[str],
                    others: dict[str, np.ndarray] | None = None) -> Figure:
    """Membrane traces of K neurons, a panel each, with their thresholds, spikes and other state variables.

    Args:
        membrane: V before the reset, [T, K] (in threshold units, as the neurons' state).
        spikes: [T, K] in {0, 1}.
        thresholds: the threshold each step's V is compared with, [K] or [T, K] (broadcast as numpy does). A
            neuron's fixed threshold is a dashed horizontal line; one that moves (an adaptive neuron's) a dashed
            line over time, "adaptive threshold". Spikes are red markers on the threshold at their steps.
        names: the K panels' labels.
        others: more traces drawn over V in V's units (a synaptic current), label -> [T, K]; a neuron without
            such a variable has NaN in its column and no such line in its panel.
    """
    num_steps, count = membrane.shape
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=float), membrane.shape)
    figure = Figure(figsize=(11, 1.0 + 1.3 * count), layout="constrained")
    axes_list = np.atleast_1d(figure.subplots(count, 1, sharex=True))
    steps = np.arange(num_steps)
    for index, (axes, name) in enumerate(zip(axes_list, names)):
        threshold, fired = thresholds[:, index], spikes[:, index] > 0
        axes.plot(steps, membrane[:, index], color="tab:blue", lw=1.2, label="membrane V")
        for number, (label, values) in enumerate((others or {}).items()):
            if not np.isnan(values[:, index]).all():  # zorder below V's 2: V stays on top where they cross
                axes.plot(steps, values[:, index], color=OTHER_COLORS[number % len(OTHER_COLORS)], lw=1.0,
                          zorder=1.9, label=label)
        if np.all(threshold == threshold[0]):
            axes.axhline(threshold[0], color="gray", ls="--", lw=1, label="threshold")
        else:
            axes.plot(steps, threshold, color="gray", ls="--", lw=1, label="adaptive threshold")
        axes.plot(steps[fired], threshold[fired], "v", color="tab:red", label="spike")
        axes.set_ylabel(f"{name}\nV")
    legend = {}  # label -> handle, first seen first: the union of the panels' lines
    for axes in axes_list:
        for handle, label in zip(*axes.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    # at most 3 columns: a wider legend reaches the centre, where a caller's suptitle goes
    figure.legend(list(legend.values()), list(legend), loc="outside upper right", fontsize=8, ncols=min(3, len(legend)))
    axes_list[-1].set_xlabel("time step")
    return figure


def rate_histograms(rates: list[np.ndarray], names: list[str]) -> Figure:
    """Histogram of per-neuron firing rates (spikes per neuron per step, in [0, 1]) for each layer."""
    figure = Figure(figsize=(5 * len(rates), 3.6), layout="constrained")
    axes_list = np.atleast_1d(figure.subplots(1, len(rates)))
    for axes, layer_rates, name in zip(axes_list, rates, names):
        axes.hist(layer_rates, bins=np.linspace(0, 1, 26), color="tab:purple", edgecolor="white")
        axes.set_xlabel("firing rate (spikes per neuron per step)")
        axes.set_ylabel("neurons")
        axes.set_title(f"{name}: mean {np.mean(layer_rates):.3f}, silent {np.mean(layer_rates == 0):.0%}")
    return figure


def sparsity_over_epochs(history: list[dict]) -> Figure:
    """Per-layer fraction of zero entries in the spike tensors (test set) and silent neurons, per epoch."""
    epochs = [record["epoch"] for record in history]
    num_layers = len(history[0]["firing_rate"]) if history else 0
    figure, zero_axes, silent_axes = _epoch_panels("sparsity: entries with no spike", "silent neurons",
                                                   "zero entries of spikes[T, B, N] (%)",
                                                   "neurons silent on the whole test set (%)")
    for layer in range(num_layers):
        zero_axes.plot(epochs, [100 * r["sparsity"]["zero_fraction"][layer] for r in history], marker="o",
                       label=f"layer {layer + 1}")
        silent_axes.plot(epochs, [100 * r["sparsity"]["silent_fraction"][layer] for r in history], marker="o",
                         label=f"layer {layer + 1}")
    _finish_epoch_axes(zero_axes, silent_axes)
    return figure


def confusion_figure(matrix: np.ndarray) -> Figure:
    """Confusion matrix [true, predicted] of counts, annotated; the image data is ``matrix`` itself."""
    figure = Figure(figsize=(6.4, 5.6), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    for (true, predicted), count in np.ndenumerate(matrix):
        if count:
            axes.text(predicted, true, str(count), ha="center", va="center", fontsize=7,
                      color="white" if count > matrix.max() / 2 else "black")
    axes.set_xticks(range(matrix.shape[1]))
    axes.set_yticks(range(matrix.shape[0]))
    axes.set_xlabel("predicted digit")
    axes.set_ylabel("true digit")
    axes.set_title(f"confusion matrix ({matrix.sum()} test images)")
    figure.colorbar(image, ax=axes, label="images")
    return figure


def wrong_digits_figure(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray,
                        confidence: np.ndarray) -> Figure:
    """The given misclassified digits ([K, H*W] intensities in [0, 1], square images: 28 x 28 for MNIST)
    titled with true/predicted label and the softmax confidence of the prediction."""
    count = max(1, len(images))
    figure = Figure(figsize=(1.7 * count, 2.3), layout="constrained")
    axes_list = np.atleast_1d(figure.subplots(1, count))
    for axes, image, label, guess, sure in zip(axes_list, images, labels, predicted, confidence):
        side = int(round(np.sqrt(image.size)))
        axes.imshow(image.reshape(side, side), cmap="gray", vmin=0, vmax=1)
        axes.set_title(f"true {label}, said {guess}\n{100 * sure:.1f}% sure", fontsize=9)
        axes.set_axis_off()
    if not len(images):
        axes_list[0].set_axis_off()
        axes_list[0].set_title("no misclassified digits")
    return figure
