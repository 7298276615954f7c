"""Engines of a conv LIF layer (``spikekit.nn.conv.ConvLayer``): ``(inputs, conv, params) -> spikes``.

    inputs: input spikes (or pooled spikes) [T, B, C_in, H, W], dense;
    conv: the layer's ``nn.Conv2d`` (current = conv(x) + b, stride 1, 'same' padding);
    spikes: [T, B, C_out, H, W] in {0., 1.}, membrane starting at rest.

``reference_conv_layer`` is the step loop that SNN libraries run (one conv and one ``lif_step`` per
step); ``fast_conv_layer`` folds time into the batch for one conv over all T*B images, as SpikingJelly's
multi-step mode does, then runs the compiled LIF scan (``lif_fused``) over the [T, B*C*H*W] currents,
which saves one tensor for backward instead of autograd's ~6 per step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spikekit.dynamics.lif import LIFParams, initial_state, lif_step
from spikekit.kernels.lif_fused import fused_lif_scan


def _check_input(inputs: Tensor, conv: nn.Conv2d) -> None:
    if inputs.dim() != 5 or inputs.shape[2] != conv.in_channels:
        raise ValueError(f"a conv layer of {conv.in_channels} input channels takes spikes [T, B, {conv.in_channels}, "
                         f"H, W], got shape {list(inputs.shape)}")


def reference_conv_layer(inputs: Tensor, conv: nn.Conv2d, params: LIFParams) -> Tensor:
    """Conv then LIF, step by step: inputs [T, B, C_in, H, W] -> spikes [T, B, C_out, H, W]."""
    _check_input(inputs, conv)
    num_steps, batch_size, _, height, width = inputs.shape
    state = initial_state(batch_size, (conv.out_channels, height, width), like=conv.weight)
    spikes = []
    for inputs_t in inputs:  # inputs_t: [B, C_in, H, W]
        spikes_t, state = lif_step(conv(inputs_t), state, params)
        spikes.append(spikes_t)
    return torch.stack(spikes)


def fast_conv_layer(inputs: Tensor, conv: nn.Conv2d, params: LIFParams) -> Tensor:
    """Same contract as ``reference_conv_layer``; one conv over [T*B, C_in, H, W], then the fused scan."""
    _check_input(inputs, conv)
    num_steps, batch_size, _, height, width = inputs.shape
    current = conv(inputs.reshape(num_steps * batch_size, *inputs.shape[2:]))  # [T*B, C_out, H, W]
    current = current.reshape(num_steps, batch_size, *current.shape[1:])
    state = initial_state(batch_size, current.shape[2:], like=conv.weight)
    spikes, _ = fused_lif_scan(current, state, params)
    return spikes


CONV_ENGINES = {"reference": reference_conv_layer, "fast": fast_conv_layer}
