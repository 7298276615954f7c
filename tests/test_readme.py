"""The README's Python examples run as written (the ones that need no download)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def _block(marker: str) -> str:
    (block,) = [block for block in BLOCKS if marker in block]
    return block


@pytest.mark.parametrize("marker", ["class Residual(nn.Module)", "sk.build_model(config)"],
                         ids=["own model", "python api"])
def test_a_readme_example_runs(marker: str) -> None:
    namespace: dict = {}
    exec(compile(_block(marker), f"README.md ({marker})", "exec"), namespace)  # noqa: S102 (our own README)
    if marker.startswith("class"):
        assert namespace["loss"].item() < 2.3  # ten batches trained the model below chance's 2.30
        assert namespace["spikes"].shape == (25, 8, 64)
    else:
        assert 0.5 < namespace["result"].accuracy <= 1.0


def test_every_python_block_is_run_or_needs_a_download() -> None:
    # The tonic example reads N-MNIST from tonic's download: the one block not run here.
    assert len(BLOCKS) == 3 and sum("tonic.datasets" in block for block in BLOCKS) == 1
