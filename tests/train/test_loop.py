import pytest
import torch

from spikekit.config import ModelConfig, RunConfig, TrainConfig
from spikekit.data.mnist import MNIST, Split
from spikekit.errors import ConfigError
from spikekit.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from spikekit.train.loop import (
    EpochProgress,
    batch_order,
    build_model,
    build_optimizer,
    encode_batch,
    evaluate,
    image_inputs,
    load_optimizer_state,
    optimizer_state,
    train_epoch,
    train_intensity,
)
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


def _square_first_layer_run(steps: int, model=None, optimizer=None):
    """A 10-10-3 network (a square first layer: a transposition mistake keeps every shape) trained for
    ``steps`` fused-Adam steps on fixed random input spikes; returns (model, optimizer)."""
    config = RunConfig(ModelConfig(arch="10-3", input_shape=(10,)), TrainConfig(num_steps=6, lr=0.05))
    if model is None:
        model = build_model(config)
        optimizer = build_optimizer(model, config.train)
    generator = torch.Generator().manual_seed(4)
    for _ in range(steps):
        inputs = (torch.rand(6, 16, 10, generator=generator) < 0.5).float()
        labels = torch.randint(0, 3, (16,), generator=generator)
        loss = torch.nn.functional.cross_entropy(model(inputs), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model, optimizer


def test_optimizer_state_of_an_input_major_weight_round_trips_through_a_checkpoint(tmp_path) -> None:
    model, optimizer = _square_first_layer_run(3)
    weight_t = model.layers[0].linear.weight_t
    state = optimizer_state(model, optimizer)
    # stored as nn.Linear lays out its weight: [N_out, N_in], the transpose of the parameter W^T
    assert torch.equal(state["state"][0]["exp_avg"], optimizer.state[weight_t]["exp_avg"].t())
    save_checkpoint(tmp_path / "c.safetensors", Checkpoint(model.state_dict(), state, {}))
    loaded = load_checkpoint(tmp_path / "c.safetensors")
    resumed, resumed_optimizer = _square_first_layer_run(0)
    resumed.load_state_dict(loaded.model)
    load_optimizer_state(resumed, resumed_optimizer, loaded.optimizer)
    moment = resumed_optimizer.state[resumed.layers[0].linear.weight_t]["exp_avg"]
    assert moment.is_contiguous() and torch.equal(moment, optimizer.state[weight_t]["exp_avg"])
    # then the same steps as an uninterrupted run, to the bit (fused Adam pairs elements by memory)
    _square_first_layer_run(2, model, optimizer)
    _square_first_layer_run(2, resumed, resumed_optimizer)
    for mine, theirs in zip(resumed.parameters(), model.parameters()):
        assert torch.equal(mine, theirs)


def test_optimizer_state_that_does_not_fit_is_refused() -> None:
    model, optimizer = _square_first_layer_run(1)
    state = optimizer_state(model, optimizer)
    state["state"][1]["exp_avg"] = torch.zeros(3)  # the bias has 10 entries
    fresh, fresh_optimizer = _square_first_layer_run(0)
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 1 has shape \[3\], the parameter \[10\]"):
        load_optimizer_state(fresh, fresh_optimizer, state)


@pytest.mark.parametrize(("engine", "shift", "arch", "input_shape"), [
    ("fast", 2, "128-10", (1, 28, 28)), ("fast", 0, "128-10", (1, 28, 28)), ("fast", 1, "4c5-p2-10", (1, 28, 28)),
    ("fast", 1, "128-10", (784,)), ("reference", 1, "128-10", (1, 28, 28))])
def test_image_inputs_equal_the_shifted_intensities_encoded(mnist: MNIST, engine, shift, arch, input_shape) -> None:
    # Inputs on the CPU come from the raw bytes in one pass, for either engine (the engine changes no input
    # spike); they must be the events that encoding the shifted float intensities gives.
    config = TrainConfig(engine=engine, shift=shift, num_steps=6)
    split = Split(mnist.train.images[:300], mnist.train.labels[:300])
    index = batch_order(300, 0, 1)[:50]
    mine = image_inputs(split, index, config, input_shape, ("train", 1, 4), ("shift", 1, 4))
    theirs = encode_batch(train_intensity(split, index, config, input_shape, ("shift", 1, 4)), config, "train", 1, 4)
    assert not isinstance(mine, torch.Tensor)
    dense = mine.to_dense()
    assert torch.equal(dense, theirs if isinstance(theirs, torch.Tensor) else theirs.to_dense())
    unshifted = image_inputs(split, index, config, input_shape, ("train", 1, 4))
    if not isinstance(unshifted, torch.Tensor):
        unshifted = unshifted.to_dense()
    assert torch.equal(unshifted, dense) == (not shift or len(input_shape) != 3)


def test_clip_grad_bounds_the_gradient_norm_of_each_step() -> None:
    """With plain SGD at lr 1 the step is minus the gradient: its norm is at most clip_grad."""
    from tests.conftest import tiny_split
    config = RunConfig(ModelConfig(arch="8-10"), TrainConfig(num_steps=4, batch_size=16, clip_grad=1e-3, shift=0))
    model = build_model(config)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    split = tiny_split(16)
    train_epoch(model, optimizer, split, config.train, EpochProgress(0))
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert 0 < float((after - before).norm()) <= 1e-3 * (1 + 1e-5)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="clip_grad must be a finite number > 0"):
            TrainConfig(clip_grad=bad)
