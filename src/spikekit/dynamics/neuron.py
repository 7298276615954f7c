"""Neuron models as one table: each model's params, state and step, and the order its constants are packed in.

A model is written once in its own file (``lif.py``, ``alif.py``, ``cuba.py``, ``adlif.py``, ``brf.py``: NamedTuple
params and state, a pure step with the equations in the docstring); this table names it for the modules, the grammar and
the compiled kernels (``spikekit.kernels.neurons`` holds each model's compiled row step and adjoint under the
same ``code``, found by name: ``kernels/neurons/<name>.py``). Adding a model: its core file, its compiled rows
(``kernels/neurons``'s module docstring lists the five names they define), one entry here and its module class
(``spikekit.nn.neurons``).

``constants`` are the per-neuron numeric fields, in the order ``pack`` stacks them for the kernels;
``time_constants`` are those that must stay > 1 step (learned ones are parameterised so; ``spikekit.nn``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from spikekit.dynamics.adlif import AdLIFParams, AdLIFState, adlif_step, check_adlif
from spikekit.dynamics.alif import ALIFParams, ALIFState, alif_step, check_alif
from spikekit.dynamics.brf import BRFParams, BRFState, brf_step, check_brf
from spikekit.dynamics.cuba import CubaLIFParams, CubaLIFState, check_cuba, cuba_step
from spikekit.dynamics.lif import LIFParams, LIFState, check_params, lif_step

# any model's constants; the type picks the model
NeuronParams = LIFParams | ALIFParams | CubaLIFParams | AdLIFParams | BRFParams


class NeuronModel(NamedTuple):
    name: str  # "lif", "alif", "cuba", "adlif", "brf": the CLI's --neuron and config.json's value
    params: type  # its Params NamedTuple
    state: type  # its State NamedTuple (every field a [B, N] tensor, at rest 0)
    step: Callable[[Tensor, Any, Any], tuple[Tensor, Any]]  # (current, state, params) -> (spikes, state)
    check: Callable[[Any], Any]  # ValueError for out-of-range params
    constants: tuple[str, ...]  # per-neuron numeric fields, in packing order
    time_constants: tuple[str, ...]  # fields that must stay > 1 step
    code: int  # the branch of spikekit.kernels.neurons that runs it compiled
    suffix: str  # its layer-token suffix in spikekit.nn.spec ("" for the default)


MODELS: dict[str, NeuronModel] = {
    "lif": NeuronModel("lif", LIFParams, LIFState, lif_step, check_params, ("tau", "threshold", "reset"),
                       ("tau",), 0, ""),
    "alif": NeuronModel("alif", ALIFParams, ALIFState, alif_step, check_alif,
                        ("tau", "threshold", "reset", "tau_adapt", "beta"), ("tau", "tau_adapt"), 1, "a"),
    "cuba": NeuronModel("cuba", CubaLIFParams, CubaLIFState, cuba_step, check_cuba,
                        ("tau", "threshold", "reset", "tau_syn"), ("tau", "tau_syn"), 2, "s"),
    "adlif": NeuronModel("adlif", AdLIFParams, AdLIFState, adlif_step, check_adlif,
                         ("tau", "threshold", "reset", "tau_adapt", "coupling", "jump"), ("tau", "tau_adapt"), 3, "d"),
    "brf": NeuronModel("brf", BRFParams, BRFState, brf_step, check_brf,
                       ("omega", "b_offset", "threshold", "dt", "refractory_decay"), (), 4, "b"),
}


def check_model(name: str) -> NeuronModel:
    """The model called ``name``; ``ValueError`` listing the known ones otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown neuron model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def model_of(params: NamedTuple) -> NeuronModel:
    """The model whose Params type ``params`` is."""
    for model in MODELS.values():
        if type(params) is model.params:
            return model
    raise ValueError(f"not a neuron's params: {type(params).__name__}")


def rest_state(model: NeuronModel, batch_size: int, shape: tuple[int, ...], like: Tensor) -> Any:
    """Every state variable at 0, [batch_size, *shape], on ``like``'s device and dtype."""
    return model.state(*(torch.zeros(batch_size, *shape, dtype=like.dtype, device=like.device)
                         for _ in model.state._fields))


def neuron_scan(current: Tensor, params: NamedTuple, state: Any = None) -> tuple[Tensor, Any]:
    """The model's step over the leading time axis: the reference every engine must equal.

    Args:
        current: input currents [T, B, *shape].
        params: the model's params (its type picks the model).
        state: before the first step (None: at rest).
    Returns:
        spikes [T, B, *shape] in {0., 1.} and the state after the last step.
    """
    model = model_of(params)
    if state is None:
        state = rest_state(model, current.shape[1], tuple(current.shape[2:]), current)
    spikes = []
    for current_t in current:
        spikes_t, state = model.step(current_t, state, params)
        spikes.append(spikes_t)
    return torch.stack(spikes), state


def pack(params: NamedTuple, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """The model's constants as one [P, prod(shape)] tensor in ``like``'s dtype and device, in the order of
    ``NeuronModel.constants``: what the compiled kernels take. Scalars and per-neuron tensors (broadcastable
    to ``shape``) alike; differentiable in tensor fields, so learned constants get their gradients."""
    model = model_of(params)
    rows = [torch.as_tensor(getattr(params, name), dtype=like.dtype, device=like.device).expand(shape).reshape(-1)
            for name in model.constants]
    return torch.stack(rows)
