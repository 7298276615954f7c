"""Where a training run stands, beyond weights and optimiser moments: enough to continue it bit for bit.

Random state needs no saving: weight init, each epoch's shuffle and each batch's Poisson spikes come
from generators keyed by (seed, purpose, epoch, batch) (``spikekit.train.rng``), so the position
(epoch, batch) *is* the random state. What is saved is that position, the running sums of the epoch
in progress, the learning-rate schedule, the best accuracy so far and the per-epoch metrics history.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from spikekit.errors import CheckpointError
from spikekit.train.loop import EpochProgress


@dataclass
class TrainingState:
    progress: EpochProgress  # the epoch in progress (epochs counted from 0) and batches done in it
    best_accuracy: float = -1.0  # best end-of-epoch validation accuracy so far (runs with --val); -1 before
    history: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl records of finished epochs
    scheduler: dict[str, Any] = field(default_factory=dict)  # lr scheduler state_dict (JSON-able)

    def to_meta(self) -> dict[str, Any]:
        """JSON-able form, stored in the checkpoint metadata under "state"."""
        return {"progress": dataclasses.asdict(self.progress), "best_accuracy": self.best_accuracy,
                "history": self.history, "scheduler": self.scheduler}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> TrainingState:
        """Inverse of ``to_meta``; ``CheckpointError`` if fields are missing or of the wrong kind."""
        try:
            return cls(EpochProgress(**meta["progress"]), float(meta["best_accuracy"]), list(meta["history"]),
                       dict(meta["scheduler"]))
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"checkpoint has no usable training state ({error!r})") from None
