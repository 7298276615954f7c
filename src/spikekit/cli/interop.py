"""``spikekit export`` / ``import`` (NIR files) and ``spikekit predict`` (classify one image file)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from spikekit.cli.inspect import load_model
from spikekit.config import ModelConfig, RunConfig, TrainConfig
from spikekit.data.encoding import poisson_encode
from spikekit.errors import ConfigError, DataError
from spikekit.io.checkpoint import Checkpoint, save_checkpoint
from spikekit.io.nir import DEFAULT_DT, NIRError, from_nir, read_nir, to_nir, write_nir
from spikekit.train.rng import keyed_generator


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("export", help="write a checkpoint's network as a NIR file")
    parser.add_argument("checkpoint", help="a .safetensors checkpoint")
    parser.add_argument("out", metavar="OUT.nir")
    parser.add_argument("--dt", type=float, default=DEFAULT_DT, help=f"seconds per time step (default {DEFAULT_DT})")
    parser.set_defaults(run=run_export)

    parser = commands.add_parser("import", help="turn a NIR file into a spikekit checkpoint")
    parser.add_argument("nir_file", metavar="IN.nir")
    parser.add_argument("out", metavar="OUT_CHECKPOINT", help="a .safetensors file to write")
    parser.add_argument("--dt", type=float, default=DEFAULT_DT, help="seconds per time step the graph assumes")
    parser.add_argument("-T", "--num-steps", type=int, default=TrainConfig.num_steps,
                        help="time steps per image stored in the checkpoint's config")
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
    model, _ = load_model(args.checkpoint, engine="reference")
    graph = to_nir(model, args.dt)
    write_nir(args.out, graph)
    print(f"wrote {args.out}: {' -> '.join(graph.nodes)} (dt={args.dt} s)")
    return 0


def run_import(args: argparse.Namespace) -> int:
    model = from_nir(read_nir(args.nir_file), args.dt)
    params = {layer.params for layer in model.spiking_layers}
    if len(params) != 1:
        raise NIRError(f"{args.nir_file}: layers have different LIF constants {sorted(params)}; a spikekit "
                       "checkpoint holds one set (use spikekit.from_nir in Python for such graphs)")
    (lif,) = params
    try:
        model_config = ModelConfig(arch=model.arch, tau=lif.tau, threshold=lif.threshold, reset=lif.reset,
                                   input_shape=model.input_shape)
    except ConfigError as error:
        raise NIRError(f"{args.nir_file}: {error}") from None
    config = RunConfig(model_config, TrainConfig(num_steps=args.num_steps))
    meta = {"config": config.to_dict(), "source": f"NIR file {args.nir_file}", "dt": args.dt}
    save_checkpoint(args.out, Checkpoint(model.state_dict(), None, meta))
    print(f"wrote {args.out}: network {'-'.join(map(str, model.sizes))}, tau={lif.tau} steps, "
          f"threshold={lif.threshold}, reset={lif.reset}")
    return 0


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
    spikes = poisson_encode(intensity, train.num_steps, keyed_generator(train.seed, "predict"))
    with torch.no_grad():
        counts = model(spikes)[0]
    print(f"predicted digit: {int(counts.argmax())}")
    listing = " ".join(f"{digit}:{int(count)}" for digit, count in enumerate(counts))
    print(f"output spike counts over T={train.num_steps}: {listing}")
    return 0
