"""The run report: every figure of a trained network and one self-contained HTML page that shows them.

``build_report`` evaluates the model on the test set and returns figures and the page text; it writes
nothing (the CLI saves ``<name>.png`` files beside ``index.html``, which refers to them by name).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from spikekit import plots
from spikekit.config import ModelConfig, RunConfig
from spikekit.data.encoding import poisson_encode
from spikekit.data.events import BinnedSplit
from spikekit.data.mnist import Split
from spikekit.data.smnist import SequenceSplit
from spikekit.dynamics.neuron import model_of, pack
from spikekit.metrics import ENERGY_PJ, ComputeCost, compute_cost, confusion_matrix
from spikekit.nn.layer import LayerTrace
from spikekit.nn.network import SNN, SPIKING
from spikekit.nn.neurons import NEURONS
from spikekit.nn.readout import window_steps
from spikekit.train.loop import Evaluation, evaluate
from spikekit.train.rng import keyed_generator

NUM_DIGITS = 3  # test digits shown as rasters and membrane traces
NUM_WRONG = 8  # most confidently wrong digits shown


class Report(NamedTuple):
    figures: dict[str, Figure]  # file stem -> figure; the page shows "<stem>.png"
    html: str
    evaluation: Evaluation
    cost: ComputeCost


def build_report(model: SNN, config: RunConfig, history: list[dict], test: Split,
                 on_batch: Callable[[int, int], None] | None = None) -> Report:
    """Evaluate ``model`` on ``test`` (progress through ``on_batch(done, total)``) and draw everything."""
    evaluation = evaluate(model, test, config.train.for_evaluation(), on_batch)
    names = [f"layer {i + 1} ({n})" for i, n in enumerate(model.sizes[1:])]
    figures: dict[str, Figure] = {}
    if history:
        figures["training_curves"] = plots.training_curves(history)
        figures["sparsity_over_epochs"] = plots.sparsity_over_epochs(history)
        figures["accuracy_over_time"] = plots.accuracy_over_time(history)
    if isinstance(test, SequenceSplit):
        figures["encoding"] = plots.sequence_figure(test.images[0].float().numpy() / 255,
                                                    test.inputs(slice(0, 1))[:, 0, 0].numpy(), int(test.labels[0]))
    elif isinstance(test, BinnedSplit):
        figures["encoding"] = plots.event_figure(test.frames(0), int(test.labels[0]))
    else:
        intensity0 = test.intensity(slice(0, 1))
        spikes0 = poisson_encode(intensity0, config.train.num_steps, keyed_generator(config.train.seed, "report", 0))
        figures["encoding"] = plots.encoding_figure(intensity0[0].numpy(), spikes0[:, 0].numpy(), int(test.labels[0]))
    for index in range(min(NUM_DIGITS, len(test.labels))):
        figures.update(_digit_figures(model, config, test, index, names))
    figures["firing_rates"] = plots.rate_histograms([r.numpy() for r in evaluation.neuron_rates], names)
    matrix = confusion_matrix(evaluation.counts, test.labels, model.sizes[-1])
    figures["confusion"] = plots.confusion_figure(matrix.numpy())
    figures["most_confidently_wrong"] = _wrong_figure(evaluation.counts, test)
    cost = compute_cost(evaluation.input_rate, evaluation.firing_rate, model.sizes, config.train.num_steps,
                        model.ann_macs())
    kinds = (model_of(model.spiking_layers[0].params).name, model_of(model.spiking_layers[-1].params).name)
    captions = {name: _caption(name, kinds) for name in figures}
    return Report(figures, _page(config, history, evaluation, cost, captions, len(test.labels)), evaluation, cost)


def _digit_figures(model: SNN, config: RunConfig, test: Split, index: int, names: list[str]) -> dict[str, Figure]:
    spikes = _input_spikes(test, index, config)
    traces = model.trace(spikes)
    label = int(test.labels[index])
    # the scores: the output's spike counts, or (leaky readout) its mean membrane over the window's last steps
    last = window_steps(len(spikes), model.readout_window)
    scores = traces[-1].membrane[-last:, 0].mean(0) if model.readout == "leaky" else traces[-1].spikes[:, 0].sum(0)
    predicted = int(scores.argmax())
    layers = [spikes[:, 0].numpy()] + [trace.spikes[:, 0].numpy() for trace in traces]
    title = f"test digit {index}: label {label}, predicted {predicted}"
    raster = plots.raster_figure(layers, [f"input ({model.sizes[0]} pixels)", *names], title)
    hidden, output = traces[0], traces[-1]
    counts = hidden.spikes[:, 0].sum(0)
    active = counts.argsort(descending=True)[:int((counts > 0).sum())].tolist() or [0]
    busiest = [active[0], active[len(active) // 2], active[-1]]  # most, median and least active that fired
    ranked = scores.argsort(descending=True)[:2].tolist()
    shapes = [shape for layer, shape in zip(model.layers, model.shapes) if isinstance(layer, SPIKING)]
    shown = _joined([_rows(model.spiking_layers[0], shapes[0], hidden, busiest),
                     _rows(model.spiking_layers[-1], shapes[-1], output, ranked)])
    rows = [f"hidden {n}" for n in busiest] + [f"output {n} (digit {n})" for n in ranked]
    traces_figure = plots.membrane_figure(shown.membrane, shown.spikes, shown.thresholds, rows, shown.others)
    traces_figure.suptitle(title)
    return {f"raster_{index}": raster, f"membrane_{index}": traces_figure}


def _previous(values: Tensor) -> Tensor:
    """values[t-1] at each step t of [T, ...] values, at rest (0) before the first step."""
    return torch.cat([torch.zeros_like(values[:1]), values[:-1]])


def _fixed_threshold(state: Any, constants: dict[str, Tensor]) -> Tensor:
    """Each neuron's threshold at every step, [T, B, N]."""
    return constants["threshold"].expand_as(state.membrane)


# What the membrane figure draws for a model beside V_pre[t], from its trace's state (after each step, every
# field [T, B, N]) and its constants ([N] each, by name); a model in neither table shows V and its fixed threshold.
# The threshold V_pre[t] is compared with, where it moves: ALIF's theta + beta * a[t-1] (spikekit.dynamics.alif).
MOVING_THRESHOLDS: dict[str, Callable[[Any, dict[str, Tensor]], Tensor]] = {
    "alif": lambda state, constants: constants["threshold"] + constants["beta"] * _previous(state.adaptation),
    # BRF's threshold + q[t-1] (spikekit.dynamics.brf)
    "brf": lambda state, constants: constants["threshold"] + _previous(state.refractory),
}
# Other state variables in V's units, by legend label: CubaLIF's synaptic current J (spikekit.dynamics.cuba),
# adLIF's adaptation current w (spikekit.dynamics.adlif).
OTHER_LINES: dict[str, Callable[[Any], dict[str, Tensor]]] = {
    "cuba": lambda state: {"synaptic current J": state.synaptic},
    "adlif": lambda state: {"adaptation current w": state.adaptation},
    "brf": lambda state: {"imaginary part v": state.quadrature},  # BRF's membrane is u + i v
}


class _Rows(NamedTuple):  # some neurons of one layer as plots.membrane_figure takes them, sample 0 of a trace
    membrane: np.ndarray  # [T, K]
    spikes: np.ndarray  # [T, K]
    thresholds: np.ndarray  # [T, K], float64
    others: dict[str, np.ndarray]  # label -> [T, K]


def _rows(layer: nn.Module, shape: tuple[int, ...], trace: LayerTrace, neurons: list[int]) -> _Rows:
    """Neurons ``neurons`` (indices into the flattened [N]) of a spiking layer of shape ``shape``, from its trace."""
    params = layer.params
    model = model_of(params)
    with torch.no_grad():  # learned constants carry a graph; float64 keeps a float threshold exact
        constants = dict(zip(model.constants, pack(params, shape, torch.empty(0, dtype=torch.float64))))
    state = model.state(*(value.double() for value in trace.state))  # as the float64 constants
    thresholds = MOVING_THRESHOLDS.get(model.name, _fixed_threshold)(state, constants)
    others = OTHER_LINES.get(model.name, lambda _: {})(state)
    return _Rows(trace.membrane[:, 0, neurons].numpy(), trace.spikes[:, 0, neurons].numpy(),
                 thresholds[:, 0, neurons].numpy(), {label: values[:, 0, neurons].numpy()
                                                     for label, values in others.items()})


def _joined(parts: list[_Rows]) -> _Rows:
    """The rows of several layers side by side, [T, K_1 + K_2 + ...]; a variable some layer lacks is NaN there."""
    labels = dict.fromkeys(label for part in parts for label in part.others)  # every layer's, first seen first
    others = {label: np.concatenate([part.others.get(label, np.full(part.membrane.shape, np.nan)) for part in parts],
                                    1) for label in labels}
    return _Rows(*(np.concatenate([getattr(part, field) for part in parts], 1)
                   for field in ("membrane", "spikes", "thresholds")), others)


def _input_spikes(test: Split | BinnedSplit, index: int, config: RunConfig) -> torch.Tensor:
    """Input spikes [T, 1, N] of test sample ``index``: its binned events, or a Poisson draw of its image."""
    if isinstance(test, SequenceSplit):
        return test.inputs(slice(index, index + 1))
    if isinstance(test, BinnedSplit):
        return test.dense(slice(index, index + 1))
    intensity = test.intensity(slice(index, index + 1))
    return poisson_encode(intensity, config.train.num_steps, keyed_generator(config.train.seed, "report", index))


def _pictures(test: Split | BinnedSplit, index: torch.Tensor) -> np.ndarray:
    """[K, H*W] pictures in [0, 1] of test samples: the image, or an event recording's spikes per pixel
    (both polarities, all steps) scaled to its maximum."""
    if isinstance(test, SequenceSplit):
        return test.images[index].float().numpy() / 255
    if not isinstance(test, BinnedSplit):
        return test.intensity(index).numpy()
    counts = test.dense(index).sum(0).reshape(len(index), test.shape[0], -1).sum(1)
    return (counts / counts.amax(1, keepdim=True).clamp(min=1)).numpy()


def _wrong_figure(counts: torch.Tensor, test: Split | BinnedSplit) -> Figure:
    probabilities = torch.softmax(counts.double(), 1)
    confidence, predicted = probabilities.max(1)
    wrong = (predicted != test.labels).nonzero().flatten()
    chosen = wrong[confidence[wrong].argsort(descending=True)[:NUM_WRONG]]
    return plots.wrong_digits_figure(_pictures(test, chosen), test.labels[chosen].numpy(),
                                     predicted[chosen].numpy(), confidence[chosen].numpy())


CAPTIONS = {
    "training_curves": "Training loss and train/test accuracy per epoch.",
    "sparsity_over_epochs": "Per-layer sparsity on the test set after each epoch.",
    "accuracy_over_time": "Test accuracy against the minutes the run has taken (training and evaluation).",
    "encoding": "The input of one test sample: Poisson rate coding of a digit (intensity, spike count per pixel "
                "over T steps, raster), or an event recording binned to T steps (spikes per pixel, ON red, OFF "
                "blue, and raster).",
    "firing_rates": "Per-neuron firing rates on the whole test set, per layer.",
    "confusion": "Confusion matrix on the test set (rows: true digit, columns: prediction).",
    "most_confidently_wrong": "The misclassified test digits the network was most sure of (softmax of counts).",
}


# What the membrane figure's caption adds for a model beyond V, its threshold and its spikes ({rows}: whose).
MEMBRANE_NOTES = {
    "alif": "{rows} are ALIF neurons: their dashed threshold moves, threshold + beta * a[t-1], the adaptation a "
            "rising with each of the neuron's spikes and decaying back over tau_adapt steps.",
    "cuba": "{rows} are CubaLIF neurons; orange: their synaptic current J, the input current filtered over "
            "tau_syn steps, which V leaks towards.",
    "adlif": "{rows} are adLIF neurons; orange: their adaptation current w, which V leaks away from (towards I - w), "
             "following coupling * V and rising by jump / tau_adapt with each spike.",
    "brf": "{rows} are BRF neurons: V is the real part u of a membrane that rotates at omega (orange: its imaginary "
           "part v); their dashed threshold rises by the refractory q after each spike, which also damps the rotation.",
}


def _caption(name: str, kinds: tuple[str, str]) -> str:
    """The caption of figure ``name``; ``kinds``: the neuron models of the hidden and output rows of a membrane
    figure (``spikekit.dynamics.neuron.MODELS`` keys)."""
    if name.startswith("raster_"):
        return "Spike rasters of input, hidden and output layers for one test digit."
    if name.startswith("membrane_"):
        hidden, output = kinds
        whose = {hidden: "The hidden rows", output: "The output rows"} if hidden != output else {hidden: "All rows"}
        notes = [MEMBRANE_NOTES[kind].format(rows=rows) for kind, rows in whose.items() if kind in MEMBRANE_NOTES]
        return " ".join(["Membrane traces (before reset) of the most, median and least active firing hidden neurons "
                         "and the 2 most active outputs; dashed: threshold, triangles: spikes.", *notes])
    return CAPTIONS[name]


def seeds_page(config: RunConfig, summary: dict, figure: str, seed_reports: dict[int, str]) -> str:
    """The page of a multi-seed run: its recipe, the per-seed table (``spikekit.train.summary``), mean and
    spread, the overlaid curves (``figure``.png) and links to each seed's own report (``seed_reports``)."""
    by_val = summary["selected_by"] is not None  # "best" columns only where validation chose them
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.2f}"
    rows = "".join(
        f"<tr><td>{e['seed']}</td><td>{e['epochs']}</td><td>{cell(e.get('final'))}</td>"
        + (f"<td>{cell(e.get('best'))}</td><td>{e.get('best_epoch', '-')}</td>" if by_val else "") + "<td>"
        + (f'<a href="{html.escape(seed_reports[e["seed"]])}">report</a>' if e["seed"] in seed_reports else "-")
        + "</td></tr>" for e in summary["seeds"])
    spread = "".join(f"<tr><th>{name}</th><td></td><td>{cell(summary['final'][name])}</td>"
                     + (f"<td>{cell(summary['best'][name])}</td><td></td>" if by_val else "") + "<td></td></tr>"
                     for name in ("mean", "std"))
    best_columns = ("<th>best test acc. (%) (epoch best on validation)</th><th>best epoch</th>" if by_val else "")
    model, train = config.model, config.train
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spikekit multi-seed report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 4px 10px; }}
th {{ background: #f3f3f3; }} img {{ max-width: 100%; }} .note {{ color: #555; font-size: 0.9em; }}
</style></head><body>
<h1>spikekit multi-seed report</h1>
<p>{len(summary['seeds'])} seeds of one recipe: network {'x'.join(map(str, model.input_shape))} &rarr;
{html.escape(model.arch)}, T = {train.num_steps} steps, {train.epochs} epochs, batch {train.batch_size},
lr {train.lr}.</p>
<table><tr><th>seed</th><th>epochs</th><th>final test acc. (%)</th>
{best_columns}<th>own report</th></tr>
{rows}{spread}</table>
<p class="note">std: sample standard deviation over the seeds (n - 1).</p>
<figure><img src="{html.escape(figure)}.png" alt="training curves of every seed">
<figcaption>Training loss and test accuracy per epoch, one color per seed.</figcaption></figure>
</body></html>
"""


# The page's line on a model's own constants, beyond the tau, threshold and reset that every model has.
MODEL_CONSTANTS: dict[str, Callable[[ModelConfig], str]] = {
    "alif": lambda model: f"ALIF tau_adapt = {model.tau_adapt} steps, beta = {model.beta_adapt}",
    "cuba": lambda model: f"CubaLIF tau_syn = {model.tau_syn} steps",
    "adlif": lambda model: f"adLIF tau_adapt = {model.tau_adapt} steps, coupling = {model.coupling}, "
                           f"jump = {model.jump}",
    "brf": lambda model: f"BRF omega = {model.omega} rad per time unit, b_offset = {model.b_offset}, dt = {model.dt}, "
                         f"refractory_decay = {model.refractory_decay}",
}


def _page(config: RunConfig, history: list[dict], evaluation: Evaluation, cost: ComputeCost,
          captions: dict[str, str], num_test: int) -> str:
    has_val = bool(history) and "val_accuracy" in history[0]
    rows = "".join(
        f"<tr><td>{r['epoch']}</td><td>{r['train_loss']:.4f}</td><td>{100 * r['train_accuracy']:.2f}</td>"
        + (f"<td>{100 * r['val_accuracy']:.2f}</td>" if has_val else "") +
        f"<td>{100 * r['test_accuracy']:.2f}</td><td>{', '.join(f'{x:.3f}' for x in r['firing_rate'])}</td>"
        f"<td>{r['seconds']:.1f}</td></tr>" for r in history)
    layers = "".join(
        f"<tr><td>layer {i + 1}</td><td>{ops:,.0f}</td><td>{macs:,.0f}</td></tr>"
        for i, (ops, macs) in enumerate(zip(cost.synaptic_ops, cost.ann_macs)))
    figures = "".join(
        f'<figure><img src="{html.escape(name)}.png" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>" for name, caption in captions.items())
    model, train = config.model, config.train
    models = list(dict.fromkeys(config.model.layer_models()))  # each model once, in layer order
    kinds = " and ".join(NEURONS[name].__name__ for name in models)
    extra = "".join(MODEL_CONSTANTS[name](model) + ", " for name in models if name in MODEL_CONSTANTS)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spikekit report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 4px 10px; }}
th {{ background: #f3f3f3; }} img {{ max-width: 100%; }} figure {{ margin: 2em 0; }}
figcaption {{ color: #555; font-size: 0.9em; }} .note {{ color: #555; font-size: 0.9em; }}
</style></head><body>
<h1>spikekit report</h1>
<p>Network {'x'.join(map(str, model.input_shape))} &rarr; {html.escape(model.arch)}, {kinds} tau = {model.tau} steps,
threshold {model.threshold}, reset {model.reset}, {extra}surrogate {html.escape(model.surrogate)} (slope {model.slope}),
T = {train.num_steps} steps, batch {train.batch_size}, Adam lr {train.lr}, seed {train.seed},
engine {html.escape(train.engine)}.</p>
<p><b>Test accuracy {100 * evaluation.accuracy:.2f}%</b> on {num_test} test images.</p>
<h2>Training</h2>
<table><tr><th>epoch</th><th>train loss</th><th>train acc. (%)</th>{"<th>val. acc. (%)</th>" if has_val else ""}
<th>test acc. (%)</th>
<th>firing rate per layer (spikes/neuron/step)</th><th>seconds</th></tr>{rows}</table>
<h2>Compute and energy per inference (one image, T = {train.num_steps} steps)</h2>
<table><tr><th>layer</th><th>SNN synaptic operations (input spikes x fan-out)</th>
<th>same-shaped ANN multiply-accumulates</th></tr>{layers}
<tr><td>LIF updates</td><td>{cost.neuron_updates:,.0f} (T x neurons, each one multiply-accumulate)</td>
<td>-</td></tr>
<tr><th>energy estimate</th><th>{cost.snn_energy_pj / 1e6:.3f} &micro;J</th>
<th>{cost.ann_energy_pj / 1e6:.3f} &micro;J</th></tr></table>
<p class="note">Input spike rate {evaluation.input_rate:.3f} spikes per pixel per step. Energy per operation:
{ENERGY_PJ['accumulate']} pJ per 32-bit float accumulate (SNN synaptic event) and
{ENERGY_PJ['multiply_accumulate']} pJ per 32-bit float multiply-accumulate (ANN synapse, LIF update), 45 nm
CMOS, from M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014. This is an
estimate of arithmetic only: it leaves out memory access, which dominates on real hardware, and the cost
of routing spikes; neuromorphic chips and GPUs differ widely from it.</p>
<h2>Figures</h2>
{figures}
</body></html>
"""
