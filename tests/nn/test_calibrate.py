"""First-batch calibration: silent layers' input weights doubled until they fire, the rest left alone."""

import torch

from spikekit.nn.calibrate import MAX_ROUNDS, calibrate_firing
from spikekit.nn.network import SNN


def _inputs(shape=(20, 32, 40), rate=0.1, seed=0) -> torch.Tensor:
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < rate).float()


def _rates(network: SNN, inputs: torch.Tensor) -> list[float]:
    with torch.no_grad():
        return [float(spikes.mean()) for spikes in network.scores_and_spikes(inputs)[1]]


def test_a_silent_layer_is_doubled_until_it_fires_and_a_firing_one_is_kept() -> None:
    torch.manual_seed(0)
    network = SNN("16-8", input_shape=(40,))
    inputs = _inputs()
    with torch.no_grad():
        network.layers[0].linear.weight_t.mul_(8.0)  # the hidden layer fires from the start
    hidden_before = network.layers[0].linear.weight.clone()
    output_before = network.layers[1].linear.weight.clone()
    assert _rates(network, inputs)[0] >= 0.05 and _rates(network, inputs)[1] < 0.05
    gains = calibrate_firing(network, inputs, low=0.05)
    rates = _rates(network, inputs)
    assert gains[0] == 1.0 and torch.equal(network.layers[0].linear.weight, hidden_before)
    assert gains[1] in [2.0 ** k for k in range(1, MAX_ROUNDS + 1)] and rates[1] >= 0.05
    torch.testing.assert_close(network.layers[1].linear.weight, output_before * gains[1], rtol=0, atol=0)
    # the smallest such power: half of it leaves the layer below the rate
    with torch.no_grad():
        network.layers[1].linear.weight.div_(2.0)
    assert _rates(network, inputs)[1] < 0.05


def test_zero_rate_changes_nothing_and_the_leaky_readout_is_not_scaled() -> None:
    torch.manual_seed(1)
    network = SNN("16-8", input_shape=(40,))
    state = {k: v.clone() for k, v in network.state_dict().items()}
    assert calibrate_firing(network, _inputs(), low=0.0) == [1.0, 1.0]
    assert all(torch.equal(state[k], v) for k, v in network.state_dict().items())
    leaky = SNN("16r-8", input_shape=(40,), readout="leaky")
    output = leaky.layers[-1].linear.weight.clone()
    gains = calibrate_firing(leaky, _inputs(), low=0.05)
    assert gains[-1] == 1.0 and torch.equal(leaky.layers[-1].linear.weight, output)
    assert _rates(leaky, _inputs())[0] >= 0.05  # the recurrent hidden layer was woken up
