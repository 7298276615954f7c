"""The README's Python examples run as written (the ones that need no download)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def _block(marker: str) -> str:
    (block,) = [block for block in BLOCKS if marker in block]
    return block


@pytest.mark.parametrize("marker", ["class Residual(nn.Module)", "sk.fit(config"],
                         ids=["own model", "python api"])
def test_a_readme_example_runs(marker: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the example writes runs/quick
    namespace: dict = {}
    exec(compile(_block(marker), f"README.md ({marker})", "exec"), namespace)  # noqa: S102 (our own README)
    if marker.startswith("class"):
        assert namespace["loss"].item() < 2.3  # ten batches trained the model below chance's 2.30
        assert namespace["spikes"].shape == (25, 8, 64)
    else:
        assert 0.5 < namespace["accuracy"] <= 1.0
        assert (tmp_path / "runs" / "quick" / "checkpoints" / "final.safetensors").is_file()
        assert namespace["counts"].shape == (8, 10)


def test_every_python_block_is_run_or_needs_a_download() -> None:
    # The tonic example reads N-MNIST from tonic's download: the one block not run here.
    assert len(BLOCKS) == 3 and sum("tonic.datasets" in block for block in BLOCKS) == 1


DATA_PAGE = README.parent / "docs" / "data.md"
DATA_BLOCKS = re.findall(r"```python\n(.*?)```", DATA_PAGE.read_text(), flags=re.DOTALL)


def test_the_data_pages_examples_run(tmp_path: Path, monkeypatch) -> None:
    """docs/data.md's SHD example on files written in the official layout, and its S-MNIST example; its tonic
    example downloads N-MNIST (tests/data/test_events.py covers ``from_tonic`` on a dataset built in memory)."""
    from tests.data.test_shd import _write

    (tmp_path / "data" / "shd").mkdir(parents=True)
    for split in ("train", "test"):
        _write(tmp_path / "data" / "shd" / f"shd_{split}.h5")
    monkeypatch.chdir(tmp_path)
    (shd,) = [block for block in DATA_BLOCKS if "load_shd(" in block]
    namespace: dict = {}
    exec(compile(shd, "docs/data.md (SHD)", "exec"), namespace)  # noqa: S102 (our own docs)
    assert namespace["events"].shape == (100, 3, 700)  # the three samples the test files hold
    (smnist,) = [block for block in DATA_BLOCKS if "psmnist" in block]
    exec(compile(smnist, "docs/data.md (S-MNIST)", "exec"), namespace)  # noqa: S102
    assert namespace["inputs"].shape == (784, 128, 1)
    assert len(DATA_BLOCKS) == 3 and sum("tonic.datasets" in block for block in DATA_BLOCKS) == 1
