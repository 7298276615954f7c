"""The fast engine: time folded into the batch, event-driven input products, a fused LIF scan.

Profile of the reference at T=100, batch 128 (see benchmarks/bench_engines.py): Poisson sampling,
100 small products per layer and ~6 autograd nodes per step dominate; the unavoidable arithmetic
is a small part. Here each layer is one product over all T*B rows (binary input events use a
gather/scatter-add of weight rows instead), then one compiled scan over time.
"""

from __future__ import annotations

from torch import Tensor, nn

from spikekit.dynamics.lif import LIFParams, initial_state
from spikekit.kernels.events import LazyEvents, SpikeEvents, as_events, event_linear
from spikekit.kernels.lif_fused import fused_lif_scan


def fast_layer(inputs: Tensor | SpikeEvents | LazyEvents, linear: nn.Linear, params: LIFParams) -> Tensor:
    """Same contract as ``reference_layer``: inputs [T, B, N_in] -> spikes [T, B, N_out]."""
    weight = linear.weight
    events = as_events(inputs)
    if events is not None and weight.device.type == "cpu" and weight.dtype.is_floating_point:
        current = event_linear(events, weight, linear.bias)
    else:
        if events is not None:
            inputs = events.to_dense(weight.dtype).to(weight.device)
        current = linear(inputs)  # [T, B, N_in] @ W.T: one GEMM over T*B rows
    state = initial_state(current.shape[1], linear.out_features, like=weight)
    spikes, _ = fused_lif_scan(current, state, params)
    return spikes
