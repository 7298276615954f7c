"""Files in and out: checkpoints, run directories, NIR graphs."""

from spikekit.io.checkpoint import FORMAT_VERSION, Checkpoint, encode_checkpoint, load_checkpoint, save_checkpoint

__all__ = ["FORMAT_VERSION", "Checkpoint", "encode_checkpoint", "load_checkpoint", "save_checkpoint"]
