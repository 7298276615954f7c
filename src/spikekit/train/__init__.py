"""Training: ``fit`` (a whole run, as ``spikekit train``), and the loops it is made of (``train_epoch``,
``evaluate``), which return numbers and never print or write files."""

from spikekit.train.loop import (
    EpochProgress,
    Evaluation,
    NonFiniteLossError,
    batch_order,
    build_model,
    build_optimizer,
    encode_batch,
    evaluate,
    load_optimizer_state,
    optimizer_state,
    train_epoch,
)
from spikekit.train.rng import keyed_generator, keyed_seed
from spikekit.train.trainer import Callback, FitResult, Trainer, fit

__all__ = [
    "batch_order", "build_model", "build_optimizer", "Callback", "encode_batch", "EpochProgress", "evaluate",
    "Evaluation", "fit", "FitResult", "keyed_generator", "keyed_seed", "load_optimizer_state", "NonFiniteLossError",
    "optimizer_state", "train_epoch", "Trainer",
]
