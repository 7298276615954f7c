"""``spikekit.fit``: the CLI's training run as a library call, equal to ``spikekit train`` bit for bit."""

import json
import signal
from pathlib import Path

import pytest
import torch
from torch import nn

import spikekit as sk
from spikekit.cli import main
from spikekit.data.mnist import MNIST, Split
from spikekit.io.checkpoint import load_checkpoint
from spikekit.train.loop import EpochProgress, build_model, build_optimizer, train_epoch

TIMING = ("seconds", "samples_per_second", "eval_seconds")


def _metrics(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _final(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / "final.safetensors").model


def _config(small_mnist_dir: Path, **train) -> sk.RunConfig:
    return sk.RunConfig(train=sk.TrainConfig(**{"epochs": 2, "num_steps": 4, "limit_test": 100, **train}),
                        data_dir=str(small_mnist_dir))


def test_fit_equals_spikekit_train_bit_for_bit(tmp_path: Path, small_mnist_dir: Path, capsys) -> None:
    cli, library = tmp_path / "cli", tmp_path / "library"
    assert main(["train", "--data-dir", str(small_mnist_dir), "--epochs", "2", "-T", "4", "--limit-test", "100",
                 "--val", "200", "--out", str(cli)]) == 0
    config = sk.RunConfig.from_dict(json.loads((cli / "config.json").read_text()))
    assert config == _config(small_mnist_dir, val=200)  # the CLI's config is the library's defaults plus options
    result = sk.fit(config, library, log=None)
    assert result.code == 0 and capsys.readouterr().out.count("epoch 2/2") == 1  # log=None: the CLI's line only
    assert _metrics(library) == _metrics(cli) and len(result.history) == 2
    for name in ("final", "best"):
        cli_weights = load_checkpoint(cli / "checkpoints" / f"{name}.safetensors").model
        library_weights = load_checkpoint(library / "checkpoints" / f"{name}.safetensors").model
        assert all(torch.equal(cli_weights[key], library_weights[key]) for key in cli_weights)
    assert all(torch.equal(value, result.model.state_dict()[key]) for key, value in _final(library).items())


class StopAt(sk.Callback):
    """Asks the run to stop after batch ``batch`` of epoch ``epoch`` (0-based), as SIGINT would."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.at = (epoch, batch)

    def on_batch(self, trainer, progress) -> None:
        if (progress.epoch, progress.batch) == self.at:
            trainer.stop.signal = signal.SIGINT


def test_a_stopped_fit_resumes_to_the_same_run(tmp_path: Path, small_mnist_dir: Path) -> None:
    config = _config(small_mnist_dir, limit_train=640, batch_size=64)
    whole = sk.fit(config, tmp_path / "whole", log=None)
    stopped = sk.fit(config, tmp_path / "broken", log=None, callbacks=[StopAt(1, 3)])
    assert stopped.code == 128 + signal.SIGINT and len(stopped.history) == 1
    stale = tmp_path / "broken" / "checkpoints" / ".last.safetensors.killed.tmp"  # a killed save's leftover
    stale.write_bytes(b"half")
    resumed = sk.fit(config, tmp_path / "broken", resume=True, log=None)
    assert resumed.code == 0 and not stale.exists()
    assert _metrics(tmp_path / "broken") == _metrics(tmp_path / "whole")
    assert all(torch.equal(whole.model.state_dict()[k], v) for k, v in resumed.model.state_dict().items())


class Counter(sk.Callback):
    def __init__(self) -> None:
        self.batches, self.epochs, self.evaluated, self.lrs = 0, [], set(), []

    def on_batch(self, trainer, progress) -> None:
        self.batches += 1
        self.lrs.append(trainer.optimizer.param_groups[0]["lr"])  # the lr of the next step

    def on_epoch_end(self, trainer, record) -> None:
        self.epochs.append(record["epoch"])

    def on_evaluate(self, trainer, split, done, total) -> None:
        self.evaluated.add((split, total))


def test_callbacks_see_every_batch_and_epoch_and_limits_and_schedule_apply(small_mnist_dir: Path) -> None:
    counter = Counter()
    config = _config(small_mnist_dir, limit_train=300, batch_size=100, val=100)
    result = sk.fit(config, callbacks=[counter], log=None)  # no run directory: in memory only
    assert result.run_dir is None and counter.epochs == [1, 2]
    assert counter.batches == 2 * 2  # 300 images, 100 held out for validation: 2 batches of 100 per epoch
    assert counter.evaluated == {("test", 100), ("validation", 100)}
    # The wsd schedule over the run's 4 steps: full lr, then a linear decay over the last fifth (1 step) to 0.
    assert counter.lrs == [config.train.lr] * 3 + [0.0]


class OwnModel(nn.Module):
    """A module of the user's own with spikekit neurons inside: LIF 784-64, a linear head on the counts."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = sk.SNNLayer(784, 64, sk.LIF())
        self.head = nn.Linear(64, 10)

    def forward(self, spikes):
        return self.head(self.hidden(spikes).sum(0))


def test_fit_trains_a_module_of_the_users_own(tmp_path: Path, small_mnist_dir: Path) -> None:
    config = _config(small_mnist_dir, epochs=3, num_steps=8, lr=5e-3)
    result = sk.fit(config, tmp_path / "own", model=OwnModel(), log=None)
    history = result.history
    assert result.code == 0 and [r["firing_rate"] for r in history] == [[], [], []]  # scores only
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["test_accuracy"] > 0.5  # 10 classes: chance is 0.1
    weights = _final(tmp_path / "own")
    assert set(weights) == set(result.model.state_dict())


def test_train_epoch_honours_limit_train(mnist: MNIST) -> None:
    split = Split(mnist.train.images[:1000], mnist.train.labels[:1000])
    config = sk.RunConfig(train=sk.TrainConfig(num_steps=2, limit_train=256, batch_size=128))
    model = build_model(config)
    progress = train_epoch(model, build_optimizer(model, config.train), split, config.train, EpochProgress(0))
    assert (progress.seen, progress.num_batches) == (256, 2)


def test_resume_without_a_run_directory_is_refused(small_mnist_dir: Path) -> None:
    with pytest.raises(sk.ConfigError, match="run_dir"):
        sk.fit(_config(small_mnist_dir), resume=True, log=None)


def test_every_layer_fires_from_the_first_batch_so_a_short_run_learns(tmp_path: Path, small_mnist_dir: Path,
                                                                     capsys) -> None:
    """1,000 images, one epoch (8 batches): the silent seed network stays at chance without the first-batch
    calibration and learns with it (spikekit.nn.calibrate)."""
    results = {}
    for rate in (0.01, 0.0):
        config = sk.RunConfig(sk.ModelConfig(init_firing=rate), sk.TrainConfig(epochs=1), str(small_mnist_dir))
        results[rate] = sk.fit(config, tmp_path / str(rate)).history[-1]
    assert "initial biases raised so that every layer fires on the first batch: layer 1 +" in capsys.readouterr().out
    assert results[0.01]["test_accuracy"] > 0.5 > 0.2 > results[0.0]["test_accuracy"]
    assert min(results[0.01]["firing_rate"]) > 0.01
