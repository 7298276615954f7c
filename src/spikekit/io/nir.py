"""NIR (Neuromorphic Intermediate Representation) export and import: ``to_nir``, ``from_nir``, files.

The graph of an ``SNN`` is the chain ``Input -> Affine -> LIF -> ... -> Affine -> LIF -> Output``; the
LIF constants are translated in exactly one place, ``lif_to_nir`` / ``lif_from_nir`` (derivation there).
Spike condition: spikekit fires at ``V >= threshold``, NIR writes ``v > v_threshold``; the two differ only
when a float membrane lands exactly on the threshold, which real inputs and weights make vanishingly
rare (the cross-library tests compare every spike and find no difference). Both reset in the same step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spikekit.dynamics.lif import LIFParams, check_params
from spikekit.errors import SpikekitError
from spikekit.nn.network import SNN

DEFAULT_DT = 1e-4  # seconds per time step; the value most NIR importers (snnTorch, Norse, Lava) assume


class NIRError(SpikekitError):
    """A NIR file or graph that spikekit cannot read or represent; the message names the node."""


def lif_to_nir(params: LIFParams, num_neurons: int, dt: float = DEFAULT_DT) -> Any:
    """The ``nir.LIF`` node equal to a spikekit LIF layer.

    spikekit's step (``spikekit.dynamics.lif``) is ``V <- V + (I - V)/tau`` with ``tau`` in steps.
    NIR's neuron is ``tau_nir * dv/dt = (v_leak - v) + r * I``; one forward-Euler step of length ``dt`` is
    ``v <- v + (dt/tau_nir) * (v_leak - v + r * I)``. The two agree for every input when
    ``dt/tau_nir = 1/tau``, ``r = 1`` and ``v_leak = 0``, i.e.

        tau_nir = tau * dt (seconds),  r = 1,  v_leak = 0,  v_threshold = threshold,  v_reset = reset.
    """
    import nir

    def full(value: float) -> np.ndarray:
        return np.full(num_neurons, value, dtype=np.float64)
    return nir.LIF(tau=full(params.tau * dt), r=full(1.0), v_leak=full(0.0), v_threshold=full(params.threshold),
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
    """The NIR graph of ``model``: ``input -> affine1 -> lif1 -> ... -> output``, float32 weights.

    The graph metadata records dt, the update rule, the spike condition and the reset rule.
    """
    import nir

    _check_dt(dt)
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([model.sizes[0]])})}
    chain = ["input"]
    for index, layer in enumerate(model.layers, start=1):
        weight = layer.linear.weight.detach().cpu().numpy().astype(np.float32)
        bias = layer.linear.bias.detach().cpu().numpy().astype(np.float32)
        nodes[f"affine{index}"] = nir.Affine(weight=weight, bias=bias)
        nodes[f"lif{index}"] = lif_to_nir(layer.params, weight.shape[0], dt)
        chain += [f"affine{index}", f"lif{index}"]
    nodes["output"] = nir.Output(output_type={"output": np.array([model.sizes[-1]])})
    chain.append("output")
    metadata = {"source": "spikekit", "dt": dt, "update": "forward Euler, one step per dt",
                "spike": "v >= v_threshold (spikekit); reset v <- v_reset in the same step"}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(chain, chain[1:])), metadata=metadata)


def from_nir(graph: Any, dt: float = DEFAULT_DT, engine: str = "fast") -> SNN:
    """An ``SNN`` computing what ``graph`` computes (``NIRError`` naming any node it cannot represent).

    Accepts a chain ``Input -> (Affine | Linear) -> LIF -> ... -> Output``; ``r`` and ``v_leak`` of each LIF
    are folded into the preceding weights and bias (``lif_from_nir``).
    """
    import nir

    _check_dt(dt)
    layers = []
    names = _chain(graph)
    for synapse_name, neuron_name in zip(names[::2], names[1::2]):
        synapse, neuron = graph.nodes[synapse_name], graph.nodes[neuron_name]
        if not isinstance(synapse, (nir.Affine, nir.Linear)) or not isinstance(neuron, nir.LIF):
            bad = neuron_name if isinstance(synapse, (nir.Affine, nir.Linear)) else synapse_name
            raise NIRError(f"node {bad!r} is a {type(graph.nodes[bad]).__name__}; spikekit reads chains of "
                           "Affine/Linear followed by LIF")
        weight = np.asarray(synapse.weight, np.float64)
        if weight.ndim != 2:
            raise NIRError(f"node {synapse_name!r}: weight has shape {weight.shape}, expected [out, in]")
        bias = np.asarray(getattr(synapse, "bias", np.zeros(weight.shape[0])), np.float64)
        params, r, v_leak = lif_from_nir(neuron, neuron_name, weight.shape[0], dt)
        layers.append((weight * r[:, None], bias * r + v_leak, params))
    if not layers:
        raise NIRError("the graph holds no Affine -> LIF layer")
    sizes = [layers[0][0].shape[1]] + [weight.shape[0] for weight, _, _ in layers]
    model = SNN(sizes, [params for _, _, params in layers], engine)
    with torch.no_grad():
        for layer, (weight, bias, _) in zip(model.layers, layers):
            if layer.linear.weight.shape != weight.shape:
                raise NIRError(f"layer shapes do not chain: {layer.linear.weight.shape} vs {weight.shape}")
            layer.linear.weight.copy_(torch.from_numpy(weight))
            layer.linear.bias.copy_(torch.from_numpy(bias))
    return model


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
    inputs = [name for name, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise NIRError(f"the graph has {len(inputs)} Input nodes; spikekit reads feed-forward chains with one")
    chain, name = [], inputs[0]
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
    if len(chain) % 2:
        raise NIRError(f"node {chain[-1]!r} ({type(graph.nodes[chain[-1]]).__name__}) is not followed by a LIF "
                       "before the output")
    return chain


def _check_dt(dt: float) -> None:
    if not (isinstance(dt, (int, float)) and np.isfinite(dt) and dt > 0):
        raise NIRError(f"dt must be a finite number of seconds > 0, got {dt}")
