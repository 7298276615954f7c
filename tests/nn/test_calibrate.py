"""First-batch calibration: silent layers' biases raised until they fire, the rest left alone."""

import torch

from spikekit.nn.calibrate import MAX_ROUNDS, STEP, calibrate_firing
from spikekit.nn.network import SNN


def _inputs(shape=(20, 32, 40), rate=0.1, seed=0) -> torch.Tensor:
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < rate).float()


def _rates(network: SNN, inputs: torch.Tensor) -> list[float]:
    with torch.no_grad():
        return [float(spikes.mean()) for spikes in network.scores_and_spikes(inputs)[1]]


def test_a_silent_layer_is_raised_until_it_fires_and_a_firing_one_is_kept() -> None:
    torch.manual_seed(0)
    network = SNN("16-8", input_shape=(40,))
    inputs = _inputs()
    with torch.no_grad():
        network.layers[0].linear.weight_t.mul_(8.0)  # the hidden layer fires from the start
    before = {k: v.clone() for k, v in network.state_dict().items()}
    assert _rates(network, inputs)[0] >= 0.05 and _rates(network, inputs)[1] < 0.05
    raised = calibrate_firing(network, inputs, low=0.05)
    assert raised[0] == 0.0 and 0 < raised[1] <= MAX_ROUNDS * STEP
    after = network.state_dict()
    for key, value in before.items():  # only the output layer's bias moved, by the reported thresholds (1.0)
        if key == "layers.1.linear.bias":
            torch.testing.assert_close(after[key], value + raised[1])
        else:
            assert torch.equal(after[key], value), key
    assert _rates(network, inputs)[1] >= 0.05
    with torch.no_grad():  # the smallest such raise: one step less leaves the layer below the rate
        network.layers[1].linear.bias.sub_(STEP)
    assert _rates(network, inputs)[1] < 0.05


def test_zero_rate_changes_nothing_and_the_leaky_readout_is_not_raised() -> None:
    torch.manual_seed(1)
    network = SNN("16-8", input_shape=(40,))
    state = {k: v.clone() for k, v in network.state_dict().items()}
    assert calibrate_firing(network, _inputs(), low=0.0) == [0.0, 0.0]
    assert all(torch.equal(state[k], v) for k, v in network.state_dict().items())
    leaky = SNN("16r-8", input_shape=(40,), readout="leaky")
    output = leaky.layers[-1].linear.bias.clone()
    raised = calibrate_firing(leaky, _inputs(), low=0.05)
    assert raised[-1] == 0.0 and torch.equal(leaky.layers[-1].linear.bias, output)
    assert _rates(leaky, _inputs())[0] >= 0.05  # the recurrent hidden layer was woken up
