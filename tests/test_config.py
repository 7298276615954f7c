import pytest

from spikekit.config import RunConfig, TrainConfig
from spikekit.errors import ConfigError


def test_a_config_round_trips_through_its_dict() -> None:
    config = RunConfig(train=TrainConfig(val=100, shift=2, schedule="cosine", warmup=0.1, weight_decay=0.01,
                                         eval_steps=40))
    assert RunConfig.from_dict(config.to_dict()) == config


def test_eval_steps_set_the_test_passes_t_only() -> None:
    config = TrainConfig(num_steps=8, eval_steps=16)
    assert config.for_evaluation().num_steps == 16 and config.num_steps == 8
    assert config.for_evaluation().eval_steps == 16 and TrainConfig().for_evaluation() == TrainConfig()
    with pytest.raises(ConfigError, match="eval_steps must be an integer >= 1"):
        TrainConfig(eval_steps=0)
    with pytest.raises(ConfigError, match="binned once"):  # event recordings: one T for training and test
        RunConfig(train=TrainConfig(num_steps=8, eval_steps=16, shift=0), dataset="nmnist")
    assert RunConfig(train=TrainConfig(num_steps=8, eval_steps=8, shift=0), dataset="nmnist").train.eval_steps == 8


def test_configs_from_before_the_schedule_choice_keep_cosine() -> None:
    old = RunConfig().to_dict()
    for key in ("schedule", "warmup", "shift", "val", "weight_decay", "label_smoothing", "eval_steps"):
        del old["train"][key]
    config = RunConfig.from_dict(old)
    assert config.train.schedule == "cosine" and config.train.shift == 0 and config.train.val == 0
    assert config.train.eval_steps is None  # tested at their training T, as they were
    assert TrainConfig().schedule == "wsd" and TrainConfig().shift == 1  # what new runs get


@pytest.mark.parametrize("field, value", [("shift", -1), ("val", -5), ("weight_decay", 1.5),
                                          ("label_smoothing", -0.1), ("schedule", "step"), ("warmup", 1.0)])
def test_out_of_range_recipe_values_are_config_errors(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field if field != "schedule" else "schedule"):
        TrainConfig(**{field: value})


def test_a_readout_window_needs_the_leaky_readout_and_old_runs_score_every_step() -> None:
    from spikekit.config import ModelConfig
    assert ModelConfig(readout="leaky", readout_window=0.25).readout_window == 0.25
    with pytest.raises(ConfigError, match="readout_window 0.5 needs the leaky readout, not 'counts'"):
        ModelConfig(readout_window=0.5)
    with pytest.raises(ConfigError, match=r"fraction of the steps in \(0, 1\], got 1.5"):
        ModelConfig(readout="leaky", readout_window=1.5)
    old = RunConfig(ModelConfig(readout="leaky")).to_dict()
    del old["model"]["readout_window"]  # a run saved before the field existed trained on every step's membrane
    assert RunConfig.from_dict(old).model.readout_window == 1.0


def test_a_brf_range_is_spread_over_each_layers_neurons_and_round_trips() -> None:
    import json

    import torch

    from spikekit.config import ModelConfig

    model = ModelConfig(arch="4c3b-5rb-3", input_shape=(1, 4, 4), omega=(10.0, 30.0), b_offset=0.5)
    conv, linear = model.layer_params()[:2]
    assert linear.omega.tolist() == [10.0, 15.0, 20.0, 25.0, 30.0] and linear.b_offset == 0.5
    assert conv.omega.shape == (4, 1, 1) and conv.omega.flatten().tolist() == pytest.approx([10.0, 16.6667, 23.3333,
                                                                                            30.0], rel=1e-5)
    again = RunConfig.from_dict(json.loads(json.dumps(RunConfig(model).to_dict())))
    assert again.model == model and again.model.omega == (10.0, 30.0)
    assert torch.equal(again.model.layer_params()[1].omega, linear.omega)
    for bad in ((30.0, 10.0), (1.0, 2.0, 3.0), ("a", 2.0)):
        with pytest.raises(ConfigError, match="omega must be a number or a range"):
            ModelConfig(omega=bad)
    with pytest.raises(ConfigError, match="dt \\* omega must be < 1"):  # the range's top is checked too
        ModelConfig(arch="5b-3", input_shape=(4,), omega=(10.0, 120.0))


def test_brf_layers_take_per_neuron_constants_from_a_checkpoint() -> None:
    from spikekit.config import PER_NEURON, ModelConfig

    model = ModelConfig(arch="5rb-3", input_shape=(4,), omega=(10.0, 30.0),
                        layer_constants=({"threshold": PER_NEURON, "omega": PER_NEURON}, {}))
    brf = model.layer_params()[0]
    assert brf.threshold.shape == brf.omega.shape == (5,)  # placeholders the checkpoint's values replace
