"""``spikekit export | import | predict`` end to end on a small trained run, and imports of NIR graphs whose
layers and neurons differ (the config's ``layer_constants``)."""

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from spikekit.cli import main
from spikekit.cli.inspect import load_model
from spikekit.cli.interop import read_image
from spikekit.config import ModelConfig, RunConfig
from spikekit.data.encoding import poisson_encode
from spikekit.data.mnist import MNIST
from spikekit.errors import ConfigError
from spikekit.io.checkpoint import load_checkpoint, save_checkpoint
from spikekit.io.nir import read_nir, to_nir, write_nir
from spikekit.nn import SNN
from spikekit.nn.neurons import LIF, CubaLIF
from spikekit.train.rng import keyed_generator


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, mnist: MNIST) -> Path:
    from tests.conftest import write_mnist_dir
    root = tmp_path_factory.mktemp("interop")
    data_dir = write_mnist_dir(root / "mnist", mnist, 3000, 300)
    assert main(["train", "--data-dir", str(data_dir), "--epochs", "2", "-T", "10", "--out", str(root / "run")]) == 0
    return root


def _accuracy(output: str) -> str:
    return re.search(r"test accuracy (\S+)%", output).group(1)


def test_export_then_import_evaluates_identically(trained: Path, tmp_path: Path, capsys) -> None:
    checkpoint, data_dir = trained / "run" / "checkpoints" / "final.safetensors", trained / "mnist"
    assert main(["export", str(checkpoint), str(tmp_path / "net.nir")]) == 0
    assert "input -> affine1 -> lif1 -> affine2 -> lif2 -> output" in capsys.readouterr().out
    assert main(["import", str(tmp_path / "net.nir"), str(tmp_path / "back.safetensors"), "-T", "10"]) == 0
    capsys.readouterr()
    assert main(["eval", str(checkpoint), "--data-dir", str(data_dir)]) == 0
    original = _accuracy(capsys.readouterr().out)
    assert main(["eval", str(tmp_path / "back.safetensors"), "--data-dir", str(data_dir)]) == 0
    assert _accuracy(capsys.readouterr().out) == original


def _png(path: Path, pixels: np.ndarray) -> Path:
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def test_predict_reads_digits_in_any_size_and_polarity(trained: Path, tmp_path: Path, mnist: MNIST,
                                                       capsys) -> None:
    checkpoint = str(trained / "run" / "checkpoints" / "final.safetensors")
    right = 0
    for index in range(20):
        digit = mnist.test.images[index].numpy().reshape(28, 28)
        label = int(mnist.test.labels[index])
        predictions = []
        for name, pixels in (("plain", digit), ("inverted", 255 - digit),
                             ("large", np.kron(digit, np.ones((3, 3))))):
            assert main(["predict", str(_png(tmp_path / f"{name}.png", pixels)), "--checkpoint", checkpoint]) == 0
            out = capsys.readouterr().out
            predictions.append(int(re.search(r"predicted digit: (\d)", out).group(1)))
            counts = [int(c) for c in re.findall(r"\d:(\d+)", out)]
            assert len(counts) == 10 and counts.index(max(counts)) == predictions[-1]
        right += predictions[0] == label
        assert predictions[1] == predictions[0]  # auto-inverted: the same digit
    assert right >= 14  # the small model is right on most of them


def _leaky_cuba_file(tmp_path: Path) -> Path:
    graph = to_nir(SNN("8s-10", input_shape=(784,)))
    graph.nodes["cubalif1"].v_leak = np.full(8, 0.1)
    write_nir(tmp_path / "leaky.nir", graph)
    return tmp_path / "leaky.nir"


def test_interop_errors_are_one_line(trained: Path, tmp_path: Path, capsys) -> None:
    checkpoint = str(trained / "run" / "checkpoints" / "final.safetensors")
    (tmp_path / "note.png").write_text("not an image")
    (tmp_path / "junk.nir").write_bytes(b"junk")
    for args, message in (
        (["predict", str(tmp_path / "note.png"), "--checkpoint", checkpoint], "cannot read as an image"),
        (["predict", str(tmp_path / "none.png"), "--checkpoint", checkpoint], "cannot read as an image"),
        (["import", str(tmp_path / "junk.nir"), str(tmp_path / "x.safetensors")], "not a readable NIR file"),
        (["export", str(tmp_path / "none.safetensors"), str(tmp_path / "x.nir")], "no such checkpoint file"),
        (["export", checkpoint, str(tmp_path / "x.nir"), "--dt", "-1"], "dt must be"),
        (["import", str(_leaky_cuba_file(tmp_path)), str(tmp_path / "x.safetensors")],
         "node 'cubalif1': v_leak must be 0 in a CubaLIF"),
    ):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.safetensors").exists() and not (tmp_path / "x.nir").exists()


def _mixed_model() -> SNN:
    """Layers whose constants differ: CubaLIF conv neurons with per-neuron thresholds, a LIF layer of its own tau
    and reset, CubaLIF outputs with per-neuron synaptic time constants."""
    torch.manual_seed(0)
    neurons = [CubaLIF(threshold=torch.rand(4, 28, 28) * 0.5 + 0.5, tau_syn=3.0), LIF(tau=3.0, reset=-0.2),
               CubaLIF(tau_syn=torch.linspace(1.5, 6.0, 10))]
    model = SNN("4c3s-a2-32-10s", neurons, "fast", (1, 28, 28))
    with torch.no_grad():  # strong enough that every layer fires
        model.layers[0].conv.bias.add_(0.5)
        for layer in model.spiking_layers[1:]:
            layer.linear.weight.mul_(10)
            layer.linear.bias.add_(0.5)
    return model


def test_import_keeps_constants_that_differ_between_layers_and_neurons(trained: Path, tmp_path: Path, mnist: MNIST,
                                                                       capsys) -> None:
    model = _mixed_model()
    write_nir(tmp_path / "mixed.nir", to_nir(model))
    imported = str(tmp_path / "mixed.safetensors")
    assert main(["import", str(tmp_path / "mixed.nir"), imported, "-T", "10"]) == 0
    assert ("tau=2.0, threshold=1.0, reset=0.0, tau_syn=2.0; layer 4c3s: threshold=per-neuron, tau_syn=3.0; "
            "layer 32: tau=3.0, reset=-0.2; layer 10s: tau_syn=per-neuron") in capsys.readouterr().out
    assert load_checkpoint(imported).meta["config"]["model"]["layer_constants"] == [
        {"threshold": "per-neuron", "tau_syn": 3.0}, {"tau": 3.0, "reset": -0.2}, {"tau_syn": "per-neuron"}]

    back, config = load_model(imported)
    assert torch.equal(back.layers[0].params.threshold, model.layers[0].params.threshold)
    assert torch.equal(back.layers[-1].params.tau_syn, model.layers[-1].params.tau_syn)
    spikes = poisson_encode(mnist.test.intensity(slice(0, 16)), 10, torch.Generator().manual_seed(1))
    for mine, theirs in zip(model.layer_spikes(spikes), back.layer_spikes(spikes)):
        assert torch.equal(mine, theirs) and mine.sum() > 0

    # predict and eval run on the imported checkpoint, predict with the original's output spikes
    digit = mnist.test.images[0].numpy().reshape(28, 28)
    assert main(["predict", str(_png(tmp_path / "digit.png", digit)), "--checkpoint", imported]) == 0
    encoded = poisson_encode(read_image(tmp_path / "digit.png")[None], 10, keyed_generator(0, "predict"))
    counts = " ".join(f"{index}:{int(count)}" for index, count in enumerate(model(encoded)[0]))
    assert f"output spike counts over T=10: {counts}" in capsys.readouterr().out
    assert main(["eval", imported, "--data-dir", str(trained / "mnist")]) == 0
    assert "test accuracy" in capsys.readouterr().out

    # and it exports the same neurons again
    assert main(["export", imported, str(tmp_path / "again.nir")]) == 0
    first, again = read_nir(tmp_path / "mixed.nir"), read_nir(tmp_path / "again.nir")
    for name in ("cubalif1", "lif4", "cubalif5"):
        for field in ("tau_mem", "tau_syn", "tau", "r", "w_in", "v_leak", "v_threshold", "v_reset"):
            if hasattr(first.nodes[name], field):
                assert np.array_equal(getattr(first.nodes[name], field), getattr(again.nodes[name], field))


def test_configs_from_before_layer_constants_still_load(trained: Path) -> None:
    checkpoint = str(trained / "run" / "checkpoints" / "final.safetensors")
    data = load_checkpoint(checkpoint).meta["config"]
    old = copy.deepcopy(data)
    del old["model"]["layer_constants"]
    assert RunConfig.from_dict(old) == RunConfig.from_dict(data)
    assert RunConfig.from_dict(old).model.layer_constants == ()
    load_model(checkpoint)  # builds and takes the weights (strict)


def test_layer_constants_round_trip_through_json_and_their_placeholders_are_valid() -> None:
    model = ModelConfig(arch="16s-8-10s", layer_constants=({"threshold": "per-neuron", "reset": 1.5},
                                                          {"reset": "per-neuron", "threshold": 0.5}, {"tau": 4.0}))
    config = RunConfig(model)
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    first, second, third = model.layer_params()
    assert first.threshold.shape == (16,) and bool((first.threshold > first.reset).all())
    assert second.reset.shape == (8,) and bool((second.reset < second.threshold).all())
    assert third.tau == 4.0 and third.tau_syn == model.tau_syn


@pytest.mark.parametrize(("changes", "message"), [
    ({"layer_constants": ({"tau_syn": 3.0}, {})}, "spiking layer 1 .128.: lif neurons have no constant 'tau_syn'"),
    ({"layer_constants": ({},)}, "layer_constants has 1 entries for 2 spiking layers"),
    ({"layer_constants": [3.0, 2.0]}, "layer_constants must be one dict per spiking layer"),
    ({"layer_constants": ({"tau": 0.5}, {})}, "spiking layer 1 .128.: tau must be > 1"),
    ({"layer_constants": ({}, {"tau": "fast"})}, "spiking layer 2 .10.: tau must be a number or 'per-neuron'"),
    ({"layer_constants": ({}, {"tau": "per-neuron"}), "learn": ("tau",)},
     "cannot learn 'tau': spiking layer 2 has per-neuron values for it"),
])
def test_bad_layer_constants_are_one_line_config_errors(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        ModelConfig(**changes)
    assert "\n" not in str(error.value)


def test_export_and_import_refuse_to_overwrite_without_force(trained: Path, tmp_path: Path, capsys) -> None:
    checkpoint = str(trained / "run" / "checkpoints" / "final.safetensors")
    nir_file, imported = tmp_path / "net.nir", tmp_path / "back.safetensors"
    assert main(["export", checkpoint, str(nir_file)]) == 0
    assert main(["import", str(nir_file), str(imported)]) == 0
    capsys.readouterr()
    for command, out in ((["export", checkpoint], nir_file), (["import", str(nir_file)], imported)):
        before = out.read_bytes()
        assert main([*command, str(out)]) == 2
        err = capsys.readouterr().err
        assert f"{out} exists; pass --force to overwrite it" in err and err.count("\n") == 1
        assert out.read_bytes() == before
        assert main([*command, str(out), "--force"]) == 0
    assert main(["export", checkpoint, str(tmp_path)]) == 2  # a directory: one line naming it, no h5py text
    err = capsys.readouterr().err
    assert f"{tmp_path} is a directory; give a file name" in err and err.count("\n") == 1
    assert main(["export", checkpoint, str(tmp_path / "missing" / "net.nir")]) == 2
    assert "the folder" in capsys.readouterr().err


@pytest.mark.parametrize("pixels", [np.zeros((28, 28)), np.full((1, 1), 128)], ids=["blank", "1x1 gray"])
def test_predict_refuses_an_image_without_a_digit(trained: Path, tmp_path: Path, pixels, capsys) -> None:
    checkpoint = str(trained / "run" / "checkpoints" / "final.safetensors")
    code = main(["predict", str(_png(tmp_path / "blank.png", pixels)), "--checkpoint", checkpoint, "--invert", "no"])
    captured = capsys.readouterr()
    assert code == 2 and "predicted digit" not in captured.out  # a network's biases answer even a blank input
    assert "is uniform after conversion to 28 x 28" in captured.err and captured.err.count("\n") == 1


def test_predict_with_no_output_spikes_predicts_nothing(trained: Path, tmp_path: Path, mnist: MNIST, capsys) -> None:
    checkpoint = load_checkpoint(trained / "run" / "checkpoints" / "final.safetensors")
    silenced = copy.deepcopy(checkpoint.model)
    silenced["layers.1.linear.bias"] = torch.full_like(silenced["layers.1.linear.bias"], -100.0)  # never fires
    path = tmp_path / "silent.safetensors"
    save_checkpoint(path, checkpoint._replace(model=silenced))
    digit = mnist.test.images[0].reshape(28, 28).numpy()
    code = main(["predict", str(_png(tmp_path / "digit.png", digit)), "--checkpoint", str(path), "--invert", "no"])
    captured = capsys.readouterr()
    assert code == 2 and "predicted digit" not in captured.out
    assert "no output spikes" in captured.err and captured.err.count("\n") == 1
    assert re.findall(r"\d:(\d+)", captured.out) == ["0"] * 10
