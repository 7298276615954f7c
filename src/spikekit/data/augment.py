"""Training-time augmentation of image intensities, drawn from an explicit generator (so resume stays exact)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from spikekit.data.shift import shift_images


def shift_offsets(batch: int, max_shift: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Offsets (dy, dx) in pixels, [B] int64 each, uniform in [-max_shift, max_shift]: two draws of B integers
    from ``generator`` (dy first), on its device."""
    span, device = 2 * max_shift + 1, generator.device
    dy = torch.randint(0, span, (batch,), generator=generator, device=device)
    dx = torch.randint(0, span, (batch,), generator=generator, device=device)
    return dy - max_shift, dx - max_shift


def random_shift(intensity: Tensor, shape: tuple[int, ...], max_shift: int, generator: torch.Generator) -> Tensor:
    """Translate each image by its own whole-pixel offset (dy, dx), each uniform in [-max_shift, max_shift].

    Pixels shifted in from outside the image are 0 (MNIST's background), pixels shifted out are lost.

    Args:
        intensity: [B, P] images, P = C * H * W flattened from ``shape``.
        shape: (C, H, W) of one image; a 1-D shape (a non-image input) is returned unchanged.
        max_shift: largest offset in pixels (0: no change).
        generator: source of the offsets (on the device of ``intensity``); two draws of B integers.
    Returns:
        [B, P] tensor of the same dtype.
    """
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    if max_shift == 0 or len(shape) != 3 or intensity.shape[0] == 0:
        return intensity
    if intensity.dim() != 2 or intensity.shape[1] != shape[0] * shape[1] * shape[2]:
        # the compiled pass indexes flat rows by (C, H, W): a row of another size would be read past its end
        raise ValueError(f"intensity must be [B, {shape[0] * shape[1] * shape[2]}] for images of shape "
                         f"{list(shape)}, got {list(intensity.shape)}")
    dy, dx = shift_offsets(intensity.shape[0], max_shift, generator)
    if intensity.device.type == "cpu" and intensity.dtype in (torch.float32, torch.float64):
        # One compiled pass over the batch: the torch gather below (pad, index arithmetic, take) measured
        # 0.57 ms of a 7.2 ms training batch of 784-128-10 at T=25 inside the CLI's loop, this ~0.03 ms.
        images = intensity.contiguous()
        out = torch.empty_like(images)
        shift_images(images.numpy(), dy.numpy(), dx.numpy(), *shape, out.numpy())
        return out
    return _gather_shift(intensity, shape, max_shift, dy, dx)


def _gather_shift(intensity: Tensor, shape: tuple[int, int, int], max_shift: int, dy: Tensor, dx: Tensor) -> Tensor:
    """``random_shift``'s translation by the offsets dy, dx ([B], in [-max_shift, max_shift] pixels) as torch
    ops, for any device."""
    batch = intensity.shape[0]
    channels, height, width = shape
    device = intensity.device
    dy, dx = dy + max_shift, dx + max_shift  # window starts in the images padded by max_shift
    padded = F.pad(intensity.reshape(batch, channels, height, width), (max_shift,) * 4)
    # One flat gather: sample b's window starts at padded[b, 0, dy_b, dx_b]; the window's own layout is the
    # same for every sample. (4-way advanced indexing measured 3-4 ms a batch of 128, this ~0.3 ms.)
    padded_h, padded_w = height + 2 * max_shift, width + 2 * max_shift
    starts = torch.arange(batch, device=device) * (channels * padded_h * padded_w) + dy * padded_w + dx
    window = (torch.arange(channels, device=device)[:, None, None] * (padded_h * padded_w)
              + torch.arange(height, device=device)[:, None] * padded_w + torch.arange(width, device=device))
    return torch.take(padded, starts[:, None] + window.reshape(1, -1))
