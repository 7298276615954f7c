"""``spikekit train``: options, then one run (``spikekit.cli.session``) or one per seed (``spikekit.cli.seeds``).

Checkpoints are written at the end of every epoch, every ``--checkpoint-every`` batches (default: about
once a minute) and on SIGINT/SIGTERM; ``--resume RUN_DIR`` continues from the newest one that loads (every
seed of a multi-seed run: finished ones stay, the interrupted one continues, the rest start).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from spikekit.allocator import keep_large_buffers
from spikekit.cli.common import add_data_options, check_device
from spikekit.cli.seeds import train_seeds
from spikekit.cli.session import checkpoint_every_option, train_run
from spikekit.config import DATASETS, SEQUENCE_DATASETS, ModelConfig, RunConfig, TrainConfig
from spikekit.data.events import BIN_MODES
from spikekit.data.nmnist import SENSOR as NMNIST_SENSOR
from spikekit.data.shd import SENSOR as SHD_SENSOR
from spikekit.data.smnist import SEQUENCE_LENGTH
from spikekit.dynamics.neuron import MODELS
from spikekit.dynamics.surrogate import SURROGATES
from spikekit.errors import ConfigError
from spikekit.io.run_dir import RunDir, SeedRuns
from spikekit.kernels import ENGINES
from spikekit.memory import largest_buffer_bytes
from spikekit.nn.readout import READOUTS
from spikekit.nn.spec import PRESETS
from spikekit.schedule import SCHEDULES
from spikekit.train.distributed import leave, shard_from_environment


def register(commands: argparse._SubParsersAction) -> None:
    defaults_model, defaults_train = ModelConfig(), TrainConfig()
    parser = commands.add_parser("train", help="train the network on MNIST or N-MNIST")
    parser.add_argument("--epochs", type=int, help=f"default {defaults_train.epochs}, or the --arch preset's")
    parser.add_argument("-T", "--num-steps", type=int,
                        help=f"time steps per image (default {defaults_train.num_steps}, or the --arch preset's)")
    parser.add_argument("--arch", metavar="SPEC", help=f"layers (default {defaults_model.arch}, the seed "
                        "network; for --dataset smnist and psmnist the preset of the same name), e.g. "
                        f"12c5-p2-32c5-p2-10; or a preset: {', '.join(PRESETS)} (spikekit.nn.spec)")
    parser.add_argument("--hidden", type=int, nargs="+", help="hidden widths of a fully connected network "
                        "(--hidden 128 is --arch 128-10)")
    parser.add_argument("--batch-size", type=int,
                        help=f"training samples per step (default {defaults_train.batch_size}, or the preset's)")
    parser.add_argument("--eval-steps", type=int, metavar="T",
                        help="time steps per test image (default: -T, or the preset's; images only)")
    parser.add_argument("--lr", type=float, help=f"Adam learning rate (default {defaults_train.lr}, or the preset's)")
    parser.add_argument("--schedule", choices=SCHEDULES, help="learning rate over the run: wsd (constant, then "
                        "linear decay over the last 20%%) or cosine (spikekit.schedule); default "
                        f"{defaults_train.schedule}, or the preset's")
    parser.add_argument("--warmup", type=float, default=defaults_train.warmup, metavar="FRACTION",
                        help="linear lr warm-up over this fraction of the run")
    parser.add_argument("--weight-decay", type=float, default=defaults_train.weight_decay,
                        help="decoupled weight decay (AdamW); 0 is plain Adam")
    parser.add_argument("--label-smoothing", type=float, default=defaults_train.label_smoothing,
                        help="cross-entropy label smoothing on the output counts")
    parser.add_argument("--clip-grad", type=float, metavar="NORM", help="rescale the gradients to at most this "
                        "global L2 norm before each step (default: no clipping, or the preset's; for recurrent "
                        "networks on long sequences)")
    parser.add_argument("--shift", type=int, metavar="PIXELS", help="augment: translate each training image by "
                        f"up to PIXELS (0: off; default {defaults_train.shift}, or the preset's)")
    # The neuron and readout options default to None: the --arch preset's value, else ModelConfig's (the help's).
    parser.add_argument("--tau", type=float, default=None,
                        help=f"membrane time constant, in steps (default {defaults_model.tau}, or the preset's)")
    parser.add_argument("--threshold", type=float, default=None,
                        help=f"default {defaults_model.threshold}, or the preset's")
    parser.add_argument("--reset", type=float, default=None, help=f"default {defaults_model.reset}")
    parser.add_argument("--surrogate", default=None,
                        help=f"one of {', '.join(SURROGATES)} (default {defaults_model.surrogate})")
    parser.add_argument("--slope", type=float, default=None, help="surrogate sharpness (fast_sigmoid: "
                        f"1/(1+slope*|V-threshold|)^2; default {defaults_model.slope})")
    parser.add_argument("--neuron", choices=list(MODELS), default=None,
                        help="neuron model of layers whose token has no suffix: lif, alif (adaptive threshold), "
                        "cuba (current-based synapse), adlif (adaptation current) or brf (balanced resonate-and-fire); "
                        "a token's suffix wins (128a: ALIF, 12c5s: CubaLIF, 256rd: adLIF, 256rb: BRF); "
                        f"default {defaults_model.neuron}")
    parser.add_argument("--tau-adapt", type=float, default=None,
                        help=f"ALIF and adLIF adaptation time constant, in steps (default {defaults_model.tau_adapt}, "
                        "or the preset's)")
    parser.add_argument("--beta-adapt", type=float, default=None,
                        help="ALIF threshold rise per unit of adaptation (threshold + beta * a; default "
                        f"{defaults_model.beta_adapt}, or the preset's)")
    parser.add_argument("--tau-syn", type=float, default=None,
                        help=f"CubaLIF synaptic time constant, in steps (default {defaults_model.tau_syn})")
    parser.add_argument("--coupling", type=float, default=None,
                        help="adLIF: how strongly the adaptation current follows the membrane (w <- w + (coupling * V "
                        f"+ jump * S - w) / tau_adapt; default {defaults_model.coupling}, or the preset's)")
    parser.add_argument("--omega", type=_spread, default=None, metavar="W or LOW:HIGH",
                        help="BRF: angular frequency in radians per time unit, one value or a range spread evenly over "
                        f"each layer's neurons (default {defaults_model.omega}, or the preset's)")
    parser.add_argument("--b-offset", type=_spread, default=None, metavar="B or LOW:HIGH",
                        help="BRF: damping beyond the divergence boundary, per time unit (>= 0), one value or a range "
                        f"(default {defaults_model.b_offset}, or the preset's)")
    parser.add_argument("--jump", type=float, default=None,
                        help=f"adLIF: the adaptation current's rise per spike (default {defaults_model.jump}, or the "
                        "preset's)")
    parser.add_argument("--init-gain", type=float, default=None, metavar="G",
                        help="fully connected layers start with PyTorch's default weights times G (default "
                        f"{defaults_model.init_gain:g}, or the preset's; 4 makes sparse-input networks such as "
                        "recurrent ones fire from the first batch)")
    parser.add_argument("--init-firing", type=float, default=None, metavar="RATE",
                        help="on the first batch, raise each spiking layer's bias until it fires at least "
                        f"RATE spikes per neuron per step (default {defaults_model.init_firing}; 0: off; "
                        "spikekit.nn.calibrate)")
    parser.add_argument("--readout", choices=READOUTS, default=None,
                        help="scores of the output layer: counts (its spike counts) or leaky (its neurons do not fire; "
                        "their mean membrane over the steps: for long sequences, spikekit.nn.readout); default "
                        f"{defaults_model.readout}, or the preset's")
    parser.add_argument("--readout-window", type=float, default=None, metavar="FRACTION",
                        help="leaky readout: average the membrane over the last FRACTION of the steps (1: all; "
                        f"default {defaults_model.readout_window:g}, or the preset's)")
    parser.add_argument("--learn", type=_names, metavar="NAMES",
                        help="constants to learn per neuron, comma-separated (e.g. tau or tau,threshold; PLIF; "
                        "default none, or the preset's)")
    parser.add_argument("--seed", type=int, help=f"every random draw derives from it (default {defaults_train.seed})")
    parser.add_argument("--seeds", type=int, nargs="+", metavar="N", help="train once per seed, one after "
                        "another, into RUN_DIR/seed-<N>/; writes RUN_DIR/summary.json (mean and spread)")
    parser.add_argument("--jobs", type=int, default=1, metavar="J", help="with --seeds (or resuming such a "
                        "run): train J seeds at a time in processes of cores/J threads (default 1: one after another)")
    parser.add_argument("--engine", default=defaults_train.engine, help=f"one of {', '.join(ENGINES)}")
    parser.add_argument("--device", default=defaults_train.device, help="cpu or cuda")
    parser.add_argument("--limit-train", type=int, metavar="N", help="use only the first N training images")
    parser.add_argument("--val", type=int, default=defaults_train.val, metavar="N",
                        help="hold out the last N training images as a validation set; the best checkpoint is "
                        "then the best on validation, not on test (default 0: none)")
    add_data_options(parser)
    parser.add_argument("--dataset", choices=DATASETS, default="mnist", help="mnist (Poisson-coded images), "
                        "nmnist (event-camera recordings in --data-dir: Train/<label>/*.bin, Test/<label>/*.bin; "
                        "-T is then the number of time bins), smnist (MNIST one pixel a step, T = 784) or psmnist "
                        "(the same in one fixed pixel order), shd or ssc (spoken digits or commands as spikes of "
                        "700 channels: --data-dir holding the official <name>_train.h5 and <name>_test.h5; -T bins "
                        "over 1 s)")
    parser.add_argument("--bin-mode", choices=BIN_MODES, help="event data: T windows of equal time or equal event "
                        "count per recording, or T fixed windows over [0, 1 s) (default: time; fixed for shd, ssc; "
                        "spikekit.data.events)")
    parser.add_argument("--downsample", type=int, default=defaults_train.downsample, metavar="S",
                        help="event data: pool the sensor's pixels S x S (34 x 34 -> 17 x 17 for S=2)")
    parser.add_argument("--out", metavar="RUN_DIR", help="run directory (default: runs/<date-time>)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing run directory")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its newest valid "
                        "checkpoint, with its own config; only --epochs N (extend a finished or running run to N "
                        "epochs), --report, --checkpoint-every and --jobs may be given with it")
    parser.add_argument("--report", action="store_true", help="write RUN_DIR/report/index.html at the end")
    parser.add_argument("--checkpoint-every", type=int, metavar="N",
                        help="also checkpoint every N batches (default: about once a minute)")
    parser.set_defaults(run=run, option_defaults={action.dest: (action.option_strings[-1], action.default)
                                                  for action in parser._actions if action.option_strings})


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The run's config: ``--arch`` (a spec or a preset, whose recipe fills the options not given; the sequence
    datasets' default is the preset of their name) or ``--hidden``, then the other options."""
    if args.arch is not None and args.hidden is not None:
        raise ConfigError("give the layers with --arch or with --hidden, not both")
    events, sequence = args.dataset in ("nmnist", "shd", "ssc"), args.dataset in SEQUENCE_DATASETS
    arch = args.arch if args.arch is not None else args.dataset if sequence and args.hidden is None else (
        ModelConfig.arch)  # a sequence dataset's preset bears its name (nn.spec.PRESETS)
    if args.hidden is not None:
        if any(width < 1 for width in args.hidden):
            raise ConfigError(f"layer sizes must be positive integers, got --hidden {' '.join(map(str, args.hidden))}")
        arch = "-".join(map(str, [*args.hidden, ModelConfig().outputs]))
    preset = PRESETS.get(arch)
    if preset is not None and preset.datasets and args.dataset not in preset.datasets:
        raise ConfigError(f"the {arch} preset is made for --dataset {' or '.join(preset.datasets)}, not {args.dataset}")
    defaults = TrainConfig() if preset is None else preset
    recipe = {**{name: getattr(ModelConfig(), name) for name in MODEL_OPTIONS}, **dict(() if preset is None
                                                                                      else preset.model)}
    def chosen(value, name: str):
        return getattr(defaults, name) if value is None else value
    def model_option(name: str):
        value = getattr(args, name)
        return recipe[name] if value is None else value
    audio = args.dataset in ("shd", "ssc")
    bin_mode = args.bin_mode or ("fixed" if audio else TrainConfig.bin_mode)
    if events and args.downsample < 1:
        raise ConfigError(f"--downsample must be an integer >= 1, got {args.downsample}")
    side = -(-NMNIST_SENSOR[1] // args.downsample)
    model = ModelConfig(arch=arch, **{name: model_option(name) for name in MODEL_OPTIONS},
                        input_shape=(SHD_SENSOR[2],) if audio else (NMNIST_SENSOR[0], side, side) if events
                        else (1,) if sequence else ModelConfig.input_shape)
    shift = (0 if events or sequence else chosen(None, "shift")) if args.shift is None else args.shift
    eval_steps = ((None if events or sequence else chosen(None, "eval_steps")) if args.eval_steps is None
                  else args.eval_steps)
    num_steps = SEQUENCE_LENGTH if sequence and args.num_steps is None else chosen(args.num_steps, "num_steps")
    train = TrainConfig(epochs=chosen(args.epochs, "epochs"), num_steps=num_steps,
                        batch_size=chosen(args.batch_size, "batch_size"), lr=chosen(args.lr, "lr"), seed=_seed(args),
                        engine=args.engine, device=args.device, limit_train=args.limit_train,
                        limit_test=args.limit_test, val=args.val,
                        schedule=chosen(args.schedule, "schedule"), warmup=args.warmup, weight_decay=args.weight_decay,
                        label_smoothing=args.label_smoothing, clip_grad=chosen(args.clip_grad, "clip_grad"),
                        shift=shift, bin_mode=bin_mode, downsample=args.downsample, eval_steps=eval_steps)
    return RunConfig(model, train, args.data_dir, args.dataset)


# The ModelConfig fields set by options of their own name, whose default is the --arch preset's value, else
# ModelConfig's.
MODEL_OPTIONS = ("tau", "threshold", "reset", "surrogate", "slope", "neuron", "tau_adapt", "beta_adapt", "tau_syn",
                 "coupling", "jump", "omega", "b_offset", "learn", "init_gain", "init_firing", "readout",
                 "readout_window")


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated list of names (``--learn tau,threshold``)."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected names separated by commas, e.g. tau,threshold; got {text!r}")
    return names


def _spread(text: str) -> float | tuple[float, float]:
    """One number (``20``) or a range ``LOW:HIGH`` (``15:50``, ``spikekit.config.SPREAD_FIELDS``)."""
    try:
        parts = [float(part) for part in text.split(":")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or (len(parts) == 2 and parts[0] > parts[1]):
        raise argparse.ArgumentTypeError(f"expected a number or LOW:HIGH with LOW <= HIGH, e.g. 15:50; got {text!r}")
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def _seed(args: argparse.Namespace) -> int:
    """--seed, else the first of --seeds (the config shared by a multi-seed run's plan), else the default."""
    if args.seed is not None:
        return args.seed
    return args.seeds[0] if args.seeds else TrainConfig.seed


def check_seeds(seeds: list[int]) -> list[int]:
    if any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds must be distinct integers >= 0, got {' '.join(map(str, seeds))}")
    return seeds


# What may change when a run continues: its length, and how it checkpoints, reports and spreads over processes.
RESUME_OPTIONS = ("resume", "epochs", "report", "checkpoint_every", "jobs", "help")


def check_resume_options(args: argparse.Namespace) -> None:
    """``ConfigError`` naming every option given with ``--resume`` that would change the run's recipe: a resumed
    run keeps its own config (``config.json``), so such an option could only be ignored."""
    given = [option for dest, (option, default) in args.option_defaults.items()
             if dest not in RESUME_OPTIONS and getattr(args, dest, default) != default]
    if given:
        raise ConfigError(f"--resume continues a run with its own config, so {', '.join(given)} cannot be given "
                          "with it (only --epochs N, --report, --checkpoint-every and --jobs can)")


def extend_run(path: str, epochs: int | None) -> tuple[RunConfig, list[int] | None]:
    """The config (and seeds, for a multi-seed run) of the run in ``path``, its length set to ``epochs`` when
    given (``--resume RUN --epochs N``): written back to config.json (and seeds.json and each started seed's
    config.json) so the run and any later resume agree. ``N`` may not be below the epochs already finished."""
    seeds = None
    if SeedRuns.holds(path):
        runs = SeedRuns(path)
        seeds, config_dict = runs.read_plan()
        started = [runs.run(seed) for seed in seeds if runs.run(seed).config_path.is_file()]
    else:
        started = [RunDir.existing(path)]
        config_dict = started[0].read_config()
    config = RunConfig.from_dict(config_dict)
    if epochs is None or epochs == config.train.epochs:
        return config, seeds
    done = max((len(run.read_metrics()) for run in started), default=0)
    if epochs < max(done, 1):
        raise ConfigError(f"--epochs must be at least the {done} epochs {path} has finished, got {epochs}")
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=epochs))
    for run_dir in started:
        run_dir.write_config(dataclasses.replace(config, train=dataclasses.replace(
            config.train, seed=run_dir.read_config()["train"]["seed"])).to_dict())
    if seeds is not None:
        SeedRuns(path).write_plan(seeds, config.to_dict())
    print(f"{path}: extended to {epochs} epochs (the lr schedule is re-planned over them from the current step)")
    return config, seeds


def fresh_run_dir(root: Path = Path("runs")) -> Path:
    """runs/<date-time>, or runs/<date-time>-2, -3... when a run started in the same second already took it."""
    base = root / time.strftime("%Y%m%d-%H%M%S")
    path, number = base, 2
    while path.exists():
        path, number = base.with_name(f"{base.name}-{number}"), number + 1
    return path


def run(args: argparse.Namespace) -> int:
    if args.resume:
        check_resume_options(args)
    if args.seeds is not None and args.seed is not None:
        raise ConfigError("--seeds starts a multi-seed run; do not combine it with --seed")
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be an integer >= 1, got {args.jobs}")
    seeds = None
    if args.resume:
        config, seeds = extend_run(args.resume, args.epochs)
        path = args.resume
    else:
        seeds = None if args.seeds is None else check_seeds(args.seeds)
        config = config_from_args(args)
        path = args.out or fresh_run_dir()
        RunDir.check_new(path, args.force)
    if args.jobs > 1 and seeds is None:
        raise ConfigError("--jobs trains the seeds of a multi-seed run in parallel; give --seeds too")
    check_device(config.train.device)
    # the CLI owns the process: see spikekit.allocator
    keep_large_buffers(largest_buffer_bytes(config.model.arch, config.model.input_shape, config.train.num_steps,
                                            config.train.batch_size, config.model.neuron))
    options = {"resume": bool(args.resume), "checkpoint_every": checkpoint_every_option(args.checkpoint_every),
               "shard": shard_from_environment(config.train.device), "force": args.force, "report": args.report}
    try:
        if seeds is None:
            code = train_run(config, path, **options)
        else:
            code = train_seeds(config, seeds, path, **options, jobs=args.jobs)
        # No rank may tear the process group down while another still works (rank 0 evaluates the
        # last epoch alone).
        options["shard"].any(False)
        return code
    finally:
        leave()  # the runs have returned, so their DistributedDataParallel wrappers are out of scope (see leave)
