"""Keep freed memory in the process: glibc's defaults hand large buffers back to the OS after each step.

A training step allocates and frees several [T*B, N] buffers of a few MB. With glibc's defaults the
heap top is trimmed (and buffers above the mmap threshold are unmapped) as soon as they are freed, so
the next step page-faults the same memory in again; profiles showed this as time inside otherwise
fast kernels. Raising the trim threshold to 1 GiB and the mmap threshold to its maximum (32 MiB)
keeps that memory mapped: measured 21.5 -> 15.3 ms per fast training step at T=100 on this machine.

Buffers above 32 MiB (glibc's cap on the mmap threshold) are still mapped afresh for every step: the saved
state of a recurrent ALIF layer over a 784-step sequence is 784 x 128 x 2 x 256 float32 = 205 MB at batch 128,
and the kernel zero-fills each of its 50,000 new pages on first touch. ``keep_large_buffers`` then has the main
heap take them too (``M_MMAP_MAX`` 0: no allocation is served by its own mmap from the main thread's arena;
glibc's other arenas still fall back to mmap when their 64 MiB heaps cannot hold a request, so no allocation
fails for it). Measured on the S-MNIST network (1-64ra-256ra-10, T=784, batch 128, 2 threads, Intel host,
2026-12-05): 435 -> 290 ms per fast training step, peak RSS 1.16 -> 1.35-1.49 GB (the reference engine's:
2.3 GB). Only then: where a step's buffers are all below the cap it gains nothing and costs memory (freed large
blocks, such as the data set's while it loads, stay in the heap): 700-256ra-20 at T=100, batch 128, peak RSS
534-559 -> 602-626 MB at the same speed. Entry points call it with their step's largest buffer
(``memory.largest_buffer_bytes``).

This is process-wide, so only entry points that own the process call it (the CLI and the benchmark,
where it applies to both engines alike); library code never does. It is a no-op where the C library
has no ``mallopt`` (macOS, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
MMAP_CAP = 32 << 20  # glibc's largest mmap threshold (64-bit): buffers above it are always mapped afresh


@functools.cache
def _mallopt():
    """The C library's ``mallopt``, or None where there is none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return None


@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc's malloc as described above; True if it took effect."""
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30)) and bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_CAP))


def keep_large_buffers(largest_bytes: int) -> bool:
    """After ``keep_freed_memory``, also keep buffers above ``MMAP_CAP`` in the heap when a step's largest buffer,
    ``largest_bytes``, is above it (module docstring); True if that took effect now or before."""
    return largest_bytes > MMAP_CAP and keep_freed_memory() and bool(_mallopt()(_M_MMAP_MAX, 0))
