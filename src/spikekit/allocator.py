"""Keep freed memory in the process: glibc's defaults hand large buffers back to the OS after each step.

A training step allocates and frees several [T*B, N] buffers of a few MB. With glibc's defaults the
heap top is trimmed (and buffers above the mmap threshold are unmapped) as soon as they are freed, so
the next step page-faults the same memory in again; profiles showed this as time inside otherwise
fast kernels. Raising the trim threshold to 1 GiB and the mmap threshold to its maximum (32 MiB)
keeps that memory mapped: measured 21.5 -> 15.3 ms per fast training step at T=100 on this machine.

Buffers above 32 MiB (glibc's cap on the mmap threshold) were still mapped afresh for every step: the saved
state of a recurrent ALIF layer over a 784-step sequence is 784 x 128 x 3 x 256 float32 = 308 MB at batch
128, and the kernel zero-fills each of its 75,000 new pages on first touch. So the main heap also takes the
largest buffers (``M_MMAP_MAX`` 0: no allocation is served by its own mmap from the main thread's arena;
glibc's other arenas still fall back to mmap when their 64 MiB heaps cannot hold a request, so no allocation
fails for it). Measured on the S-MNIST network (1-64ra-256ra-10, T=784, batch 128, 2 threads, Intel host,
2026-12-05): 435 -> 290 ms per fast training step; batch 32 (26 MB buffers, below the cap) unchanged at 70 ms.

What it costs: memory freed after the peak is kept (reused) instead of returned, and freed blocks of one
size can leave holes another size does not fit, so a process's peak resident memory can rise: 1.16 -> 1.35-
1.49 GB for that S-MNIST step (the reference engine's: 2.3 GB).

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


@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc's malloc as described above; True if it took effect."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return (bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30)) and bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20))
            and bool(mallopt(_M_MMAP_MAX, 0)))
