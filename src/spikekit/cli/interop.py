"""``spikekit export`` / ``import`` (NIR files) and ``spikekit predict`` (classify one image file)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from spikekit.cli.common import check_output_file
from spikekit.cli.inspect import load_model
from spikekit.config import PER_NEURON, ModelConfig, RunConfig, TrainConfig
from spikekit.data.encoding import poisson_encode
from spikekit.dynamics.neuron import MODELS, model_of
from spikekit.errors import ConfigError, DataError
from spikekit.io.checkpoint import Checkpoint, save_checkpoint
from spikekit.io.nir import DEFAULT_DT, NIRError, from_nir, read_nir, to_nir, write_nir
from spikekit.nn import SNN
from spikekit.nn.spec import SPIKING_KINDS, parse_arch
from spikekit.train.rng import keyed_generator


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("export", help="write a checkpoint's network as a NIR file")
    parser.add_argument("checkpoint", help="a .safetensors checkpoint")
    parser.add_argument("out", metavar="OUT.nir")
    parser.add_argument("--dt", type=float, default=DEFAULT_DT, help=f"seconds per time step (default {DEFAULT_DT})")
    parser.add_argument("--force", action="store_true", help="overwrite OUT.nir if it exists")
    parser.set_defaults(run=run_export)

    parser = commands.add_parser("import", help="turn a NIR file into a spikekit checkpoint")
    parser.add_argument("nir_file", metavar="IN.nir")
    parser.add_argument("out", metavar="OUT_CHECKPOINT", help="a .safetensors file to write")
    parser.add_argument("--dt", type=float, default=DEFAULT_DT, help="seconds per time step the graph assumes")
    parser.add_argument("-T", "--num-steps", type=int, default=TrainConfig.num_steps,
                        help="time steps per image stored in the checkpoint's config")
    parser.add_argument("--force", action="store_true", help="overwrite OUT_CHECKPOINT if it exists")
    parser.set_defaults(run=run_import)

    parser = commands.add_parser("predict", help="classify a digit image (PNG, JPEG...) with a checkpoint")
    parser.add_argument("image", help="grayscale or colour image; resized to 28 x 28")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("-T", "--num-steps", type=int, help="time steps (default: the checkpoint's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the Poisson encoding")
    parser.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                        help="MNIST digits are light on dark; auto inverts images whose border is light")
    parser.set_defaults(run=run_predict)


def run_export(args: argparse.Namespace) -> int:
    check_output_file(args.out, args.force)
    model, _ = load_model(args.checkpoint, engine="reference")
    graph = to_nir(model, args.dt)
    write_nir(args.out, graph)
    # the chain in order; a recurrent layer's loop (neurons -> U -> neurons) listed after it, not in the chain
    loops = [(source, target) for source, target in graph.edges if target in graph.nodes and source.startswith(
        "recurrent")]
    chain = [name for name in graph.nodes if not any(name == source for source, _ in loops)]
    looped = "".join(f", loop {target} <-> {source}" for source, target in loops)
    print(f"wrote {args.out}: {' -> '.join(chain)}{looped} (dt={args.dt} s)")
    return 0


def run_import(args: argparse.Namespace) -> int:
    check_output_file(args.out, args.force)
    model = from_nir(read_nir(args.nir_file), args.dt)
    try:
        model_config = import_config(model)
    except ConfigError as error:
        raise NIRError(f"{args.nir_file}: {error}") from None
    config = RunConfig(model_config, TrainConfig(num_steps=args.num_steps))
    meta = {"config": config.to_dict(), "source": f"NIR file {args.nir_file}", "dt": args.dt}
    save_checkpoint(args.out, Checkpoint(model.state_dict(), None, meta))
    print(f"wrote {args.out}: network {'-'.join(map(str, model.sizes))} ({model.arch}), {_describe(model_config)}")
    return 0


# The neurons' constants ModelConfig holds in fields of the same name, each group shared by the layers that have it
# when they all agree; threshold and reset only together, so that the shared pair is always a valid one.
_SHARED = (("tau",), ("threshold", "reset"), ("tau_syn",))


def import_config(model: SNN) -> ModelConfig:
    """The ``ModelConfig`` that rebuilds ``model`` (its weights and per-neuron values then come from its state dict):
    constants shared where the layers agree (``_SHARED``), and in ``layer_constants`` each layer's that differ
    from them, a per-neuron tensor as ``PER_NEURON`` (its values travel in the checkpoint as the layer's buffer).
    ``ConfigError`` for what a config cannot hold."""
    layers = [{name: PER_NEURON if isinstance(getattr(layer.params, name), torch.Tensor) else
               float(getattr(layer.params, name)) for name in model_of(layer.params).constants}
              for layer in model.spiking_layers]
    shared: dict[str, float] = {}
    for group in _SHARED:
        values = {tuple(layer[name] for name in group) for layer in layers if group[0] in layer}
        if len(values) == 1 and PER_NEURON not in next(iter(values)):
            shared.update(zip(group, next(iter(values))))
    config = ModelConfig(arch=model.arch, input_shape=model.input_shape, **shared)
    own = tuple({name: value for name, value in layer.items() if value != getattr(params, name)}
                for layer, params in zip(layers, config.layer_params()))
    return dataclasses.replace(config, layer_constants=own if any(own) else ())


def _describe(config: ModelConfig) -> str:
    """The shared constants the layers' models have, then each layer's own: ``tau=2.0, threshold=1.0, reset=0.0;
    layer 10s: tau_syn=per-neuron``."""
    constants = {name for kind in config.layer_models() for name in MODELS[kind].constants}
    parts = [", ".join(f"{name}={getattr(config, name)}" for group in _SHARED for name in group if name in constants)]
    tokens = [spec.token for spec in parse_arch(config.arch) if spec.kind in SPIKING_KINDS]
    parts += [f"layer {token}: " + ", ".join(f"{name}={value}" for name, value in own.items())
              for token, own in zip(tokens, config.layer_constants) if own]
    return "; ".join(parts)


def read_image(path: str | Path, invert: str = "auto") -> torch.Tensor:
    """A digit image as intensities in [0, 1], shape [784] (28 x 28, light digit on dark as in MNIST)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            gray = image.convert("L")
            if gray.size != (28, 28):
                gray = gray.resize((28, 28), Image.Resampling.LANCZOS)
            pixels = np.asarray(gray, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise DataError(f"{path}: cannot read as an image ({error})") from None
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if invert == "yes" or (invert == "auto" and border.mean() > 0.5):
        pixels = 1.0 - pixels
    return torch.from_numpy(pixels.reshape(784))


def run_predict(args: argparse.Namespace) -> int:
    model, config = load_model(args.checkpoint)
    num_steps = args.num_steps if args.num_steps is not None else config.train.num_steps
    train = dataclasses.replace(config.train, num_steps=num_steps, seed=args.seed)  # validates both
    if model.sizes[0] != 784:
        raise ConfigError(f"{args.checkpoint} expects inputs of shape {list(model.input_shape)}, not a 28 x 28 image")
    intensity = read_image(args.image, args.invert)[None]
    if float(intensity.max() - intensity.min()) == 0.0:  # a network answers even a blank input (its biases)
        raise DataError(f"{args.image} is uniform after conversion to 28 x 28 (every pixel "
                        f"{float(intensity[0, 0]):.2f}): no digit to classify")
    spikes = poisson_encode(intensity, train.num_steps, keyed_generator(train.seed, "predict"))
    with torch.no_grad():
        counts = model(spikes)[0]
    listing = " ".join(f"{digit}:{int(count)}" for digit, count in enumerate(counts))
    if not counts.any():  # argmax of all zeros would name digit 0
        print(f"output spike counts over T={train.num_steps}: {listing}")
        raise DataError(f"no output spikes from {args.image} in T={train.num_steps} steps: no prediction (a blank "
                        "image, or one the network does not respond to; try more steps with -T)")
    print(f"predicted digit: {int(counts.argmax())}")
    print(f"output spike counts over T={train.num_steps}: {listing}")
    return 0
