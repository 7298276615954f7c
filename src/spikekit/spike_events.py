"""Binary input spikes as events, and the row operations of the products that exploit them.

``SpikeEvents`` stores, for every (step, sample), the indices of the inputs that spiked. Poisson
inputs of MNIST are ~13% dense, so the product ``current = spikes @ W.T`` becomes a sum of about
100 weight rows per (step, sample) instead of a 784-long dot product per output (``kernels.intrinsics.rows.add_rows``),
and the weight gradient ``dW = g.T @ spikes`` a scatter-add of gradient rows into the active inputs
(``rows.scatter_rows``); ``event_layer`` runs both, fused with the LIF scan. Both use exact float
arithmetic (only the summation order differs from a GEMM), unlike a bf16 GEMM, whose 8-bit mantissa
would change which neurons cross threshold.

Complement coding: most of an MNIST digit's spikes come from nearly saturated pixels (p >= 0.5
carries ~80% of them). Such a pixel is stored once per sample as a *default* (spikes unless told
otherwise) plus an *off* event at each step it stays silent, rarer than its spikes. The current is
then ``bias + sum of default rows`` (once per sample) ``+ on rows - off rows`` per step: ~21 row
operations per (step, sample) instead of ~103 on MNIST, for the same spikes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numba
import torch
from torch import Tensor


class SpikeEvents(NamedTuple):
    """Binary spikes [T, B, N] as per-sample defaults plus per-step exceptions:

        spikes[t, b, i] = (i in defaults[b, :num_defaults[b]]) XOR (i is an event of (t, b)),

    the events of (t, b) being the *on* events ``indices[t, b, :num_on[t, b]]`` (inputs outside the
    defaults that spiked) and the *off* events ``indices[t, b, C - num_off[t, b]:]`` (defaults that did
    not). Index tensors are int16 (int32 past 32767 inputs), which halves the largest tensor here.
    """

    indices: Tensor  # [T, B, C]: on events from the front, off events from the back, padding between
    num_on: Tensor  # [T, B] int32
    num_off: Tensor  # [T, B] int32
    defaults: Tensor  # [B, D]: inputs that spike at every step unless an off event says otherwise
    num_defaults: Tensor  # [B] int32
    num_inputs: int  # N, the width of the dense spike tensor

    @classmethod
    def on_only(cls, indices: Tensor, num_on: Tensor, num_inputs: int) -> SpikeEvents:
        """Events that are all *on* events, no defaults: ``indices`` [T, B, C], ``num_on`` [T, B] int32."""
        num_steps, batch_size = num_on.shape
        return cls(indices, num_on, torch.zeros(num_steps, batch_size, dtype=torch.int32),
                   torch.zeros(batch_size, 1, dtype=indices.dtype), torch.zeros(batch_size, dtype=torch.int32),
                   num_inputs)

    def batch_slice(self, start: int, stop: int) -> SpikeEvents:
        """The events of samples ``start:stop`` (all steps)."""
        return SpikeEvents(self.indices[:, start:stop], self.num_on[:, start:stop], self.num_off[:, start:stop],
                           self.defaults[start:stop], self.num_defaults[start:stop], self.num_inputs)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape [T, B, N] of the dense spike tensor these events stand for."""
        return (*self.num_on.shape, self.num_inputs)

    def num_spikes(self) -> int:
        """Total number of spikes (ones in the dense tensor)."""
        num_steps = self.num_on.shape[0]
        return int(self.num_on.sum()) + num_steps * int(self.num_defaults.sum()) - int(self.num_off.sum())

    def to_dense(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """The dense spike tensor [T, B, N] in {0., 1.}."""
        num_steps, batch_size, capacity = self.indices.shape
        spare = self.num_inputs  # padding entries are sent to a spare column, cut off at the end
        default_valid = torch.arange(self.defaults.shape[1]) < self.num_defaults.unsqueeze(-1)
        default_columns = torch.where(default_valid, self.defaults.long(), spare)
        base = torch.zeros(batch_size, self.num_inputs + 1, dtype=dtype).scatter_(1, default_columns, 1.0)
        dense = base.expand(num_steps, -1, -1).clone()
        slots = torch.arange(capacity)
        on = torch.where(slots < self.num_on.unsqueeze(-1), self.indices.long(), spare)
        off = torch.where(slots >= capacity - self.num_off.unsqueeze(-1), self.indices.long(), spare)
        dense.scatter_(2, on, 1.0).scatter_(2, off, 0.0)
        return dense[..., : self.num_inputs].contiguous()


class LazyEvents:
    """Spike events drawn only when needed, whole or one batch slice at a time.

    ``draw(start, stop)`` must return the ``SpikeEvents`` of samples ``start:stop`` and give every
    sample the same spikes whichever slice it is drawn in (the counter-based Poisson sampler keys
    each (step, sample) stream by its place in the whole batch). So a chunked inference draws each
    chunk's indices into a small, reused buffer instead of materialising [T, B, C] at once
    (measured 38 -> 15 ms for T=100, B=1000: the difference was page faults on a 57 MB tensor).
    """

    def __init__(self, shape: tuple[int, int, int], draw: Callable[[int, int], SpikeEvents]) -> None:
        self.shape = shape  # [T, B, N] of the dense spikes these events stand for
        self._draw = draw
        self._events: SpikeEvents | None = None

    def events(self) -> SpikeEvents:
        """All the events, drawn once and kept."""
        if self._events is None:
            self._events = self._draw(0, self.shape[1])
        return self._events

    def batch_slice(self, start: int, stop: int) -> LazyEvents:
        """The (still undrawn) events of samples ``start:stop``."""
        stop = min(stop, self.shape[1])
        return LazyEvents((self.shape[0], stop - start, self.shape[2]),
                          lambda first, last: self._draw(start + first, start + last))

    def num_spikes(self) -> int:
        return self.events().num_spikes()

    @property
    def num_inputs(self) -> int:
        return self.shape[2]

    def to_dense(self, dtype: torch.dtype = torch.float32) -> Tensor:
        return self.events().to_dense(dtype)


def as_events(inputs: object) -> SpikeEvents | None:
    """``inputs`` as ``SpikeEvents`` (drawing ``LazyEvents``), or None for a dense tensor."""
    if isinstance(inputs, SpikeEvents):
        return inputs
    if isinstance(inputs, LazyEvents):
        return inputs.events()
    return None


def as_dense(inputs: Tensor | SpikeEvents | LazyEvents, like: Tensor) -> Tensor:
    """``inputs`` as a dense spike tensor [T, B, N]: events become one in the dtype and on the device of
    ``like`` (a layer's weight); a dense tensor is returned as it is."""
    events = as_events(inputs)
    return inputs if events is None else events.to_dense(like.dtype).to(like.device)


def index_dtype(num_inputs: int) -> torch.dtype:
    """The narrowest signed integer type of event indices for ``num_inputs`` inputs."""
    return torch.int16 if num_inputs <= torch.iinfo(torch.int16).max else torch.int32


@numba.njit(parallel=True, cache=True)
def _dense_to_events(spikes, indices, counts):
    for row in numba.prange(spikes.shape[0]):
        n = 0
        for i in range(spikes.shape[1]):
            if spikes[row, i] != 0:
                indices[row, n] = i
                n += 1
        counts[row] = n


def events_from_dense(spikes: Tensor) -> SpikeEvents:
    """Events of a dense binary spike tensor [T, B, N] (any nonzero entry counts as a spike), all as
    on events (no defaults)."""
    num_steps, batch_size, num_inputs = spikes.shape
    flat = (spikes.detach().reshape(-1, num_inputs) != 0).to(torch.uint8).cpu()
    capacity = max(1, int(flat.sum(1).max())) if flat.numel() else 1
    indices = torch.zeros(flat.shape[0], capacity, dtype=index_dtype(num_inputs))
    counts = torch.empty(flat.shape[0], dtype=torch.int32)
    _dense_to_events(flat.numpy(), indices.numpy(), counts.numpy())
    return SpikeEvents.on_only(indices.reshape(num_steps, batch_size, capacity),
                               counts.reshape(num_steps, batch_size), num_inputs)
