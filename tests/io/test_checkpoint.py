import json
import pickle
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikekit.errors import CheckpointError
from spikekit.io.checkpoint import Checkpoint, encode_checkpoint, load_checkpoint, save_checkpoint
from spikekit.nn import SNN


def _trained_checkpoint() -> Checkpoint:
    model = SNN((6, 4, 2), engine="reference")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.ones(3, 2, 6)).sum().backward()
    optimizer.step()
    return Checkpoint(model.state_dict(), optimizer.state_dict(), {"epoch": 3, "config": {"a": [1, 2]}})


def test_round_trip_restores_model_optimizer_and_meta(tmp_path: Path) -> None:
    checkpoint = _trained_checkpoint()
    save_checkpoint(tmp_path / "c.safetensors", checkpoint)
    loaded = load_checkpoint(tmp_path / "c.safetensors")
    assert loaded.meta == {"epoch": 3, "config": {"a": [1, 2]}}
    for name, tensor in checkpoint.model.items():
        assert torch.equal(loaded.model[name], tensor)
    model = SNN((6, 4, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    optimizer.load_state_dict(loaded.optimizer)
    restored = optimizer.state_dict()
    for index, state in checkpoint.optimizer["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(restored["state"][index][key]), torch.as_tensor(value))


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "c.safetensors"
    path.write_bytes(data)
    return path


def test_truncated_checkpoint_is_refused(tmp_path: Path) -> None:
    data = encode_checkpoint(_trained_checkpoint())
    with pytest.raises(CheckpointError, match="not a readable spikekit checkpoint"):
        load_checkpoint(_write(tmp_path, data[: len(data) // 2]))


def test_garbled_tensor_bytes_are_caught_by_the_checksum(tmp_path: Path) -> None:
    data = bytearray(encode_checkpoint(_trained_checkpoint()))
    data[-5] ^= 0xFF
    with pytest.raises(CheckpointError, match="do not match their checksum"):
        load_checkpoint(_write(tmp_path, bytes(data)))


def test_unknown_format_version_is_refused(tmp_path: Path) -> None:
    data = encode_checkpoint(_trained_checkpoint())
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    meta = json.loads(header["__metadata__"]["spikekit"])
    meta["format_version"] = 99
    header["__metadata__"]["spikekit"] = json.dumps(meta)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with pytest.raises(CheckpointError, match="format version 99 is not supported"):
        load_checkpoint(_write(tmp_path, len(encoded).to_bytes(8, "little") + encoded + data[8 + size:]))


class _Payload:
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_pickle_is_never_executed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(CheckpointError):
        load_checkpoint(_write(tmp_path, pickle.dumps({"model": _Payload()})))
    assert "pwned" not in capsys.readouterr().out


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_failed_write_leaves_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, _trained_checkpoint())
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("os.fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, _trained_checkpoint()._replace(meta={"epoch": 4}))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]  # no temporary file left


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_random_bytes_give_only_checkpoint_errors(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(CheckpointError):
        load_checkpoint(_write(tmp_path, data))
