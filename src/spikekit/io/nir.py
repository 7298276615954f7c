"""NIR (Neuromorphic Intermediate Representation) export and import: ``to_nir``, ``from_nir``, files.

The graph of an ``SNN`` is the chain ``Input -> Affine -> LIF | CubaLIF -> ... -> Affine -> LIF -> Output``;
each neuron model's constants are translated in exactly one pair of functions, ``lif_to_nir`` /
``lif_from_nir`` and ``cuba_to_nir`` / ``cuba_from_nir`` (derivations there). A recurrent layer adds a loop
``LIF -> Linear (U) -> the same LIF`` that carries the previous step's spikes (``spikekit.io.nir_recurrent``:
the graph, the delay and the units of a LIF on a loop). NIR has no adaptive LIF node, so ALIF layers are
refused. Constants may differ between neurons both ways: NIR holds one value per neuron, spikekit a float per
layer or a per-neuron tensor (``_constant``).
Spike condition: spikekit fires at ``V >= threshold``, NIR writes ``v > v_threshold``; the two differ only
when a float membrane lands exactly on the threshold, which real inputs and weights make vanishingly
rare (the cross-library tests compare every spike and find no difference). Both reset in the same step.
"""

from __future__ import annotations

import math
import os
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikekit.dynamics.cuba import CubaLIFParams, check_cuba
from spikekit.dynamics.lif import LIFParams, check_params
from spikekit.dynamics.neuron import model_of
from spikekit.errors import SpikekitError
from spikekit.io.nir_recurrent import RECURRENCE, close_loop, lif_to_loop_units, recurrent_token, split_loops
from spikekit.nn import SNN, ConvLayer, Flatten, SNNLayer
from spikekit.nn.recurrent import RecurrentLayer

DEFAULT_DT = 1e-4  # seconds per time step; the value most NIR importers (snnTorch, Norse, Lava) assume


class NIRError(SpikekitError):
    """A NIR file or graph that spikekit cannot read or represent; the message names the node."""


def lif_to_nir(params: LIFParams, shape: int | tuple[int, ...], dt: float = DEFAULT_DT) -> Any:
    """The ``nir.LIF`` node equal to a spikekit LIF layer of ``shape`` neurons ([N], or [C, H, W] after a conv).

    spikekit's step (``spikekit.dynamics.lif``) is ``V <- V + (I - V)/tau`` with ``tau`` in steps.
    NIR's neuron is ``tau_nir * dv/dt = (v_leak - v) + r * I``; one forward-Euler step of length ``dt`` is
    ``v <- v + (dt/tau_nir) * (v_leak - v + r * I)``. The two agree for every input when
    ``dt/tau_nir = 1/tau``, ``r = 1`` and ``v_leak = 0``, i.e.

        tau_nir = tau * dt (seconds),  r = 1,  v_leak = 0,  v_threshold = threshold,  v_reset = reset.

    Per-neuron constants (tensors broadcastable to ``shape``, learned ones included) become per-neuron arrays.
    """
    import nir

    tau, threshold, reset = (_full(getattr(params, name), shape) for name in ("tau", "threshold", "reset"))
    return nir.LIF(tau=tau * dt, r=np.ones_like(tau), v_leak=np.zeros_like(tau), v_threshold=threshold,
                   v_reset=reset)


def lif_from_nir(node: Any, name: str, shape: int | tuple[int, ...], dt: float = DEFAULT_DT,
                 ) -> tuple[LIFParams, np.ndarray, np.ndarray]:
    """Invert ``lif_to_nir`` for any ``nir.LIF`` of ``shape`` neurons: (params, r, v_leak), r and v_leak flat [N].

    A general node has ``tau = tau_nir/dt`` steps and current ``r * I + v_leak`` (same Euler step as
    above), so ``r`` scales the incoming weights and bias and ``v_leak`` adds to the bias: both exact.
    Constants that differ between neurons become per-neuron tensors of ``shape`` (``_constant``).
    """
    shape = _as_shape(shape)
    field = partial(_node_array, node, name, shape=shape)
    params = LIFParams(tau=_constant(field("tau") / dt), threshold=_constant(field("v_threshold")),
                       reset=_constant(field("v_reset")))
    _check(check_params, params, name, dt)
    return params, field("r").reshape(-1), field("v_leak").reshape(-1)


def cuba_to_nir(params: CubaLIFParams, shape: int | tuple[int, ...], dt: float = DEFAULT_DT) -> Any:
    """The ``nir.CubaLIF`` node equal to a spikekit CubaLIF layer of ``shape`` neurons ([N] or [C, H, W]).

    spikekit's step (``spikekit.dynamics.cuba``), time constants in steps, is ``J <- J + (I - J)/tau_syn``,
    then ``V <- V + (J - V)/tau`` with the J just computed. NIR's node is ``tau_syn_nir dJ/dt = -J + w_in I``,
    ``tau_mem dv/dt = (v_leak - v) + r J``; its forward-Euler step of length ``dt`` in the same order (the
    membrane reads this step's J, as snnTorch's ``Synaptic`` and lava-dl do) is

        J <- J + (dt/tau_syn_nir) (w_in I - J),    v <- v + (dt/tau_mem) (v_leak - v + r J).

    With ``tau_syn_nir = tau_syn * dt``, ``tau_mem = tau * dt`` and ``v_leak = 0`` this is spikekit's step for
    ``J_nir = w_in J`` and ``v = r w_in V``, for every ``r, w_in > 0``: thresholds scale by ``r w_in``.
    spikekit writes ``r = tau`` and ``w_in = tau_syn`` (i.e. ``tau_mem/dt`` and ``tau_syn_nir/dt``), the
    scaling snnTorch writes and its importer requires (its state ``syn = tau_syn J``, ``mem = tau tau_syn V``):

        tau_syn_nir = tau_syn * dt,  tau_mem = tau * dt,  r = tau,  w_in = tau_syn,  v_leak = 0,
        v_threshold = threshold * tau * tau_syn,  v_reset = reset * tau * tau_syn.

    The steps do not agree where the membrane is charged from the previous step's J (Norse's CubaLIF, which
    also adds its input to J after the spike, unscaled): such a neuron answers one step later.
    Per-neuron constants (tensors broadcastable to ``shape``, learned ones included) become per-neuron arrays.
    """
    import nir

    tau, tau_syn, threshold, reset = (_full(getattr(params, name), shape)
                                      for name in ("tau", "tau_syn", "threshold", "reset"))
    scale = tau * tau_syn  # r * w_in
    return nir.CubaLIF(tau_syn=tau_syn * dt, tau_mem=tau * dt, r=tau, v_leak=np.zeros_like(tau),
                       v_threshold=threshold * scale, v_reset=reset * scale, w_in=tau_syn)


def cuba_from_nir(node: Any, name: str, shape: int | tuple[int, ...], dt: float = DEFAULT_DT,
                  ) -> tuple[CubaLIFParams, np.ndarray, np.ndarray]:
    """Invert ``cuba_to_nir`` for any ``nir.CubaLIF`` of ``shape`` neurons: (params, 1, 0), the last two what
    the incoming weights are scaled by and the bias shifted by (nothing: ``lif_from_nir``'s contract).

    By the derivation above, ``r w_in`` (> 0, per neuron) divides ``v_threshold`` and ``v_reset`` rather than
    multiplying the weights, so spikekit's own graphs come back with their weights and constants unchanged.
    ``v_leak`` must be 0: spikekit's membrane has no leak potential, and folded into the input it would pass
    through the synapse and arrive late. Constants that differ between neurons become per-neuron tensors.
    """
    shape = _as_shape(shape)
    field = partial(_node_array, node, name, shape=shape)
    if np.any(field("v_leak") != 0):
        raise NIRError(f"node {name!r}: v_leak must be 0 in a CubaLIF; spikekit's membrane has no leak potential "
                       "(through the synapse it would arrive late)")
    scale = field("r") * field("w_in")
    if not np.all(scale > 0):
        raise NIRError(f"node {name!r}: r * w_in must be > 0 for every neuron, got {scale.min()} at the least")
    params = CubaLIFParams(tau=_constant(field("tau_mem") / dt), threshold=_constant(field("v_threshold") / scale),
                           reset=_constant(field("v_reset") / scale), tau_syn=_constant(field("tau_syn") / dt))
    _check(check_cuba, params, name, dt)
    return params, np.ones(math.prod(shape)), np.zeros(math.prod(shape))


def _full(value: float | torch.Tensor, shape: int | tuple[int, ...]) -> np.ndarray:
    """A constant (a float, or a tensor broadcastable to ``shape``) as a float64 array of ``shape``."""
    values = value.detach().cpu().double().numpy() if isinstance(value, torch.Tensor) else value
    return np.broadcast_to(np.asarray(values, dtype=np.float64), shape).copy()


def _as_shape(shape: int | tuple[int, ...]) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int) else tuple(shape)


def _node_array(node: Any, name: str, field: str, shape: tuple[int, ...]) -> np.ndarray:
    """Field ``field`` of the neuron node ``name`` (one value per neuron in any layout, or anything that broadcasts
    to ``shape``: one number, one per channel [C, 1, 1]) as a float64 array of ``shape``; a v_reset of None is 0."""
    value = getattr(node, field)
    array = np.asarray(0.0 if value is None else value, np.float64)
    try:
        return array.reshape(shape) if array.size == math.prod(shape) else np.broadcast_to(array, shape)
    except ValueError:
        raise NIRError(f"node {name!r}: {field} has shape {list(array.shape)}, which does not fit the "
                       f"{list(shape)} neurons of the layer") from None


def _constant(values: np.ndarray) -> float | torch.Tensor:
    """A layer's constant: one float when every neuron has the same value, else a float32 tensor of the neurons'
    shape (per-neuron, kept as a buffer of the layer). Values are rounded to float32, the precision the engines
    compute in, and one float is the shortest decimal of that float32: 2e-4 s / 1e-4 s is 2.0, 0.7 * 6 / 6 is 0.7."""
    single = values.astype(np.float32)
    if np.all(single == single.flat[0]):
        return float(str(single.flat[0]))
    return torch.from_numpy(single.copy())


def _check(check: Any, params: Any, name: str, dt: float) -> None:
    try:
        check(params)
    except ValueError as error:
        raise NIRError(f"node {name!r} with dt={dt}: {error}") from None


def to_nir(model: SNN, dt: float = DEFAULT_DT) -> Any:
    """The NIR graph of ``model``, a chain from ``input`` to ``output``, float32 weights: each fully
    connected layer an ``Affine`` then its neurons (``LIF`` or ``CubaLIF``), a recurrent one with a loop from
    its neurons through a ``Linear`` (U) back to them (``spikekit.io.nir_recurrent``), each conv layer a
    ``Conv2d`` (stride 1, 'same' padding) then its neurons over [C, H, W], average and sum pooling
    ``AvgPool2d``/``SumPool2d``, then ``Flatten``.

    NIR has no max pooling and no adaptive LIF: a model with a ``pK`` or ALIF layer raises ``NIRError``, as does
    one with the leaky readout.
    The graph metadata records dt, the update rule, the spike condition and the reset rule.
    """
    import nir

    _check_dt(dt)
    if model.readout != "counts":
        raise NIRError(f"the {model.readout} readout (the output layer's mean membrane, spikekit.nn.readout) has no "
                       "NIR form: only networks scored by output spike counts can be exported")
    # A fully connected first layer reads its input flat: so does the graph, as other tools expect.
    shape = (model.sizes[0],) if isinstance(model.layers[0], (SNNLayer, RecurrentLayer)) else model.input_shape
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(shape)})}
    chain, loops = ["input"], []
    for index, (layer, output_shape) in enumerate(zip(model.layers, model.shapes), start=1):
        layer_nodes = _layer_nodes(layer, index, shape, output_shape, dt)
        nodes.update(layer_nodes)
        chain.extend(layer_nodes)
        if isinstance(layer, RecurrentLayer):  # U closes a loop on the neurons' node just written
            loop_node, loop = close_loop(chain[-1], index, _array(layer.recurrent.weight))
            nodes.update(loop_node)
            loops.extend(loop)
        shape = output_shape
    nodes["output"] = nir.Output(output_type={"output": np.array([model.sizes[-1]])})
    chain.append("output")
    metadata = {"source": "spikekit", "dt": dt,
                "update": "forward Euler, one step per dt; a CubaLIF membrane reads the same step's synaptic current",
                "spike": "v >= v_threshold (spikekit); reset v <- v_reset in the same step"}
    if loops:
        metadata["recurrence"] = RECURRENCE
    return nir.NIRGraph(nodes=nodes, edges=list(zip(chain, chain[1:])) + loops, metadata=metadata)


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32)


# Each neuron model NIR can hold: its node's name in a graph (``lif2``, ``cubalif2``) and its writer.
_WRITERS = {"lif": ("lif", lif_to_nir), "cuba": ("cubalif", cuba_to_nir)}


def _layer_nodes(layer: Any, index: int, input_shape: tuple[int, ...], shape: tuple[int, ...],
                 dt: float) -> dict[str, Any]:
    """The NIR nodes of one spikekit layer, named by kind and position (``conv1``, ``lif1``, ``pool2``...)."""
    import nir

    if isinstance(layer, (SNNLayer, RecurrentLayer)):
        synapse = nir.Affine(weight=_array(layer.linear.weight), bias=_array(layer.linear.bias))
        return {f"affine{index}": synapse, **_neuron_node(layer, index, shape, dt)}
    if isinstance(layer, ConvLayer):
        conv = layer.conv
        synapse = nir.Conv2d(input_shape=tuple(input_shape[1:]), weight=_array(conv.weight), stride=1,
                             padding=conv.padding, dilation=1, groups=1, bias=_array(conv.bias))
        return {f"conv{index}": synapse, **_neuron_node(layer, index, shape, dt)}
    if isinstance(layer, Flatten):
        return {f"flatten{index}": nir.Flatten(input_type={"input": np.array(input_shape)}, start_dim=0)}
    if layer.kind == "max":
        raise NIRError(f"layer {index} is a max pooling, which NIR cannot represent; use average (aK) or sum (sK) "
                       "pooling in a network meant for NIR")
    pool = nir.AvgPool2d if layer.kind == "avg" else nir.SumPool2d
    size = np.array([layer.kernel_size] * 2)
    return {f"pool{index}": pool(kernel_size=size, stride=size, padding=np.array([0, 0]))}


def _neuron_node(layer: Any, index: int, shape: tuple[int, ...], dt: float) -> dict[str, Any]:
    """The node of a spiking layer's neurons (``lif3``, ``cubalif3``); ``NIRError`` for a model NIR cannot hold."""
    model = model_of(layer.params).name
    if model not in _WRITERS:
        kind = {"alif": "adaptive LIF", "adlif": "adLIF (adaptation current)",
                "brf": "resonate-and-fire"}.get(model, model)
        raise NIRError(f"layer {index} has {model} neurons and cannot be exported: NIR has no {kind} node; only LIF "
                       "and CubaLIF layers can")
    prefix, write = _WRITERS[model]
    node = write(layer.params, shape, dt)
    if isinstance(layer, RecurrentLayer) and model == "lif":  # in the units snnTorch's RLeaky reads
        node = lif_to_loop_units(node, _full(layer.params.tau, shape))
    return {f"{prefix}{index}": node}


def from_nir(graph: Any, dt: float = DEFAULT_DT, engine: str = "fast") -> SNN:
    """An ``SNN`` computing what ``graph`` computes (``NIRError`` naming any node it cannot represent).

    Accepts a chain from ``Input`` to ``Output`` of ``(Affine | Linear) -> (LIF | CubaLIF)``, ``Conv2d -> (LIF |
    CubaLIF)`` (stride 1, 'same' padding, odd square kernel), ``AvgPool2d``/``SumPool2d`` (square window, stride
    = window, no padding) and ``Flatten``; an ``Affine``/``Linear`` -> neurons layer whose neurons also feed an
    ``Affine``/``Linear`` that feeds only them back is a recurrent layer (``spikekit.io.nir_recurrent``). Constants
    that differ between neurons become per-neuron tensors (buffers of the layer's neurons), in conv layers too.
    ``r`` and ``v_leak`` of each LIF are folded into the preceding weights and bias (``lif_from_nir``); after a
    conv they must be the same within each channel; on a loop, ``r`` divides the thresholds instead.
    """
    import nir

    _check_dt(dt)
    try:
        graph, loops = split_loops(graph)
    except ValueError as error:
        raise NIRError(str(error)) from None
    names = _chain(graph)
    input_node = graph.nodes[_input_name(graph)]
    input_shape = tuple(int(n) for n in np.asarray(input_node.input_type["input"]).reshape(-1))
    tokens, synapses, shape, position = [], [], input_shape, 0
    while position < len(names):
        name, node = names[position], graph.nodes[names[position]]
        if isinstance(node, (nir.Affine, nir.Linear, nir.Conv2d)):
            neuron_name = names[position + 1] if position + 1 < len(names) else None
            if neuron_name is None:
                raise NIRError(f"node {name!r} ({type(node).__name__}) is not followed by LIF or CubaLIF neurons "
                               "before the output")
            token, weight, bias, params, shape = _synapse(node, name, graph.nodes[neuron_name], neuron_name, shape,
                                                          dt)
            if neuron_name in loops:
                if isinstance(node, nir.Conv2d):
                    raise NIRError(f"node {neuron_name!r} is on a recurrent loop after a Conv2d; spikekit's "
                                   "recurrent layers are fully connected")
                token = recurrent_token(token)
            tokens.append(token)
            synapses.append((weight, bias, params, loops.get(neuron_name)))
            position += 2
            continue
        if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
            size = _pool_size(node, name)
            tokens.append(("a" if isinstance(node, nir.AvgPool2d) else "s") + str(size))
            shape = (shape[0], shape[1] // size, shape[2] // size) if len(shape) == 3 else shape
        elif isinstance(node, nir.Flatten):
            shape = (math.prod(shape),)
        else:
            raise NIRError(f"node {name!r} is a {type(node).__name__}; spikekit reads chains of Affine/Linear or "
                           "Conv2d followed by LIF or CubaLIF, AvgPool2d, SumPool2d and Flatten")
        position += 1
    if not synapses:
        raise NIRError("the graph holds no Affine -> LIF layer")
    try:
        model = SNN("-".join(tokens), [params for _, _, params, _ in synapses], engine, input_shape)
    except ValueError as error:
        raise NIRError(f"the graph's layers do not form a spikekit network: {error}") from None
    with torch.no_grad():
        for layer, (weight, bias, _, loop) in zip(model.spiking_layers, synapses):
            target = layer.conv if isinstance(layer, ConvLayer) else layer.linear
            if loop is not None:  # U; its Affine's bias arrives every step, so it joins the layer's
                if tuple(layer.recurrent.weight.shape) != loop.weight.shape:
                    raise NIRError(f"node {loop.name!r}: the loop of {weight.shape[0]} neurons needs a weight "
                                   f"{list(layer.recurrent.weight.shape)}, got {list(loop.weight.shape)}")
                layer.recurrent.weight.copy_(torch.from_numpy(loop.weight))
                bias = bias + loop.bias
            if tuple(target.weight.shape) != weight.shape:
                raise NIRError(f"layer shapes do not chain: {tuple(target.weight.shape)} vs {weight.shape}")
            target.weight.copy_(torch.from_numpy(weight))
            target.bias.copy_(torch.from_numpy(bias))
    return model


def _reader(node: Any, name: str) -> Any:
    """The ``*_from_nir`` of a neuron node; ``NIRError`` naming it if it is another kind of node."""
    import nir

    readers = {nir.LIF: lif_from_nir, nir.CubaLIF: cuba_from_nir}
    if type(node) not in readers:
        raise NIRError(f"node {name!r} is a {type(node).__name__}; spikekit layers are a synapse followed by LIF or "
                       "CubaLIF neurons")
    return readers[type(node)]


def _synapse(node: Any, name: str, neurons: Any, neurons_name: str, shape: tuple[int, ...], dt: float):
    """(token, weight, bias, params, output shape) of a synapse node and the neuron node after it, the neurons'
    input scale and offset (LIF's r and v_leak) folded into the weights and bias."""
    import nir

    read = _reader(neurons, neurons_name)
    weight = np.asarray(node.weight, np.float64)
    if isinstance(node, nir.Conv2d):
        channels, kernel = weight.shape[0], weight.shape[-1]
        _check_conv(node, name, weight)
        if len(shape) != 3:
            raise NIRError(f"node {name!r}: a Conv2d needs image input [C, H, W], gets {list(shape)}")
        out_shape = (channels, shape[1], shape[2])
        params, r, v_leak = read(neurons, neurons_name, out_shape, dt)
        r, v_leak = _per_channel(r, channels, neurons_name, "r"), _per_channel(v_leak, channels, neurons_name, "v_leak")
        bias = np.asarray(node.bias, np.float64).reshape(-1) if node.bias is not None else np.zeros(channels)
        token, weight = f"{channels}c{kernel}", weight * r[:, None, None, None]
    else:
        if weight.ndim != 2:
            raise NIRError(f"node {name!r}: weight has shape {weight.shape}, expected [out, in]")
        bias = np.asarray(getattr(node, "bias", np.zeros(weight.shape[0])), np.float64)
        out_shape = (weight.shape[0],)
        params, r, v_leak = read(neurons, neurons_name, out_shape, dt)
        token, weight = str(weight.shape[0]), weight * r[:, None]
    return token + model_of(params).suffix, weight, bias * r + v_leak, params, out_shape


def _check_conv(node: Any, name: str, weight: np.ndarray) -> None:
    kernel = weight.shape[-1]
    padding = node.padding if isinstance(node.padding, str) else tuple(np.broadcast_to(node.padding, 2))
    if (weight.ndim != 4 or weight.shape[2] != kernel or kernel % 2 == 0 or padding not in ("same", (kernel // 2,) * 2)
            or node.groups != 1 or tuple(np.broadcast_to(node.stride, 2)) != (1, 1)
            or tuple(np.broadcast_to(node.dilation, 2)) != (1, 1)):
        raise NIRError(f"node {name!r}: spikekit conv layers have an odd square kernel, stride 1, 'same' padding, "
                       "no dilation and no groups")


def _per_channel(values: np.ndarray, channels: int, name: str, field: str) -> np.ndarray:
    per_channel = values.reshape(channels, -1)
    if not (per_channel == per_channel[:, :1]).all():
        raise NIRError(f"node {name!r}: {field} differs within a channel; spikekit folds it into the conv weights")
    return per_channel[:, 0]


def _pool_size(node: Any, name: str) -> int:
    kernel, stride = np.broadcast_to(node.kernel_size, 2), np.broadcast_to(node.stride, 2)
    padding = np.broadcast_to(node.padding if node.padding is not None else 0, 2)
    if kernel[0] != kernel[1] or tuple(stride) != tuple(kernel) or padding.any() or kernel[0] < 2:
        raise NIRError(f"node {name!r}: spikekit pools square windows >= 2 with stride = window and no padding")
    return int(kernel[0])


def write_nir(path: str | os.PathLike, graph: Any) -> None:
    """Write ``graph`` as a NIR (HDF5) file."""
    import nir

    nir.write(str(path), graph)


def read_nir(path: str | os.PathLike) -> Any:
    """Read a NIR file; ``NIRError`` naming the file if it is missing or not NIR."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise NIRError(f"{path}: no such NIR file")
    try:
        return nir.read(str(path))
    except Exception as error:  # h5py and nir raise many types for foreign or damaged files
        raise NIRError(f"{path}: not a readable NIR file ({type(error).__name__}: {error})") from None


def _chain(graph: Any) -> list[str]:
    """Node names between Input and Output, in order; ``NIRError`` unless ``graph`` (a ``NIRGraph``) is a chain."""
    import nir

    successors: dict[str, list[str]] = {}
    for source, target in graph.edges:
        successors.setdefault(source, []).append(target)
    chain, name = [], _input_name(graph)
    while True:
        following = successors.get(name, [])
        if len(following) != 1:
            raise NIRError(f"node {name!r} feeds {len(following)} nodes; spikekit reads chains, with loops only "
                           "from neurons through one Affine/Linear back to them (recurrent layers)")
        name = following[0]
        if name not in graph.nodes:
            raise NIRError(f"an edge points to the unknown node {name!r}")
        if isinstance(graph.nodes[name], nir.Output):
            break
        if name in chain:
            raise NIRError(f"node {name!r} is on a cycle; spikekit reads chains, with loops only from neurons "
                           "through one Affine/Linear back to them (recurrent layers)")
        chain.append(name)
    return chain


def _input_name(graph: Any) -> str:
    import nir

    inputs = [name for name, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise NIRError(f"the graph has {len(inputs)} Input nodes; spikekit reads chains with one")
    return inputs[0]


def _check_dt(dt: float) -> None:
    if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
        raise NIRError(f"dt must be a finite number of seconds > 0, got {dt}")
