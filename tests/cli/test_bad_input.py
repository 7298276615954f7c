"""Every bad input a user can give the CLI: one line naming the fault, exit code 2, files left untouched."""

import errno
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from spikekit.cli import main
from spikekit.data.idx import encode_idx
from spikekit.io import run_dir
from spikekit.io.checkpoint import load_checkpoint

SMALL = ["--epochs", "2", "-T", "4", "--limit-test", "50"]


def _one_line_exit_2(args: list[str], capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(args))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _labels(small_mnist_dir: Path) -> np.ndarray:
    import gzip
    return np.frombuffer(gzip.decompress((small_mnist_dir / "train-labels-idx1-ubyte.gz").read_bytes())[8:], np.uint8)


@pytest.mark.parametrize(("fault", "message"), [
    ("truncated", "truncated"),
    ("magic", "bad magic number"),
    ("dims", "has 3 dimensions, expected 1"),
    ("count", "has 1000 images but"),
    ("range", "label 10 outside 0..9"),
])
def test_broken_idx_files(fault: str, message: str, small_mnist_dir: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture) -> None:
    target = small_mnist_dir / "train-labels-idx1-ubyte.gz"
    labels = _labels(small_mnist_dir)
    target.unlink()
    raw = small_mnist_dir / "train-labels-idx1-ubyte"
    data = {"truncated": lambda: encode_idx(labels)[:-7],
            "magic": lambda: b"\x00\x00\x0d\x01" + encode_idx(labels)[4:],
            "dims": lambda: encode_idx(np.zeros((1000, 2, 2), np.uint8)),
            "count": lambda: encode_idx(labels[:-1]),
            "range": lambda: encode_idx(np.where(np.arange(1000) == 3, 10, labels).astype(np.uint8))}[fault]()
    raw.write_bytes(data)
    err = _one_line_exit_2(["train", "--data-dir", str(small_mnist_dir), "--out", str(tmp_path / "run"), *SMALL],
                           capsys)
    assert message in err and "train-labels-idx1-ubyte" in err
    assert raw.read_bytes() == data and not (tmp_path / "run").exists()


def _checkpoint_bytes(small_mnist_dir: Path, tmp_path: Path) -> bytes:
    assert main(["train", "--data-dir", str(small_mnist_dir), "--out", str(tmp_path / "ok"), *SMALL]) == 0
    return (tmp_path / "ok" / "checkpoints" / "final.safetensors").read_bytes()


class _Payload:
    def __reduce__(self):
        return (exec, ("open('pwned', 'w').close()",))


def test_broken_checkpoints(small_mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    good = _checkpoint_bytes(small_mnist_dir, tmp_path)
    capsys.readouterr()
    size = int.from_bytes(good[:8], "little")
    header = json.loads(good[8:8 + size])
    meta = json.loads(header["__metadata__"]["spikekit"])
    header["__metadata__"]["spikekit"] = json.dumps({**meta, "format_version": 7})
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    versioned = len(encoded).to_bytes(8, "little") + encoded + good[8 + size:]
    garbled = bytearray(good)
    garbled[-3] ^= 0x40
    monkeypatch.chdir(tmp_path)
    cases = {"truncated": (good[:len(good) // 3], "not a readable spikekit checkpoint"),
             "garbled": (bytes(garbled), "do not match their checksum"),
             "version": (versioned, "format version 7 is not supported"),
             "pickle": (pickle.dumps({"model": _Payload()}), "not a readable spikekit checkpoint")}
    for name, (data, message) in cases.items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(data)
        err = _one_line_exit_2(["eval", str(path), "--data-dir", str(small_mnist_dir)], capsys)
        assert message in err and str(path) in err, name
        assert path.read_bytes() == data
    assert not (tmp_path / "pwned").exists()


def test_full_disk_while_checkpointing_keeps_the_previous(small_mnist_dir: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    save, calls = run_dir.save_checkpoint, []

    def fills_up(path, checkpoint, **kwargs):  # the first checkpoint (end of epoch 1, last + best) fits; then disk full
        calls.append(path)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        save(path, checkpoint, **kwargs)
    monkeypatch.setattr(run_dir, "save_checkpoint", fills_up)
    out = tmp_path / "run"
    err = _one_line_exit_2(["train", "--data-dir", str(small_mnist_dir), "--out", str(out), *SMALL], capsys)
    assert "No space left on device" in err
    kept = load_checkpoint(out / "checkpoints" / "last.safetensors")
    assert kept.meta["epoch"] == 1 and kept.meta["state"]["progress"]["epoch"] == 1
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--threshold", "nan"], "threshold must be a finite number"),
    (["--reset", "inf"], "reset must be a finite number"),
    (["--reset", "2"], "reset must be below threshold"),
    (["--slope", "-1"], "slope must be > 0"),
    (["--lr=-1e-3"], "lr must be a finite number > 0"),
    (["--hidden", "64", "-3"], "layer sizes must be"),
    (["--batch-size", "-4"], "batch_size must be an integer >= 1"),
    (["--epochs", "0"], "epochs must be an integer >= 1"),
    (["--limit-train", "0"], "limit_train must be an integer >= 1"),
    (["--seed", "-1"], "seed must be an integer >= 0"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be an integer >= 1"),
])
def test_out_of_range_values(args: list[str], message: str, small_mnist_dir: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture) -> None:
    err = _one_line_exit_2(["train", "--data-dir", str(small_mnist_dir), "--out", str(tmp_path / "r"), *args],
                           capsys)
    assert message in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_same_seed_same_metrics_and_weights(engine: str, small_mnist_dir: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["train", "--data-dir", str(small_mnist_dir), "--engine", engine, "--out", str(out), *SMALL]) == 0
        lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        timing = ("seconds", "samples_per_second", "eval_seconds")
        runs.append(([{k: v for k, v in r.items() if k not in timing} for r in lines],
                     load_checkpoint(out / "checkpoints" / "last.safetensors").model))
    (metrics_a, weights_a), (metrics_b, weights_b) = runs
    assert metrics_a == metrics_b
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
