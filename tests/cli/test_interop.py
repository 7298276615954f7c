"""``spikekit export | import | predict`` end to end on a small trained run."""

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spikekit.cli import main
from spikekit.data.mnist import MNIST


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, mnist: MNIST) -> Path:
    from tests.conftest import write_mnist_dir
    root = tmp_path_factory.mktemp("interop")
    data_dir = write_mnist_dir(root / "mnist", mnist, 3000, 300)
    assert main(["train", "--data-dir", str(data_dir), "--epochs", "2", "-T", "10", "--out", str(root / "run")]) == 0
    return root


def _accuracy(output: str) -> str:
    return re.search(r"test accuracy (\S+)%", output).group(1)


def test_export_then_import_evaluates_identically(trained: Path, tmp_path: Path, capsys) -> None:
    checkpoint, data_dir = trained / "run" / "checkpoints" / "best.safetensors", trained / "mnist"
    assert main(["export", str(checkpoint), str(tmp_path / "net.nir")]) == 0
    assert "input -> affine1 -> lif1 -> affine2 -> lif2 -> output" in capsys.readouterr().out
    assert main(["import", str(tmp_path / "net.nir"), str(tmp_path / "back.safetensors"), "-T", "10"]) == 0
    capsys.readouterr()
    assert main(["eval", str(checkpoint), "--data-dir", str(data_dir)]) == 0
    original = _accuracy(capsys.readouterr().out)
    assert main(["eval", str(tmp_path / "back.safetensors"), "--data-dir", str(data_dir)]) == 0
    assert _accuracy(capsys.readouterr().out) == original


def _png(path: Path, pixels: np.ndarray) -> Path:
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def test_predict_reads_digits_in_any_size_and_polarity(trained: Path, tmp_path: Path, mnist: MNIST,
                                                       capsys) -> None:
    checkpoint = str(trained / "run" / "checkpoints" / "best.safetensors")
    right = 0
    for index in range(20):
        digit = mnist.test.images[index].numpy().reshape(28, 28)
        label = int(mnist.test.labels[index])
        predictions = []
        for name, pixels in (("plain", digit), ("inverted", 255 - digit),
                             ("large", np.kron(digit, np.ones((3, 3))))):
            assert main(["predict", str(_png(tmp_path / f"{name}.png", pixels)), "--checkpoint", checkpoint]) == 0
            out = capsys.readouterr().out
            predictions.append(int(re.search(r"predicted digit: (\d)", out).group(1)))
            counts = [int(c) for c in re.findall(r"\d:(\d+)", out)]
            assert len(counts) == 10 and counts.index(max(counts)) == predictions[-1]
        right += predictions[0] == label
        assert predictions[1] == predictions[0]  # auto-inverted: the same digit
    assert right >= 14  # the small model is right on most of them


def test_interop_errors_are_one_line(trained: Path, tmp_path: Path, capsys) -> None:
    checkpoint = str(trained / "run" / "checkpoints" / "best.safetensors")
    (tmp_path / "note.png").write_text("not an image")
    (tmp_path / "junk.nir").write_bytes(b"junk")
    for args, message in (
        (["predict", str(tmp_path / "note.png"), "--checkpoint", checkpoint], "cannot read as an image"),
        (["predict", str(tmp_path / "none.png"), "--checkpoint", checkpoint], "cannot read as an image"),
        (["import", str(tmp_path / "junk.nir"), str(tmp_path / "x.safetensors")], "not a readable NIR file"),
        (["export", str(tmp_path / "none.safetensors"), str(tmp_path / "x.nir")], "no such checkpoint file"),
        (["export", checkpoint, str(tmp_path / "x.nir"), "--dt", "-1"], "dt must be"),
    ):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.safetensors").exists() and not (tmp_path / "x.nir").exists()
