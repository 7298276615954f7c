"""Neuron modules you compose: ``LIF``, ``ALIF``, ``CubaLIF``, ``AdLIF``, ``BRF`` map currents [T, B, *shape] to spikes
[T, B, *shape].

Each is a thin ``nn.Module`` over its model's pure core (``spikekit.dynamics``: the equations are there) and
the engines (``spikekit.kernels.scan``). A call starts from rest and keeps no state. On the CPU in
float32/float64 the scan is compiled (``kernels.scan.scan_neurons``); elsewhere the reference loop runs, with
the same results. Put one after any torch layer (``nn.Linear``, ``nn.Conv2d`` over T*B, dropout, residual sums):

    >>> import torch
    >>> from spikekit.nn.neurons import ALIF
    >>> neurons = ALIF(tau=3.0, beta=0.5, learn=("tau",), shape=4)
    >>> spikes = neurons(torch.rand(10, 2, 4) * 3)  # currents [T=10, B=2, 4]
    >>> spikes.shape, neurons.tau_raw.shape
    (torch.Size([10, 2, 4]), torch.Size([4]))

Constants are floats (shared by every neuron), tensors broadcastable to ``shape`` (per neuron, kept as buffers),
or learned: ``learn=("tau", "threshold", ...)`` makes the named ones ``nn.Parameter``s, one per neuron of
``shape`` (``shape=()``: one per layer, PLIF-style). A learned time constant is stored as ``<name>_raw`` with
``tau = 1 + softplus(tau_raw)``, so it stays > 1 step whatever the optimiser does; other learned constants
are stored as they are, under ``<name>_raw`` too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikekit.dynamics.neuron import MODELS, NeuronModel, NeuronParams, model_of
from spikekit.kernels.scan import scan_neurons


def _inverse_softplus_above_one(value: Tensor) -> Tensor:
    """raw with 1 + softplus(raw) = value (value > 1)."""
    excess = value - 1.0
    return excess + torch.log(-torch.expm1(-excess))


class Neuron(nn.Module):
    """A layer of neurons of one model (the subclass's ``model``). See the module docstring.

    Args:
        shape: the neurons' shape (one sample's), for per-neuron learned constants; () shares them.
        learn: names of constants to learn (``model.constants``).
        surrogate: backward derivative (``spikekit.dynamics.surrogate``); slope its sharpness.
        **constants: the model's constants (``model.params``' fields), floats or tensors; omitted ones
            take the Params' defaults.
    """

    model: ClassVar[NeuronModel]

    def __init__(self, shape: int | Sequence[int] = (), *, learn: Sequence[str] = (), surrogate: str = "fast_sigmoid",
                 slope: float = 5.0, **constants: float | Tensor) -> None:
        super().__init__()
        names = self.model.constants
        for name in [*constants, *learn]:
            if name not in names:
                raise ValueError(f"{type(self).__name__} has no constant {name!r}; its constants are "
                                 f"{', '.join(names)}")
        self.shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.learn = tuple(dict.fromkeys(learn))
        self.surrogate, self.slope = surrogate, float(slope)
        self._fixed: dict[str, float] = {}
        defaults = self.model.params._field_defaults
        for name in names:
            value = constants.get(name, defaults[name])
            if name in self.learn:
                start = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().expand(self.shape).clone()
                self.model.check(self.model.params(**{name: start}))  # range-check before inverting
                raw = _inverse_softplus_above_one(start) if name in self.model.time_constants else start
                self.register_parameter(f"{name}_raw", nn.Parameter(raw))
            elif isinstance(value, Tensor):
                self.register_buffer(name, value.detach().clone())
            else:
                self._fixed[name] = float(value)
        self.model.check(self.params())

    def constant(self, name: str) -> float | Tensor:
        """The current value of constant ``name``: a float, a buffer, or the learned value (a tensor with grad)."""
        if name in self.learn:
            raw = getattr(self, f"{name}_raw")
            return 1.0 + F.softplus(raw) if name in self.model.time_constants else raw
        if name in self._fixed:
            return self._fixed[name]
        return getattr(self, name)

    def params(self) -> NeuronParams:
        """The model's Params with the current constants (differentiable in the learned ones)."""
        return self.model.params(**{name: self.constant(name) for name in self.model.constants},
                                 surrogate=self.surrogate, slope=self.slope)

    def forward(self, current: Tensor) -> Tensor:
        """Currents [T, B, *shape] -> spikes [T, B, *shape] in {0., 1.}, from rest."""
        if current.dim() < 3:
            raise ValueError(f"{type(self).__name__} takes currents [T, B, ...] (time-major), got shape "
                             f"{list(current.shape)}")
        if self.shape and tuple(current.shape[2:]) != self.shape and math.prod(self.shape) > 1:
            raise ValueError(f"{type(self).__name__} of shape {list(self.shape)} got currents of shape "
                             f"{list(current.shape)}; expected [T, B, {', '.join(map(str, self.shape))}]")
        return scan_neurons(current, self.params())

    def extra_repr(self) -> str:
        parts = []
        for name in self.model.constants:
            value = self.constant(name)
            parts.append(f"{name}={value:g}" if isinstance(value, float) else
                         f"{name}={'learned' if name in self.learn else 'per-neuron'}")
        return ", ".join([*parts, f"surrogate={self.surrogate}"])


class LIF(Neuron):
    """Leaky integrate-and-fire (``spikekit.dynamics.lif``): constants tau, threshold, reset."""

    model = MODELS["lif"]


class ALIF(Neuron):
    """Adaptive LIF (``spikekit.dynamics.alif``): constants tau, threshold, reset, tau_adapt, beta."""

    model = MODELS["alif"]


class CubaLIF(Neuron):
    """Current-based LIF (``spikekit.dynamics.cuba``): constants tau, threshold, reset, tau_syn."""

    model = MODELS["cuba"]


class AdLIF(Neuron):
    """adLIF (``spikekit.dynamics.adlif``): constants tau, threshold, reset, tau_adapt, coupling, jump."""

    model = MODELS["adlif"]


class BRF(Neuron):
    """Balanced resonate-and-fire (``spikekit.dynamics.brf``): constants omega, b_offset, threshold, dt,
    refractory_decay."""

    model = MODELS["brf"]


# keyed as dynamics.neuron.MODELS
NEURONS: dict[str, type[Neuron]] = {"lif": LIF, "alif": ALIF, "cuba": CubaLIF, "adlif": AdLIF, "brf": BRF}


def as_neuron(neuron: Neuron | NeuronParams) -> Neuron:
    """``neuron`` itself, or the module holding the constants of a Params (floats or tensors, none learned)."""
    if isinstance(neuron, Neuron):
        return neuron
    model = model_of(neuron)
    return NEURONS[model.name](surrogate=neuron.surrogate, slope=neuron.slope,
                               **{name: getattr(neuron, name) for name in model.constants})
