"""The architecture grammar: one string names a layer stack, for the CLI, the config and the run directory.

A spec is dash-separated layers, left to right; the input shape comes from the data:

    N       a fully connected layer of N spiking neurons             e.g. ``128``
    CcK     a conv layer: C channels, K x K kernel (K odd), stride 1, 'same' padding        ``12c5``
    pK      K x K max pooling, stride K (on spikes: a spike if any input of the window spiked)
    aK      K x K average pooling, stride K (the window's mean: 0, 1/K^2, ..., 1 on spikes)
    sK      K x K sum pooling, stride K (the window's spike count; NIR's SumPool2d)

A fully connected layer followed by ``r`` is recurrent (``256r``: its current adds its own spikes of the step
before through a weight U, ``spikekit.nn.recurrent``). A fully connected or conv layer may end with its neuron
model: ``a`` for ALIF, ``s`` for CubaLIF, ``d`` for adLIF, ``b`` for BRF (``128a``, ``12c5s``, ``256rd``, ``256rb``;
``spikekit.dynamics.neuron``); without a suffix it takes the run's default (``--neuron``, LIF unless set). A
``Flatten`` is implied before the first fully connected layer that follows a conv or pool layer. The last layer
must be fully connected: its neurons' spike counts are the network's output (one per class).
``128-10`` is the seed network; ``12c5-p2-32c5-p2-10`` a small conv SNN. ``PRESETS`` names whole recipes.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

from spikekit.dynamics.neuron import MODELS

Kind = Literal["linear", "conv", "maxpool", "avgpool", "sumpool", "flatten"]
POOL_KINDS: dict[str, Kind] = {"p": "maxpool", "a": "avgpool", "s": "sumpool"}
SPATIAL: frozenset[Kind] = frozenset({"conv", "maxpool", "avgpool", "sumpool"})
SPIKING_KINDS: frozenset[Kind] = frozenset({"linear", "conv"})  # the layers with LIF neurons
# a spiking layer's token suffix -> its neuron model (each model's own ``suffix``; the default model has none)
NEURON_SUFFIXES = {model.suffix: model.name for model in MODELS.values() if model.suffix}
_SUFFIX = f"[{''.join(NEURON_SUFFIXES)}]?"
_TOKEN = re.compile(rf"(?P<linear>\d+)(?P<recurrent>r?)(?P<linear_neuron>{_SUFFIX})"
                    rf"|(?P<channels>\d+)c(?P<kernel>\d+)(?P<conv_neuron>{_SUFFIX})|(?P<pool>[pas])(?P<size>\d+)")
_GRAMMAR = ("N (fully connected; Nr recurrent), CcK (conv, K odd), either ending in a (ALIF), s (CubaLIF), d "
            "(adLIF) or b (BRF); "
            "pK (max pool), "
            "aK (average pool), sK (sum pool)")
_MAX_SIZE = 10**7  # neurons or channels of one layer, and kernel sizes: beyond any network that fits in memory


class LayerSpec(NamedTuple):
    """One layer of a spec: ``size`` is neurons (linear) or channels (conv); ``kernel`` the conv kernel or
    pooling window (0 for linear and flatten); ``token`` the text it was parsed from; ``neuron`` the model its
    suffix names ("" when it has none: the run's default); ``recurrent``: a fully connected layer with ``r``."""

    kind: Kind
    size: int = 0
    kernel: int = 0
    token: str = ""
    neuron: str = ""
    recurrent: bool = False


class Preset(NamedTuple):
    """A named recipe: the spec and the training defaults chosen for it (docs/accuracy.md gives the measurements).
    ``spikekit train --arch NAME`` fills every option not given on the command line from it."""

    arch: str
    num_steps: int
    epochs: int
    lr: float
    schedule: str = "cosine"  # spikekit.schedule
    shift: int = 0  # augmentation: pixels of random translation
    batch_size: int = 128
    eval_steps: int | None = None  # time steps per test image (None: num_steps)
    clip_grad: float | None = None  # global gradient norm (None: no clipping)
    model: tuple[tuple[str, object], ...] = ()  # (ModelConfig field, value): the recipe's neurons, readout, init
    datasets: tuple[str, ...] = ()  # the --dataset values it is made for (empty: any)


PRESETS: dict[str, Preset] = {
    # Measured in docs/accuracy.md (the conv preset): trained at T=8 (an epoch near a minute on 2 cores),
    # batches of 64, wsd and 1-pixel shifts, 7 epochs in ~8 minutes; tested at T=16, where a test image's
    # Poisson train is read with half the noise.
    "conv": Preset("12c5-p2-32c5-p2-10", num_steps=8, epochs=7, lr=2e-3, schedule="wsd", shift=1, batch_size=64,
                   eval_steps=16),
    # Sequential MNIST (one pixel a step, T = 784) with recurrent ALIF 64-256 as Yin et al. 2021: a leaky readout
    # over all the steps, adaptation beta 0.2 on a threshold of 0.1, learned time constants, clipped gradients;
    # batches of 32 (more steps an hour, and faster per sequence than 128 on 2 cores: the [T, B, N] tensors stay
    # nearer the cache). Measured in docs/accuracy.md: 18 epochs in about an hour, 91.03%. Scoring only the last
    # 35% of the steps (--readout-window 0.35) learned faster in the first epoch and slower after.
    "smnist-alif": Preset("64ra-256ra-10", num_steps=784, epochs=18, lr=3e-3, schedule="wsd", batch_size=32,
                          clip_grad=1.0, model=(("readout", "leaky"), ("init_gain", 4.0), ("threshold", 0.1),
                                                ("tau", 20.0), ("tau_adapt", 200.0), ("beta_adapt", 0.2),
                                                ("learn", ("tau", "tau_adapt"))),
                          datasets=("smnist", "psmnist")),
}
# The same recipe with adLIF neurons (an adaptation current that follows the membrane, coupling 1, and the spikes,
# jump 0.05 = half the threshold), all four of their constants learned. They fire more than ALIF's (20-28% of the
# steps), so a sequence takes longer: 11 epochs fill the hour (93.23%, docs/accuracy.md).
PRESETS["smnist-adlif"] = PRESETS["smnist-alif"]._replace(
    arch="64rd-256rd-10", epochs=11,
    model=(("readout", "leaky"), ("init_gain", 4.0), ("threshold", 0.1), ("tau", 20.0), ("tau_adapt", 200.0),
           ("coupling", 1.0), ("jump", 0.05), ("learn", ("tau", "tau_adapt", "coupling", "jump"))))
# The default of --dataset smnist: one recurrent layer of 256 balanced resonate-and-fire neurons
# (spikekit.dynamics.brf) as Higuchi et al. 2024: their frequencies spread over [15, 50] rad per time unit, damping
# offsets over [0.1, 1], both learned with the leaky readout's tau; input weights a tenth of PyTorch's default (the
# paper's Xavier scale), batches of 32, clipped gradients, and Adam at lr 0.2: the paper's 0.1 (the input reaches
# the membrane scaled by dt = 0.01) was slower in short runs. Probed on one epoch of 25,600 sequences
# (docs/accuracy.md): lr 0.03 76.7% test accuracy, 0.1 83.7%, 0.2 89.4%, 0.4 89.4-90.8%, 0.8 79.7% (adLIF's recipe:
# 72.6%); 0.2 is the more cautious of the two best for a run 20 times as long. 15 epochs fill the hour (measured).
PRESETS["smnist"] = Preset("256rb-10", num_steps=784, epochs=15, lr=0.2, schedule="wsd", batch_size=32,
                           clip_grad=1.0, model=(("readout", "leaky"), ("init_gain", 0.1), ("tau", 20.0),
                                                 ("omega", (15.0, 50.0)), ("b_offset", (0.1, 1.0)),
                                                 ("learn", ("omega", "b_offset", "tau"))),
                           datasets=("smnist", "psmnist"))
# The default of --dataset psmnist: the S-MNIST BRF recipe with the paper's frequencies for PS-MNIST, spread over
# [15, 85] (periods of 7 to 42 steps: its permuted pixels change faster), and Adam at lr 0.025, which this task
# needs much lower than S-MNIST's: probed on one epoch of 25,600 sequences (docs/accuracy.md), lr 0.2 49.2%, 0.1
# 63.5%, 0.05 70.0%, 0.025 71.5% (the adLIF recipe: 36.5%). 17 epochs: 91.51% in 58.7 minutes (measured, on a host
# whose epochs took 2.8 to 4.2 minutes).
PRESETS["psmnist"] = PRESETS["smnist"]._replace(
    lr=0.025, epochs=17, datasets=("psmnist",),
    model=tuple((name, (15.0, 85.0) if name == "omega" else value) for name, value in PRESETS["smnist"].model))
# PS-MNIST with the earlier recipes and more epochs than S-MNIST's: their sequences make fewer spikes and train
# faster (adLIF ~300-400 a second against ~200-270 for S-MNIST's: 15 epochs took 47 minutes, measured; ALIF ~400
# against ~360, so 22; docs/accuracy.md).
PRESETS["psmnist-adlif"] = PRESETS["smnist-adlif"]._replace(epochs=15, datasets=("psmnist",))
PRESETS["psmnist-alif"] = PRESETS["smnist-alif"]._replace(epochs=22, datasets=("psmnist",))


def _parse_token(token: str) -> LayerSpec:
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise ValueError(f"bad layer {token!r} in the architecture; each layer is one of {_GRAMMAR}")
    if any(len(digits) > 7 for digits in re.findall(r"\d+", token)):
        raise ValueError(f"layer {token!r}: sizes above {_MAX_SIZE} neurons, channels or pixels are not supported")
    if match["linear"] is not None:
        layer = LayerSpec("linear", int(match["linear"]), 0, token, NEURON_SUFFIXES.get(match["linear_neuron"], ""),
                          bool(match["recurrent"]))
    elif match["channels"] is not None:
        layer = LayerSpec("conv", int(match["channels"]), int(match["kernel"]), token,
                          NEURON_SUFFIXES.get(match["conv_neuron"], ""))
        if layer.kernel % 2 == 0:
            raise ValueError(f"layer {token!r}: the kernel size must be odd for 'same' padding, got {layer.kernel}")
    else:
        layer = LayerSpec(POOL_KINDS[match["pool"]], 0, int(match["size"]), token)
        if layer.kernel < 2:
            raise ValueError(f"layer {token!r}: a pooling window must be >= 2, got {layer.kernel}")
    if layer.kind in SPIKING_KINDS and layer.size < 1:
        raise ValueError(f"layer {token!r}: a layer needs at least one neuron (channel)")
    return layer


def parse_arch(spec: str) -> tuple[LayerSpec, ...]:
    """The layers of ``spec`` (see the module docstring), with the implied ``flatten`` inserted.

    ``ValueError`` naming the offending token for anything the grammar does not allow.

    Example:
        >>> [layer.kind for layer in parse_arch("12c5-p2-10")]
        ['conv', 'maxpool', 'flatten', 'linear']
        >>> [layer.neuron for layer in parse_arch("12c5s-p2-128a-10")]
        ['cuba', '', '', 'alif', '']
        >>> [(layer.recurrent, layer.neuron) for layer in parse_arch("64ra-256r-10")]
        [(True, 'alif'), (True, ''), (False, '')]
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"the architecture must be a non-empty string such as '128-10', got {spec!r}")
    layers: list[LayerSpec] = []
    for token in spec.strip().split("-"):
        if not token:
            raise ValueError(f"empty layer in the architecture {spec!r} (two dashes in a row, or one at an end)")
        layer = _parse_token(token)
        previous = layers[-1].kind if layers else None
        if layer.kind in SPATIAL and previous in ("linear", "flatten"):
            raise ValueError(f"layer {token!r} cannot follow a fully connected layer; put conv and pooling "
                             "layers first")
        if layer.kind == "linear" and previous in SPATIAL:
            layers.append(LayerSpec("flatten", token="(flatten)"))
        layers.append(layer)
    if layers[-1].kind != "linear":
        raise ValueError(f"the last layer must be fully connected (the output neurons), got {layers[-1].token!r}")
    return tuple(layers)


def resolve_arch(spec: str) -> str:
    """``spec`` itself, or the spec of the preset it names (``PRESETS``)."""
    return PRESETS[spec].arch if spec in PRESETS else spec


def output_shapes(layers: tuple[LayerSpec, ...], input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The shape of one sample after each layer, from the input's ([C, H, W] or [N]).

    ``ValueError`` naming the layer when a conv or pooling layer gets a flat input, or a kernel or pooling
    window larger than the image.
    """
    shapes, shape = [], tuple(input_shape)
    for layer in layers:
        if layer.kind == "linear":
            shape = (layer.size,)
        elif layer.kind == "flatten":
            shape = (_product(shape),)
        elif len(shape) != 3:
            raise ValueError(f"layer {layer.token!r} needs image input [channels, height, width], but it gets "
                             f"shape {list(shape)}")
        elif layer.kind == "conv":
            if layer.kernel > min(shape[1:]):  # most taps would read the zero padding: a silent layer
                raise ValueError(f"layer {layer.token!r}: a {layer.kernel}x{layer.kernel} kernel is larger than the "
                                 f"{shape[1]}x{shape[2]} image it gets; use an odd kernel of at most "
                                 f"{min(shape[1:]) - (min(shape[1:]) + 1) % 2}")
            shape = (layer.size, shape[1], shape[2])
        elif min(shape[1:]) < layer.kernel:
            raise ValueError(f"layer {layer.token!r}: a {layer.kernel}x{layer.kernel} window does not fit the "
                             f"{shape[1]}x{shape[2]} image it gets")
        else:
            shape = (shape[0], shape[1] // layer.kernel, shape[2] // layer.kernel)
        shapes.append(shape)
    return shapes


def _product(shape: tuple[int, ...]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total
