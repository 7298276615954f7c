"""Checkpoints: one safetensors file of tensors plus JSON metadata; loading never runs pickled code.

Layout of a checkpoint file (format version 1):
    tensors    "model/<parameter name>"            the network's state_dict
               "optimizer/<param index>/<key>"     Adam moments and step counts
    metadata   "spikekit"  JSON: {"format_version", "sha256", "optimizer_groups", **meta}
``sha256`` covers every tensor's name, dtype, shape and bytes, so a garbled or tampered file is
refused even where safetensors' own header checks pass. Writes are atomic: a temporary file in
the same directory, flushed and fsynced, then renamed over the target.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import safe_open
from safetensors.torch import save
from torch import Tensor

from spikekit.errors import CheckpointError
from spikekit.io.atomic import write_atomic

FORMAT_VERSION = 1


class Checkpoint(NamedTuple):
    model: dict[str, Tensor]  # state_dict of the SNN
    optimizer: dict[str, Any] | None  # torch optimizer state_dict, or None
    meta: dict[str, Any]  # JSON-able: config, progress, history...


def _digest(tensors: dict[str, Tensor]) -> str:
    hasher = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].contiguous().reshape(-1)  # 0-d tensors (Adam's step) too
        hasher.update(f"{name}|{tensor.dtype}|{list(tensor.shape)}|".encode())
        hasher.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return hasher.hexdigest()


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Tensor], list[dict[str, Any]]]:
    tensors = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            # contiguous: safetensors stores row-major bytes (an input-major weight's moments are not)
            tensor = torch.as_tensor(value).detach().cpu()
            tensors[f"optimizer/{index}/{key}"] = tensor.clone(memory_format=torch.contiguous_format)
    return tensors, state["param_groups"]


def encode_checkpoint(checkpoint: Checkpoint) -> bytes:
    """The file bytes of ``checkpoint``."""
    tensors = {f"model/{name}": t.detach().cpu().contiguous().clone() for name, t in checkpoint.model.items()}
    groups: list[dict[str, Any]] | None = None
    if checkpoint.optimizer is not None:
        optimizer_tensors, groups = _flatten_optimizer(checkpoint.optimizer)
        tensors.update(optimizer_tensors)
    header = {**checkpoint.meta, "format_version": FORMAT_VERSION, "sha256": _digest(tensors),
              "optimizer_groups": groups}
    return save(tensors, metadata={"spikekit": json.dumps(header)})


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint, keep_previous: str | os.PathLike | None = None,
                    ) -> None:
    """Write ``checkpoint`` to ``path`` atomically; on any failure the old file is untouched.

    With ``keep_previous``, the old ``path`` (if any) is renamed there once the new file is safely on
    disk, so a failed write never costs the old checkpoint.
    """
    write_atomic(path, encode_checkpoint(checkpoint), keep_previous)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint; ``CheckpointError`` if it is missing, corrupt, tampered or of another version."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt") as file:
            header = json.loads((file.metadata() or {})["spikekit"])
            tensors = {name: file.get_tensor(name) for name in file.keys()}
    except Exception as error:  # safetensors raises several types for malformed files
        raise CheckpointError(f"{path}: not a readable spikekit checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
        version = header.get("format_version") if isinstance(header, dict) else None
        raise CheckpointError(f"{path}: format version {version!r} is not supported (expected {FORMAT_VERSION})")
    if header.get("sha256") != _digest(tensors):
        raise CheckpointError(f"{path}: contents do not match their checksum (file damaged or edited)")
    model = {name[len("model/"):]: t for name, t in tensors.items() if name.startswith("model/")}
    groups = header.pop("optimizer_groups", None)
    optimizer = None
    if groups is not None:
        state: dict[int, dict[str, Tensor]] = {}
        for name, tensor in tensors.items():
            if name.startswith("optimizer/"):
                _, index, key = name.split("/", 2)
                state.setdefault(int(index), {})[key] = tensor
        optimizer = {"state": state, "param_groups": groups}
    for key in ("format_version", "sha256"):
        header.pop(key, None)
    return Checkpoint(model, optimizer, header)
