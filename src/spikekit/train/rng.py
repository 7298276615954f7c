"""Random streams keyed by name: (seed, "encode", epoch, batch) always gives the same generator.

Why keyed and not one long stream: a run that is killed and resumed at batch k must draw exactly
what the uninterrupted run drew at batch k, without replaying batches 0..k-1.
"""

from __future__ import annotations

import hashlib

import torch


def keyed_seed(*keys: int | str) -> int:
    """A 63-bit seed that is a pure function of ``keys`` (stable across runs and machines)."""
    digest = hashlib.blake2b(repr(keys).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def keyed_generator(*keys: int | str, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``keyed_seed(*keys)``."""
    return torch.Generator(device=device).manual_seed(keyed_seed(*keys))
