"""Figures: arrays in, matplotlib ``Figure`` out. Nothing here writes files or shows windows."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures are only ever saved by the CLI

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


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
