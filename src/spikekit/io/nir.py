"""NIR (Neuromorphic Intermediate Representation) export and import: ``to_nir``, ``from_nir``, files.

The graph of an ``SNN`` is the chain ``Input -> Affine -> LIF -> ... -> Affine -> LIF -> Output``; the
LIF constants are translated in exactly one place, ``lif_to_nir`` / ``lif_from_nir`` (derivation there).
Spike condition: spikekit fires at ``V >= threshold``, NIR writes ``v > v_threshold``; the two differ only
when a float membrane lands exactly on the threshold, which real inputs and weights make vanishingly
rare (the cross-library tests compare every spike and find no difference). Both reset in the same step.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikekit.dynamics.lif import LIFParams, check_params
from spikekit.dynamics.neuron import model_of
from spikekit.errors import SpikekitError
from spikekit.nn import SNN, ConvLayer, Flatten, SNNLayer

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

    def full(value: float | torch.Tensor, scale: float = 1.0) -> np.ndarray:
        values = value.detach().cpu().double().numpy() if isinstance(value, torch.Tensor) else value
        return np.broadcast_to(np.asarray(values, dtype=np.float64) * scale, shape).copy()
    return nir.LIF(tau=full(params.tau, dt), r=full(1.0), v_leak=full(0.0), v_threshold=full(params.threshold),
                   v_reset=full(params.reset))


def lif_from_nir(node: Any, name: str, num_neurons: int, dt: float = DEFAULT_DT,
                 ) -> tuple[LIFParams, np.ndarray, np.ndarray]:
    """Invert ``lif_to_nir`` for any ``nir.LIF``: (params, r, v_leak), ``r`` and ``v_leak`` per neuron [N].

    A general node has ``tau = tau_nir/dt`` steps and current ``r * I + v_leak`` (same Euler step as
    above), so ``r`` scales the incoming weights and bias and ``v_leak`` adds to the bias: both exact.
    ``tau``, ``v_threshold`` and ``v_reset`` must be the same for all neurons of the node.
    """
    def uniform(field: str, value: Any) -> float:
        values = np.unique(np.asarray(value, dtype=np.float64))
        if values.size != 1:
            raise NIRError(f"node {name!r}: {field} differs between neurons ({values[:4]}...); spikekit "
                           "layers share one value")
        return float(values[0])
    tau = uniform("tau", node.tau) / dt
    reset = 0.0 if getattr(node, "v_reset", None) is None else uniform("v_reset", node.v_reset)
    # tau is rounded to float32, the precision the engines compute in, so 2e-4 s / 1e-4 s is exactly 2.
    params = LIFParams(tau=float(np.float32(tau)), threshold=uniform("v_threshold", node.v_threshold), reset=reset)
    try:
        check_params(params)
    except ValueError as error:
        raise NIRError(f"node {name!r} with dt={dt}: {error}") from None
    def per_neuron(field: str, value: Any) -> np.ndarray:
        array = np.asarray(value, np.float64).reshape(-1)
        if array.size not in (1, num_neurons):
            raise NIRError(f"node {name!r}: {field} has {array.size} values for {num_neurons} neurons")
        return np.broadcast_to(array, num_neurons)
    for field in ("tau", "v_threshold") + (("v_reset",) if getattr(node, "v_reset", None) is not None else ()):
        per_neuron(field, getattr(node, field))
    return params, per_neuron("r", node.r), per_neuron("v_leak", node.v_leak)


def to_nir(model: SNN, dt: float = DEFAULT_DT) -> Any:
    """The NIR graph of ``model``, a chain from ``input`` to ``output``, float32 weights: each fully
    connected layer an ``Affine`` then ``LIF``, each conv layer a ``Conv2d`` (stride 1, 'same' padding)
    then ``LIF`` over [C, H, W], average and sum pooling ``AvgPool2d``/``SumPool2d``, then ``Flatten``.

    NIR has no max pooling: a model with a ``pK`` layer raises ``NIRError`` (use ``aK`` or ``sK``).
    The graph metadata records dt, the update rule, the spike condition and the reset rule.
    """
    import nir

    _check_dt(dt)
    # A fully connected first layer reads its input flat: so does the graph, as other tools expect.
    shape = (model.sizes[0],) if isinstance(model.layers[0], SNNLayer) else model.input_shape
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(shape)})}
    for index, (layer, output_shape) in enumerate(zip(model.layers, model.shapes), start=1):
        nodes.update(_layer_nodes(layer, index, shape, output_shape, dt))
        shape = output_shape
    nodes["output"] = nir.Output(output_type={"output": np.array([model.sizes[-1]])})
    chain = list(nodes)
    metadata = {"source": "spikekit", "dt": dt, "update": "forward Euler, one step per dt",
                "spike": "v >= v_threshold (spikekit); reset v <- v_reset in the same step"}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(chain, chain[1:])), metadata=metadata)


def _layer_nodes(layer: Any, index: int, input_shape: tuple[int, ...], shape: tuple[int, ...],
                 dt: float) -> dict[str, Any]:
    """The NIR nodes of one spikekit layer, named by kind and position (``conv1``, ``lif1``, ``pool2``...)."""
    import nir

    def array(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().cpu().numpy().astype(np.float32)
    if isinstance(layer, (SNNLayer, ConvLayer)) and type(layer.params) is not LIFParams:
        model = model_of(layer.params).name
        why = ("NIR has no adaptive LIF node" if model == "alif" else
               "spikekit does not write NIR's CubaLIF node yet")
        raise NIRError(f"layer {index} has {model} neurons and cannot be exported: {why}; only LIF layers can")
    if isinstance(layer, SNNLayer):
        synapse = nir.Affine(weight=array(layer.linear.weight), bias=array(layer.linear.bias))
        return {f"affine{index}": synapse, f"lif{index}": lif_to_nir(layer.params, shape, dt)}
    if isinstance(layer, ConvLayer):
        conv = layer.conv
        synapse = nir.Conv2d(input_shape=tuple(input_shape[1:]), weight=array(conv.weight), stride=1,
                             padding=conv.padding, dilation=1, groups=1, bias=array(conv.bias))
        return {f"conv{index}": synapse, f"lif{index}": lif_to_nir(layer.params, shape, dt)}
    if isinstance(layer, Flatten):
        return {f"flatten{index}": nir.Flatten(input_type={"input": np.array(input_shape)}, start_dim=0)}
    if layer.kind == "max":
        raise NIRError(f"layer {index} is a max pooling, which NIR cannot represent; use average (aK) or sum (sK) "
                       "pooling in a network meant for NIR")
    pool = nir.AvgPool2d if layer.kind == "avg" else nir.SumPool2d
    size = np.array([layer.kernel_size] * 2)
    return {f"pool{index}": pool(kernel_size=size, stride=size, padding=np.array([0, 0]))}


def from_nir(graph: Any, dt: float = DEFAULT_DT, engine: str = "fast") -> SNN:
    """An ``SNN`` computing what ``graph`` computes (``NIRError`` naming any node it cannot represent).

    Accepts a chain from ``Input`` to ``Output`` of ``(Affine | Linear) -> LIF``, ``Conv2d -> LIF``
    (stride 1, 'same' padding, odd square kernel), ``AvgPool2d``/``SumPool2d`` (square window, stride =
    window, no padding) and ``Flatten``. ``r`` and ``v_leak`` of each LIF are folded into the preceding
    weights and bias (``lif_from_nir``); after a conv they must be the same within each channel.
    """
    import nir

    _check_dt(dt)
    names = _chain(graph)
    input_node = graph.nodes[_input_name(graph)]
    input_shape = tuple(int(n) for n in np.asarray(input_node.input_type["input"]).reshape(-1))
    tokens, synapses, shape, position = [], [], input_shape, 0
    while position < len(names):
        name, node = names[position], graph.nodes[names[position]]
        if isinstance(node, (nir.Affine, nir.Linear, nir.Conv2d)):
            lif_name = names[position + 1] if position + 1 < len(names) else None
            if lif_name is None:
                raise NIRError(f"node {name!r} ({type(node).__name__}) is not followed by a LIF before the output")
            if not isinstance(graph.nodes[lif_name], nir.LIF):
                raise NIRError(f"node {lif_name!r} is a {type(graph.nodes[lif_name]).__name__}; spikekit layers are "
                               "a synapse followed by LIF neurons")
            token, weight, bias, params, shape = _synapse(node, name, graph.nodes[lif_name], lif_name, shape, dt)
            tokens.append(token)
            synapses.append((weight, bias, params))
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
                           "Conv2d followed by LIF, AvgPool2d, SumPool2d and Flatten")
        position += 1
    if not synapses:
        raise NIRError("the graph holds no Affine -> LIF layer")
    try:
        model = SNN("-".join(tokens), [params for _, _, params in synapses], engine, input_shape)
    except ValueError as error:
        raise NIRError(f"the graph's layers do not form a spikekit network: {error}") from None
    with torch.no_grad():
        for layer, (weight, bias, _) in zip(model.spiking_layers, synapses):
            target = layer.linear if isinstance(layer, SNNLayer) else layer.conv
            if tuple(target.weight.shape) != weight.shape:
                raise NIRError(f"layer shapes do not chain: {tuple(target.weight.shape)} vs {weight.shape}")
            target.weight.copy_(torch.from_numpy(weight))
            target.bias.copy_(torch.from_numpy(bias))
    return model


def _synapse(node: Any, name: str, lif: Any, lif_name: str, shape: tuple[int, ...], dt: float):
    """(token, weight, bias, params, output shape) of a synapse node and its LIF, r and v_leak folded in."""
    import nir

    weight = np.asarray(node.weight, np.float64)
    if isinstance(node, nir.Conv2d):
        channels, kernel = weight.shape[0], weight.shape[-1]
        _check_conv(node, name, weight)
        if len(shape) != 3:
            raise NIRError(f"node {name!r}: a Conv2d needs image input [C, H, W], gets {list(shape)}")
        out_shape = (channels, shape[1], shape[2])
        params, r, v_leak = lif_from_nir(lif, lif_name, math.prod(out_shape), dt)
        r, v_leak = _per_channel(r, channels, lif_name, "r"), _per_channel(v_leak, channels, lif_name, "v_leak")
        bias = np.asarray(node.bias, np.float64).reshape(-1) if node.bias is not None else np.zeros(channels)
        return f"{channels}c{kernel}", weight * r[:, None, None, None], bias * r + v_leak, params, out_shape
    if weight.ndim != 2:
        raise NIRError(f"node {name!r}: weight has shape {weight.shape}, expected [out, in]")
    bias = np.asarray(getattr(node, "bias", np.zeros(weight.shape[0])), np.float64)
    params, r, v_leak = lif_from_nir(lif, lif_name, weight.shape[0], dt)
    return str(weight.shape[0]), weight * r[:, None], bias * r + v_leak, params, (weight.shape[0],)


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
    """Node names between Input and Output, in order; ``NIRError`` unless the graph is a simple chain."""
    import nir

    if not isinstance(graph, nir.NIRGraph):
        raise NIRError(f"expected a NIR graph, got {type(graph).__name__}")
    successors: dict[str, list[str]] = {}
    for source, target in graph.edges:
        successors.setdefault(source, []).append(target)
    chain, name = [], _input_name(graph)
    while True:
        following = successors.get(name, [])
        if len(following) != 1:
            raise NIRError(f"node {name!r} feeds {len(following)} nodes; spikekit reads feed-forward chains")
        name = following[0]
        if name not in graph.nodes:
            raise NIRError(f"an edge points to the unknown node {name!r}")
        if isinstance(graph.nodes[name], nir.Output):
            break
        if name in chain:
            raise NIRError(f"node {name!r} is on a recurrent loop; spikekit reads feed-forward chains")
        chain.append(name)
    return chain


def _input_name(graph: Any) -> str:
    import nir

    inputs = [name for name, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise NIRError(f"the graph has {len(inputs)} Input nodes; spikekit reads feed-forward chains with one")
    return inputs[0]


def _check_dt(dt: float) -> None:
    if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
        raise NIRError(f"dt must be a finite number of seconds > 0, got {dt}")
