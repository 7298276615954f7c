"""benchmarks/bench_peers.py's equivalence check: every peer installed here computes our network's spikes."""

import importlib.util
from pathlib import Path

import pytest

from spikekit.data.mnist import MNIST

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_peers.py"


def _bench_peers():
    spec = importlib.util.spec_from_file_location("bench_peers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_peers_compute_the_same_spikes(mnist: MNIST, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("snntorch", reason="snnTorch is not installed (pip install -e '.[interop]')")
    results = _bench_peers().check_same_spikes(mnist.test.intensity(slice(0, 16)))
    assert results["torch loop"] == "same" and results["snnTorch"] == "same" and results["spikekit fast"] == "same"
    for name in ("SpikingJelly", "Norse"):  # in .venv-bench (make bench-peers); here only if installed
        assert results[name] == "same" or results[name].startswith("not run ("), results[name]
    check = capsys.readouterr().out
    hidden_rate = float(check.split("check: ")[1].split()[0])
    assert 0.05 < hidden_rate < 0.5 and " 0 output spikes" not in check  # both layers spike: a real check
