"""SNN: any feed-forward stack of spiking layers (``spikekit.nn.spec``); its output is the spike count over time."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from spikekit.dynamics.lif import LIFParams
from spikekit.dynamics.neuron import MODELS, NeuronParams, model_of
from spikekit.kernels import (
    COUNT_ENGINES,
    RECURRENT_COUNT_ENGINES,
    Inputs,
    LazyEvents,
    SpikeEvents,
    as_dense,
    as_events,
    check_engine,
)
from spikekit.kernels.event_conv import ImageEvents
from spikekit.nn.conv import ConvLayer
from spikekit.nn.flatten import Flatten
from spikekit.nn.layer import LayerTrace, SNNLayer, trace_neurons
from spikekit.nn.neurons import Neuron
from spikekit.nn.pool import Pool2d
from spikekit.nn.readout import (
    check_output_model,
    check_readout,
    check_window,
    leaky_scores,
    readout_weights,
    scores_from_current,
    scores_from_sum,
)
from spikekit.nn.recurrent import RecurrentLayer
from spikekit.nn.spec import SPIKING_KINDS, LayerSpec, output_shapes, parse_arch

INFERENCE_CHUNK = 128  # samples per chunk of a no-grad forward (fast engine), at most
CHUNK_BYTES = 16 * 2**20  # and at most this much per [T, chunk, N] spike tensor of the widest spiking layer
SPIKING = (SNNLayer, RecurrentLayer, ConvLayer)  # the layers with LIF neurons (and so with LIFParams)
_POOL_KINDS = {"maxpool": "max", "avgpool": "avg", "sumpool": "sum"}


def batch_slice(inputs: Inputs, start: int, stop: int) -> Inputs:
    """Input spikes of samples ``start:stop`` (all steps), dense or events."""
    return inputs.batch_slice(start, stop) if isinstance(inputs, (SpikeEvents, LazyEvents)) else inputs[:, start:stop]


def check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    """Layer widths as a tuple; ``ValueError`` unless there are >= 2 and all are positive integers."""
    sizes = tuple(sizes)
    if len(sizes) < 2 or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in sizes):
        raise ValueError(f"layer sizes must be >= 2 positive integers (inputs, ..., outputs), got {list(sizes)}")
    return sizes


def _layer_neuron(spec: LayerSpec, given: Neuron | NeuronParams) -> Neuron | NeuronParams:
    """The neurons of a spiking layer: ``given``, or, where the layer's token names another model (``128a``),
    that model with ``given``'s shared constants (those of tau, threshold, reset, surrogate and slope it has) and its
    own defaults."""
    if not spec.neuron:
        return copy.deepcopy(given) if isinstance(given, Neuron) else given
    model = MODELS[spec.neuron]
    if isinstance(given, Neuron):
        if given.model is not model:
            raise ValueError(f"layer {spec.token!r} is {model.name} but was given {type(given).__name__} neurons")
        return copy.deepcopy(given)
    if model_of(given) is model:
        return given
    return model.params(**{name: getattr(given, name) for name in ("tau", "threshold", "reset", "surrogate", "slope")
                           if name in model.params._fields and name in given._fields})


def _make_layer(spec: LayerSpec, input_shape: tuple[int, ...], params: Neuron | NeuronParams,
                first: bool) -> nn.Module:
    if spec.kind == "linear" and spec.recurrent:
        return RecurrentLayer(math.prod(input_shape), spec.size, params)
    if spec.kind == "linear":  # a fully connected layer reads its inputs flattened; a first one, input events
        return SNNLayer(math.prod(input_shape), spec.size, params, input_major=first)
    if spec.kind == "conv":
        return ConvLayer(input_shape[0], spec.size, spec.kernel, params)
    if spec.kind == "flatten":
        return Flatten()
    return Pool2d(_POOL_KINDS[spec.kind], spec.kernel)


class SNN(nn.Module):
    """Feed-forward spiking network: e.g. 784-128-10 for MNIST, or the conv SNN ``12c5-p2-32c5-p2-10``.

    Args:
        arch: a spec string (``spikekit.nn.spec``: ``"12c5-p2-32c5-p2-10"``), or the widths of a fully
            connected stack [N_in, hidden..., N_out] (then the input is flat, [N_in]).
        params: the neurons of every spiking layer (a model's Params such as ``LIFParams``, or a module of
            ``spikekit.nn.neurons``), or a sequence of them, one per spiking layer. A layer whose token names a
            model (``128a``) gets that model, with the shared constants of what it was given.
        engine: key of ``spikekit.kernels.ENGINES``; changes speed, never results (up to float rounding).
        readout: how the output layer gives the scores (``spikekit.nn.readout``): "counts" (its spike counts)
            or "leaky" (its neurons never fire; their mean membrane over the steps).
        readout_window: the leaky readout averages its membrane over the last this fraction of the steps (1: all;
            ``spikekit.nn.readout``).
        input_shape: shape of one input sample, [C, H, W] for images or [N]; required with a spec string.
            Inputs may come flat, [T, B, prod(input_shape)], and are reshaped for a conv first layer.

    Example:
        >>> import torch
        >>> net = SNN((4, 3, 2), engine="reference")
        >>> net(torch.ones(5, 1, 4)).shape  # input spikes [T=5, B=1, 4] -> counts [B, 2]
        torch.Size([1, 2])
        >>> SNN("2c3-p2-10", input_shape=(1, 8, 8)).sizes  # inputs, then the neurons of each LIF layer
        (64, 128, 10)
    """

    def __init__(self, arch: str | Sequence[int] = (784, 128, 10),
                 params: NeuronParams | Neuron | Sequence[NeuronParams | Neuron] = LIFParams(), engine: str = "fast",
                 input_shape: Sequence[int] | None = None, readout: str = "counts", readout_window: float = 1.0):
        super().__init__()
        self.readout = check_readout(readout)
        self.readout_window = check_window(readout_window, readout)
        if isinstance(arch, str):
            if input_shape is None:
                raise ValueError("an SNN built from a spec string needs input_shape, e.g. (1, 28, 28)")
            specs, self.input_shape = parse_arch(arch), tuple(input_shape)
        else:
            sizes = check_sizes(arch)
            self.input_shape = tuple(input_shape) if input_shape is not None else (sizes[0],)
            if math.prod(self.input_shape) != sizes[0]:
                raise ValueError(f"input_shape {list(self.input_shape)} does not hold {sizes[0]} inputs")
            specs = parse_arch("-".join(map(str, sizes[1:])))
        self.shapes = output_shapes(specs, self.input_shape)  # one sample's shape after each layer
        num_spiking = sum(spec.kind in SPIKING_KINDS for spec in specs)
        shared = isinstance(params, Neuron) or (isinstance(params, tuple) and hasattr(params, "_fields"))
        per_layer = [params] * num_spiking if shared else list(params)
        if len(per_layer) != num_spiking:
            raise ValueError(f"{num_spiking} spiking layers need as many neurons (Params or modules), got "
                             f"{len(per_layer)}")
        layer_params, layers, shape = iter(per_layer), [], self.input_shape
        for spec, output_shape in zip(specs, self.shapes):
            neuron = _layer_neuron(spec, next(layer_params)) if spec.kind in SPIKING_KINDS else LIFParams()
            layers.append(_make_layer(spec, shape, neuron, first=not layers))
            shape = output_shape
        self.layers = nn.ModuleList(layers)
        self.arch = "-".join(spec.token for spec in specs if spec.kind != "flatten")
        self.engine = check_engine(engine)
        check_output_model(self.readout, model_of(self.layers[-1].params))

    @property
    def spiking_layers(self) -> list[nn.Module]:
        """The layers with LIF neurons (``SNNLayer``, ``ConvLayer``), in order."""
        return [layer for layer in self.layers if isinstance(layer, SPIKING)]

    @property
    def sizes(self) -> tuple[int, ...]:
        """Inputs per sample, then the number of LIF neurons of each spiking layer (784, 128, 10)."""
        spiking = [math.prod(shape) for layer, shape in zip(self.layers, self.shapes) if isinstance(layer, SPIKING)]
        return (math.prod(self.input_shape), *spiking)

    def ann_macs(self) -> list[int]:
        """Multiply-accumulates of each spiking layer run once as an ANN: N_in x N_out (fully connected),
        C_out x C_in x K^2 x H x W (conv). Used by ``spikekit.metrics.compute_cost``."""
        macs = []
        for layer, shape in zip(self.layers, self.shapes):
            if isinstance(layer, SNNLayer):
                macs.append(layer.linear.in_features * layer.linear.out_features)
            elif isinstance(layer, RecurrentLayer):  # W, and U read once a step
                macs.append((layer.linear.in_features + layer.linear.out_features) * layer.linear.out_features)
            elif isinstance(layer, ConvLayer):
                macs.append(math.prod(layer.conv.weight.shape) * math.prod(shape[1:]))
        return macs

    def _shaped(self, inputs: Inputs, events: bool = True) -> Inputs | ImageEvents:
        """Input spikes as the first layer takes them: events (if ``events``) or [T, B, N] for a fully
        connected layer; ``ImageEvents`` (if ``events``) or dense [T, B, C, H, W] for a conv layer; dense
        [T, B, C, H, W] for a pooling layer. ``ValueError`` if a sample has the wrong size."""
        num_inputs = math.prod(self.input_shape)
        if math.prod(inputs.shape[2:]) != num_inputs:
            raise ValueError(f"layer 1 ({self.arch.split('-')[0]}) takes input spikes [T, B, "
                             f"{', '.join(map(str, self.input_shape))}] or [T, B, {num_inputs}], got shape "
                             f"{list(inputs.shape)}")
        if isinstance(self.layers[0], (SNNLayer, RecurrentLayer)):
            flat = not isinstance(inputs, Tensor) or inputs.dim() == 3  # events are always [T, B, N]
            return inputs if flat else inputs.reshape(*inputs.shape[:2], num_inputs)
        if events and isinstance(self.layers[0], ConvLayer) and as_events(inputs) is not None:
            return ImageEvents(inputs, self.input_shape)
        dense = as_dense(inputs, next(self.parameters()))
        return dense.reshape(*dense.shape[:2], *self.input_shape)

    def layer_spikes(self, inputs: Inputs) -> list[Tensor]:
        """Spikes of every spiking layer, each flattened to [T, B, N_layer], from input spikes; with the leaky
        readout, every layer's but the output's (which never fires)."""
        return self.scores_and_spikes(inputs)[1]

    def scores_and_spikes(self, inputs: Inputs) -> tuple[Tensor, list[Tensor]]:
        """(scores [B, N_out] as ``forward`` gives them, ``layer_spikes``) from one pass."""
        if self.readout == "leaky":
            return self._leaky(inputs, keep=True)
        inputs, spikes = self._shaped(inputs), []
        for layer in self.layers:
            inputs = layer(inputs, self.engine)
            if isinstance(layer, SPIKING):
                spikes.append(inputs.reshape(*inputs.shape[:2], -1))
        return spikes[-1].sum(0), spikes

    def forward(self, inputs: Inputs) -> Tensor:
        """Output spike counts [B, N_out] (float) over all T steps; used as logits by training."""
        if torch.is_grad_enabled() or self.engine == "reference":
            return self._counts(inputs)
        # Inference: samples are independent, so run them through all layers a chunk at a time. The
        # per-chunk [T, chunk, N] intermediates stay in cache and in reused heap memory instead of
        # page-faulting fresh [T, B, N] tensors (measured 1.4x on T=100, batch 1000). Exact.
        chunk = self.inference_chunk(inputs.shape[0])
        chunks = [self._counts(batch_slice(inputs, start, start + chunk))
                  for start in range(0, inputs.shape[1], chunk)]
        return torch.cat(chunks) if chunks else self._counts(inputs)

    def inference_chunk(self, num_steps: int, limit: int = INFERENCE_CHUNK) -> int:
        """Samples per chunk of a no-grad pass: ``limit``, fewer when the widest spiking layer's
        [T, chunk, N] float32 spikes would pass ``CHUNK_BYTES``. A conv layer's are ~70x the seed's
        [T, chunk, 128] (12c5-p2-32c5-p2-10, T=25: 17 samples; peak RSS of an inference batch of 128
        measured 521 -> 419 MB, the reference 485-508 MB, at the same speed)."""
        widest = max(self.sizes[1:]) * max(num_steps, 1) * 4  # T = 0 (no steps) would divide by zero
        return max(1, min(limit, CHUNK_BYTES // widest))

    def _leaky(self, inputs: Inputs, keep: bool = False) -> tuple[Tensor, list[Tensor]]:
        """The leaky readout's scores from a pass through every layer but the output, and (if ``keep``) the spikes
        of the spiking layers, each [T, B, N_layer]. A last hidden layer that is recurrent makes what the scores
        read itself: under an output with one constant tau, the weighted sum over time (``nn.readout.scores_from_sum``;
        on the fast engine inside its compiled pass, ``kernels.event_recurrent``, whose backward then takes the
        sum's gradient step by step instead of as a [T, B, N] tensor); else (tau per neuron or learned) the output's
        current (``nn.readout.scores_from_current``; on the fast engine inside its passes, from the rows of the
        output's weights of the neurons that spiked, and backward without a [T, B, N] spike gradient)."""
        *hidden, output = self.layers  # T from the inputs as given: a conv layer's ImageEvents have no step axis
        weights = readout_weights(inputs.shape[0], output.params.tau, self.readout_window, output.linear.weight)
        inputs, spikes = self._shaped(inputs), []
        summed = current = None
        for index, layer in enumerate(hidden):
            if index == len(hidden) - 1 and isinstance(layer, RecurrentLayer):
                # its spikes only when kept (the fast engine then writes none: kernels.recurrent's docstring)
                if weights.dim() == 1 and not weights.requires_grad:
                    inputs, summed = layer(inputs, self.engine, time_weights=weights, spikes=keep)
                else:
                    inputs, current = layer(inputs, self.engine, readout=output.linear, spikes=keep)
            else:
                inputs = layer(inputs, self.engine)
            if keep and isinstance(layer, SPIKING):
                spikes.append(inputs.reshape(*inputs.shape[:2], -1))
        if summed is not None:
            return scores_from_sum(summed, output.linear, weights), spikes
        if current is not None:
            return scores_from_current(current, weights), spikes
        return leaky_scores(inputs.reshape(*inputs.shape[:2], -1), output.linear, output.params.tau,
                            self.readout_window), spikes

    def _counts(self, inputs: Inputs) -> Tensor:
        if self.readout == "leaky":
            return self._leaky(inputs)[0]
        # The trailing run of fully connected layers goes to the count engine, which in the fast engine
        # adds the last one's spikes up as it goes (kernels/readout.py) and runs an event-fed layer and the
        # readout as one pass (kernels/event_readout.py); every layer before it runs through its engine.
        # A conv layer and the max pooling after it run as one call, which the fast engine fuses.
        tail = len(self.layers) - 1 if isinstance(self.layers[-1], SNNLayer) else len(self.layers)
        while 0 < tail < len(self.layers) and isinstance(self.layers[tail - 1], SNNLayer):
            tail -= 1
        layers = list(self.layers)  # slicing the ModuleList builds a new module each time: ~15 us a batch
        body, stack = layers[:tail], layers[tail:]
        # A recurrent layer right under the stack goes with it to the recurrent count engine, which in the fast
        # engine runs the layer fed by events and a one-layer readout as one pass (kernels/event_recurrent.py), and
        # the layer fed a dense input makes the readout's current in its scan (kernels/recurrent.py)
        recurrent = body.pop() if stack and body and isinstance(body[-1], RecurrentLayer) else None
        inputs, index = self._shaped(inputs), 0
        while index < len(body):
            layer, following = body[index], body[index + 1] if index + 1 < len(body) else None
            if isinstance(layer, ConvLayer) and isinstance(following, Pool2d) and following.kind == "max":
                inputs, index = layer(inputs, self.engine, following.kernel_size), index + 2
            else:
                inputs, index = layer(inputs, self.engine), index + 1
        if not stack:  # a recurrent output layer: its spikes, counted
            return inputs.sum(0)
        layers = [(layer.linear, layer.params) for layer in stack]
        if recurrent is not None:
            return RECURRENT_COUNT_ENGINES[self.engine](inputs, recurrent.linear, recurrent.recurrent.weight,
                                                        recurrent.params, layers)
        return COUNT_ENGINES[self.engine](inputs, layers)

    def trace(self, inputs: Inputs) -> list[LayerTrace]:
        """Spikes, membranes and state (``LayerTrace``) of every spiking layer over time, flattened to
        [T, B, N_layer] (reference math, no gradient); with the leaky readout the output layer's membrane is the
        integrators' V (no spike)."""
        inputs, traces = self._shaped(inputs, events=False), []
        for index, (layer, shape) in enumerate(zip(self.layers, self.shapes)):
            if index == len(self.layers) - 1 and self.readout == "leaky":  # integrators: V, no spike
                with torch.no_grad():
                    traces.append(trace_neurons(layer.linear, inputs.reshape(*inputs.shape[:2], -1),
                                                layer.params._replace(threshold=math.inf), shape))
            elif isinstance(layer, SPIKING):
                traces.append(layer.trace(inputs))
                inputs = traces[-1].spikes.reshape(*traces[-1].spikes.shape[:2], *shape)
            else:
                with torch.no_grad():
                    inputs = layer(inputs, "reference")
        return traces
