"""Recurrent layers in NIR: ``I[t] = W x[t] + b + U s[t-1]`` as a loop in the graph (used by ``spikekit.io.nir``).

A ``RecurrentLayer`` (``spikekit.nn.recurrent``, ``64r`` in a spec) of layer ``i`` is three nodes, two of them in
the chain and one on a loop from the neurons back to themselves:

    ... -> affine{i} (Affine: W, b) -> lif{i} | cubalif{i} -> ...         the chain
                                       lif{i} -> recurrent{i} (Linear: U, no bias) -> lif{i}     the loop

A node sums what its incoming edges carry, so the neurons' input is ``W x + b + U s``. This is the arrangement
snnTorch's exporter writes for ``RLeaky``/``RSynaptic`` (``1.lif <-> 1.w_rec``) and its importer reads as one
recurrent module: a LIF or CubaLIF node and an Affine or Linear node that feed only each other.

Delay: NIR's edges carry no delay of their own, but a spike cannot reach its own neuron in the step that emits it
(that step has already fired and reset), so a discrete-time simulator carries the previous step's spikes round the
loop. snnTorch's ``RLeaky`` and ``RSynaptic`` do (``mem[t] = beta mem[t-1] + I[t] + U s[t-1]``, their state
``spk`` holding the last step's spikes), and so does spikekit; with ``s[-1] = 0`` (both start with no spikes),
one step of length dt is

    spikekit:  I[t] = W x[t] + b + U s[t-1],  then the neurons' step (``spikekit.dynamics``);
    NIR:       input of lif{i} at step t = affine{i}(x[t]) + recurrent{i}(s[t-1]).

The loop's weight node may be an ``Affine`` (snnTorch writes its ``recurrent`` ``nn.Linear`` with its bias): the
bias ``c`` arrives every step whatever the spikes, so it is read as part of the layer's bias, ``b + c``.

Units. A CubaLIF is written as in a feed-forward layer (``cuba_to_nir``: ``r = tau``, ``w_in = tau_syn``), which is
what snnTorch's ``RSynaptic`` reader takes. snnTorch's ``RLeaky`` reader requires ``r = tau_nir/dt`` in the LIF,
so a recurrent LIF is ``lif_to_nir``'s node in units ``v = tau V`` (``lif_to_loop_units``): NIR's Euler step
``v <- v + (dt/tau_nir) (v_leak - v + r I)`` with ``tau_nir = tau dt``, ``r = tau``, ``v_leak = 0`` is

    tau V <- tau V + (1/tau) (tau I - tau V),   i.e.  V <- V + (I - V)/tau   (spikekit's step),

exactly, for every I: the input weights W, b, U are unchanged and the thresholds scale, ``v_threshold = tau
threshold``, ``v_reset = tau reset`` (snnTorch's ``mem = beta mem + I`` with ``beta = 1 - 1/tau`` is this v).
A LIF on a loop is read back the same way for any ``r > 0`` (``lif_from_loop_units``): ``V = v / r`` divides the
thresholds and ``v_leak`` by r, so spikekit's own graphs come back with weights and constants unchanged.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

RECURRENCE = ("a loop neurons -> Linear U -> the same neurons carries the spikes of the step before: "
              "I[t] = W x[t] + b + U s[t-1], s[-1] = 0")  # the graph metadata of a network with a recurrent layer


class Loop(NamedTuple):
    """A recurrent loop read from a graph: its weight node's name, ``weight`` U [N, N] and ``bias`` [N] (zeros for
    a ``Linear``; an ``Affine``'s bias arrives every step and joins the layer's), both float64."""

    name: str
    weight: np.ndarray
    bias: np.ndarray


def close_loop(neurons: str, index: int, weight: np.ndarray) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The node ``recurrent{index}`` (a ``nir.Linear`` of ``weight`` U [N, N]) and the two edges that put it on a
    loop from the neurons' node ``neurons`` back to it."""
    import nir

    name = f"recurrent{index}"
    return {name: nir.Linear(weight=weight)}, [(neurons, name), (name, neurons)]


def lif_to_loop_units(node: Any, tau: np.ndarray) -> Any:
    """``node`` (``lif_to_nir``'s, ``r = 1``) in the units ``v = tau V`` a recurrent LIF is written in: ``r = tau``,
    thresholds times ``tau`` (``tau``: the time constants in steps, per neuron, as ``node``'s fields)."""
    import nir

    return nir.LIF(tau=node.tau, r=tau, v_leak=node.v_leak * tau, v_threshold=node.v_threshold * tau,
                   v_reset=node.v_reset * tau)


def lif_from_loop_units(node: Any, name: str) -> Any:
    """``node``, a LIF on a loop, rewritten with ``r = 1`` so that ``lif_from_nir`` folds nothing into the weights:
    with ``V = v / r`` (module docstring) its thresholds and ``v_leak`` are divided by ``r``. ``ValueError`` naming
    the node ``name`` unless ``r > 0`` for every neuron (a negative r would turn the spike condition round)."""
    import nir

    r = np.asarray(node.r, np.float64)
    if not np.all(r > 0):
        raise ValueError(f"node {name!r}: r must be > 0 for every neuron of a LIF on a recurrent loop, got {r.min()} "
                         "at the least")
    v_reset = np.asarray(0.0 if node.v_reset is None else node.v_reset, np.float64)
    return nir.LIF(tau=node.tau, r=np.ones_like(r), v_leak=np.asarray(node.v_leak, np.float64) / r,
                   v_threshold=np.asarray(node.v_threshold, np.float64) / r, v_reset=v_reset / r)


def recurrent_token(token: str) -> str:
    """The spec token of a fully connected layer made recurrent (``spikekit.nn.spec``): ``64`` -> ``64r``, ``64s``
    -> ``64rs``."""
    size = token.rstrip("as")
    return size + "r" + token[len(size):]


def split_loops(graph: Any) -> tuple[Any, dict[str, Loop]]:
    """``graph`` without its recurrent loops, and each loop by the name of the neurons' node it closes on.

    A loop is an ``Affine`` or ``Linear`` node fed only by a ``LIF`` or ``CubaLIF`` node and feeding only that node
    (the module docstring); its node and two edges are removed, and a LIF on a loop is put in the units of
    ``lif_from_loop_units``. Any other cycle stays, for the reader to refuse. ``ValueError`` naming the node for
    a loop weight that is not [N, N] with a bias of N, or a LIF with ``r <= 0``; and for anything but a graph.
    """
    import nir

    if not isinstance(graph, nir.NIRGraph):
        raise ValueError(f"expected a NIR graph, got {type(graph).__name__}")
    sources: dict[str, list[str]] = {}
    targets: dict[str, list[str]] = {}
    for source, target in graph.edges:
        targets.setdefault(source, []).append(target)
        sources.setdefault(target, []).append(source)
    loops: dict[str, Loop] = {}
    nodes = dict(graph.nodes)
    for name, node in graph.nodes.items():
        following = targets.get(name, [])
        neurons = following[0] if len(following) == 1 else None
        on_loop = sources.get(name) == following and isinstance(graph.nodes.get(neurons), (nir.LIF, nir.CubaLIF))
        if not isinstance(node, (nir.Affine, nir.Linear)) or not on_loop or neurons in loops:
            continue
        weight = np.asarray(node.weight, np.float64)
        bias = getattr(node, "bias", None)
        bias = np.zeros(weight.shape[:1]) if bias is None else np.asarray(bias, np.float64)
        if weight.ndim != 2 or weight.shape[0] != weight.shape[1] or bias.shape != weight.shape[:1]:
            raise ValueError(f"node {name!r} on a recurrent loop: weight {list(weight.shape)} and bias "
                             f"{list(bias.shape)} are not [N, N] and [N]")
        loops[neurons] = Loop(name, weight, bias)
        del nodes[name]
        if isinstance(nodes[neurons], nir.LIF):
            nodes[neurons] = lif_from_loop_units(nodes[neurons], neurons)
    removed = {loop.name for loop in loops.values()}
    edges = [edge for edge in graph.edges if not removed.intersection(edge)]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph.metadata, type_check=False), loops
