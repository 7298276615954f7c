import torch

from spikekit.config import RunConfig, TrainConfig
from spikekit.data.mnist import MNIST, Split
from spikekit.train.loop import EpochProgress, batch_order, build_model, evaluate, train_epoch
from spikekit.train.rng import keyed_seed


def test_training_on_a_small_subset_beats_chance_widely(mnist: MNIST) -> None:
    config = RunConfig(train=TrainConfig(epochs=2, num_steps=10, limit_train=2000))
    train = Split(mnist.train.images[:2000], mnist.train.labels[:2000])
    test = Split(mnist.test.images[:500], mnist.test.labels[:500])
    model = build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    losses = []
    for epoch in range(2):
        progress = train_epoch(model, optimizer, train, config.train, EpochProgress(epoch))
        losses.append(progress.loss)
        assert progress.seen == 2000 and progress.batch == progress.num_batches == 16
    result = evaluate(model, test, config.train)
    assert losses[1] < losses[0]
    assert result.accuracy > 0.6  # chance is 0.10
    assert len(result.firing_rate) == 2 and all(0 < rate < 1 for rate in result.firing_rate)
    assert all(abs(z - (1 - r)) < 1e-12 for z, r in zip(result.zero_fraction, result.firing_rate))
    assert result.counts.shape == (500, 10)


def test_evaluation_is_deterministic(mnist: MNIST) -> None:
    config = RunConfig(train=TrainConfig(num_steps=5, eval_batch_size=64))
    test = Split(mnist.test.images[:100], mnist.test.labels[:100])
    model = build_model(config)
    first, second = evaluate(model, test, config.train), evaluate(model, test, config.train)
    assert torch.equal(first.counts, second.counts)


def test_keyed_streams_are_pure_functions_of_their_keys() -> None:
    assert keyed_seed(0, "train", 1, 2) == keyed_seed(0, "train", 1, 2) != keyed_seed(0, "train", 2, 1)
    assert torch.equal(batch_order(50, 3, 1), batch_order(50, 3, 1))
    assert not torch.equal(batch_order(50, 3, 1), batch_order(50, 3, 2))
    assert sorted(batch_order(50, 3, 1).tolist()) == list(range(50))


def test_model_init_does_not_touch_the_global_rng() -> None:
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    build_model(RunConfig())
    assert torch.equal(torch.rand(3), expected)
