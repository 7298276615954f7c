"""The memory check: an estimate that grows as training keeps its steps, and runs that cannot fit refused
in one line before anything large is allocated."""

from pathlib import Path

import pytest

from spikekit.cli import main
from spikekit.config import ModelConfig, TrainConfig
from spikekit.errors import ConfigError
from spikekit.memory import BASE, available_bytes, check_fits, estimate_peak_bytes, parse_size
from spikekit.nn.build import build_network


@pytest.fixture(scope="module")
def seed_network():
    return build_network(ModelConfig(), "fast", 0)


def test_the_estimate_grows_with_steps_and_batch_as_the_formula_says(seed_network) -> None:
    # Training batches of 1,024 outweigh a test batch (1,000 images' inputs, their neurons in chunks that
    # shrink as T grows, SNN.inference_chunk), so the estimate is linear in T and batch.
    batch = TrainConfig(num_steps=25, batch_size=1024)
    assert estimate_peak_bytes(seed_network, batch) - BASE == 25 * 1024 * (784 * 2 + 32 * 138)
    longer = TrainConfig(num_steps=100, batch_size=1024)
    assert estimate_peak_bytes(seed_network, longer) - BASE == 4 * (estimate_peak_bytes(seed_network, batch) - BASE)
    reference = TrainConfig(num_steps=25, batch_size=1024, engine="reference")
    assert estimate_peak_bytes(seed_network, reference) - BASE == 25 * 1024 * (784 * 4 + 64 * 138)
    # A test pass alone: the inputs of 1,000 images, their neurons in chunks.
    chunk = seed_network.inference_chunk(25, limit=1000)
    assert estimate_peak_bytes(seed_network, batch, training=False) - BASE == 25 * (1000 * 784 * 2 + chunk * 8 * 138)
    # Measured peak growth for this network on the fast engine: 1.1 KB per sample-step (module docstring); the
    # estimate errs high but within a small factor.
    per_sample_step = (estimate_peak_bytes(seed_network, batch) - BASE) / (25 * 1024)
    assert 1100 < per_sample_step < 6 * 1100


def test_sizes_parse_with_suffixes() -> None:
    assert parse_size("512M") == 512 << 20 and parse_size("8G") == 8 << 30 and parse_size("1000") == 1000
    assert parse_size("1.5GiB") == 3 << 29
    with pytest.raises(ConfigError, match="SPIKEKIT_MEMORY_LIMIT"):
        parse_size("lots")


def test_the_limit_variable_overrides_and_the_check_refuses_with_the_estimate(seed_network, monkeypatch) -> None:
    monkeypatch.setenv("SPIKEKIT_MEMORY_LIMIT", "2G")
    assert available_bytes() == 2 << 30
    assert check_fits(seed_network, TrainConfig()) == estimate_peak_bytes(seed_network, TrainConfig())
    with pytest.raises(ConfigError, match=r"needs about 15\.2 GiB .*test batches of 1000 .* but 2\.0 GiB is "
                       r"available; lower -T$"):
        check_fits(seed_network, TrainConfig(num_steps=10_000))
    with pytest.raises(ConfigError, match=r"training batches of 8192, .* lower -T or --batch-size$"):
        check_fits(seed_network, TrainConfig(num_steps=1000, batch_size=8192))


def test_an_oversized_run_is_refused_in_one_line_before_training(tmp_path: Path, small_mnist_dir: Path,
                                                                 monkeypatch, capsys) -> None:
    monkeypatch.setenv("SPIKEKIT_MEMORY_LIMIT", "4G")
    assert main(["train", "--data-dir", str(small_mnist_dir), "-T", "100000", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs about" in err and "4.0 GiB is available" in err
    assert not (tmp_path / "r").exists()  # refused before the run directory was made
    assert main(["train", "--data-dir", str(small_mnist_dir), "--epochs", "1", "-T", "4",
                 "--out", str(tmp_path / "ok")]) == 0  # what fits still runs under the same limit
    assert main(["eval", str(tmp_path / "ok" / "checkpoints" / "final.safetensors"), "--data-dir",
                 str(small_mnist_dir), "-T", "1000000"]) == 2
    assert "needs about" in capsys.readouterr().err
