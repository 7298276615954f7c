"""``spikekit eval`` (accuracy and spike statistics of a checkpoint) and ``spikekit encode`` (the heat map of
an image's Poisson encoding, or an event recording's binned spikes)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from spikekit.cli.common import add_data_options, check_device, image_progress, load_data
from spikekit.config import DATASETS, RunConfig, TrainConfig
from spikekit.data.encoding import poisson_encode
from spikekit.data.events import BIN_MODES, BinnedSplit
from spikekit.errors import CheckpointError, ConfigError
from spikekit.io.checkpoint import load_checkpoint
from spikekit.memory import check_fits
from spikekit.plots import encoding_figure, event_figure
from spikekit.train.loop import build_model, evaluate
from spikekit.train.rng import keyed_generator


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("eval", help="test accuracy and spike statistics of a checkpoint")
    parser.add_argument("checkpoint", help="a .safetensors checkpoint written by spikekit train")
    parser.add_argument("-T", "--num-steps", type=int,
                        help="time steps (default: the checkpoint's test T, its --eval-steps or -T)")
    parser.add_argument("--engine", help="engine to run with (default: the checkpoint's)")
    parser.add_argument("--device", default="cpu")
    add_data_options(parser)
    parser.set_defaults(run=run_eval)

    parser = commands.add_parser("encode", help="plot the Poisson encoding of one test image, or one event "
                                 "recording as binned spikes")
    parser.add_argument("--index", type=int, default=0, help="test image (or recording) index")
    parser.add_argument("-T", "--num-steps", type=int, default=100, help="time steps (event data: bins)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="encoding.png", metavar="FILE.png")
    parser.add_argument("--data-dir", metavar="DIR", help="directory of the four MNIST IDX files (N-MNIST: of "
                        "Train/ and Test/)")
    parser.add_argument("--dataset", choices=DATASETS, default="mnist")
    parser.add_argument("--bin-mode", choices=BIN_MODES, default=TrainConfig.bin_mode)
    parser.add_argument("--downsample", type=int, default=TrainConfig.downsample, metavar="S")
    parser.set_defaults(run=run_encode)


def load_model(path: str, engine: str | None = None, device: str = "cpu"):
    """(model, config) from a checkpoint, with the engine and device replaced if given."""
    checkpoint = load_checkpoint(path)
    config = RunConfig.from_dict(checkpoint.meta.get("config", {}))
    changes = {"device": device} | ({"engine": engine} if engine else {})
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, **changes))
    model = build_model(config)
    try:
        model.load_state_dict(checkpoint.model)
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not fit its configuration ({error})") from None
    return model, config


def run_eval(args: argparse.Namespace) -> int:
    check_device(args.device)
    model, config = load_model(args.checkpoint, args.engine, args.device)
    changes = {"limit_test": args.limit_test} | ({"num_steps": args.num_steps} if args.num_steps is not None else {})
    train_config = dataclasses.replace(config.train.for_evaluation(), **changes)
    check_fits(model, train_config, training=False)
    data = load_data(args.data_dir or config.data_dir, train_config, config.dataset)
    with image_progress(len(data.test.labels), "test") as on_batch:
        result = evaluate(model, data.test, train_config, on_batch)
    print(f"test accuracy {100 * result.accuracy:.2f}% on {len(data.test.labels)} images, "
          f"T={train_config.num_steps}, engine {train_config.engine}, {result.seconds:.1f}s")
    names = [f"layer {i + 1} ({n} neurons)" for i, n in enumerate(model.sizes[1:])]
    for name, rate, zeros, silent in zip(names, result.firing_rate, result.zero_fraction, result.silent_fraction):
        print(f"  {name}: firing rate {rate:.4f} spikes/neuron/step, {100 * zeros:.1f}% zero entries, "
              f"{100 * silent:.1f}% neurons silent")
    return 0


def run_encode(args: argparse.Namespace) -> int:
    config = TrainConfig(num_steps=args.num_steps, seed=args.seed, bin_mode=args.bin_mode,
                         downsample=args.downsample)  # validates T, seed and binning
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out must name a .png file, got {out}")
    data = load_data(args.data_dir, config, args.dataset)
    if not 0 <= args.index < len(data.test.labels):
        raise ConfigError(f"--index must be in 0..{len(data.test.labels) - 1}, got {args.index}")
    label = int(data.test.labels[args.index])
    if isinstance(data.test, BinnedSplit):
        frames = data.test.frames(args.index)
        event_figure(frames, label).savefig(out, dpi=110)
        print(f"wrote {out}: test recording {args.index} (label {label}), {int(frames.sum())} input spikes in "
              f"{config.num_steps} {config.bin_mode} bins")
        return 0
    intensity = data.test.intensity(slice(args.index, args.index + 1))
    spikes = poisson_encode(intensity, config.num_steps, keyed_generator(config.seed, "encode-figure", args.index))
    figure = encoding_figure(intensity[0].numpy(), spikes[:, 0].numpy(), int(data.test.labels[args.index]))
    figure.savefig(out, dpi=110)
    print(f"wrote {out}: test image {args.index} (label {int(data.test.labels[args.index])}), "
          f"{int(spikes.sum())} spikes over T={config.num_steps} steps")
    return 0


__all__ = ["load_model", "register"]
