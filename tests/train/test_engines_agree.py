"""Slow: full training runs of both engines with the same seed reach the same accuracy (issue: fast engine)."""

import pytest

from spikekit.config import RunConfig, TrainConfig
from spikekit.data.mnist import MNIST
from spikekit.train.loop import EpochProgress, build_model, build_optimizer, evaluate, train_epoch


@pytest.mark.slow
def test_fast_and_reference_training_reach_the_same_accuracy(mnist: MNIST) -> None:
    # Both engines get the same input spikes (the sampler does not depend on the engine): different spikes
    # alone move the accuracy after 3 epochs by up to 1.5 points from seed to seed (measured: fast engine,
    # seeds 0-5: 96.48, 96.02, 96.26, 94.92, 96.49, 96.04%), more than the 0.3-point bound can tell from a
    # difference between the engines.
    accuracy = {}
    for engine in ("reference", "fast"):
        config = RunConfig(train=TrainConfig(engine=engine, epochs=3, num_steps=25, seed=0))
        model = build_model(config)
        optimizer = build_optimizer(model, config.train)
        for epoch in range(config.train.epochs):
            train_epoch(model, optimizer, mnist.train, config.train, EpochProgress(epoch))
        accuracy[engine] = evaluate(model, mnist.test, config.train).accuracy
    print(f"test accuracy after 3 epochs: {accuracy}")
    assert accuracy["fast"] > 0.95 and accuracy["reference"] > 0.95
    assert abs(accuracy["fast"] - accuracy["reference"]) <= 0.003
