"""Training and evaluation loops; they return numbers and never print or write files."""

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

__all__ = ["EpochProgress", "Evaluation", "NonFiniteLossError", "batch_order", "build_model", "build_optimizer",
           "encode_batch", "evaluate", "keyed_generator", "keyed_seed", "load_optimizer_state", "optimizer_state",
           "train_epoch"]
