"""Does a kernel's speed depend on where the allocator puts its memory? Times one call shape of the recurrent
layer's fused forward (``event_recurrent_layer``, 700-256ra, T=100, batch 128, no gradient) in one process, first as
it starts, then after each of a series of small allocations kept alive in numba's worker threads (which moves every
later allocation of those threads, the kernel's per-thread scratch included), and prints the medians.

    python benchmarks/placement_probe.py [--threads 2] [--sizes 5000,48,3000,...]

Found 2026-12-07 (AMD EPYC host, 2 threads): the same call on the same data took either ~3 ms or ~11-12 ms, by
the allocator's state alone (14 states: 9 slow, 5 fast; 31 random states: 13-16 slow over three seeds). It is the
worker thread's half alone: with the main thread's part skipped (a trial copy of the kernel) the worker's half took
10-12 ms in the same 13 of 31 states and 2.5 ms in the others, and with the worker's part skipped the main
thread's never exceeded 3.1 ms; one numba thread (the main one) took ~7 ms in every state. So it is where the
worker's arena puts its per-thread rows, not the threads interfering. The likely mechanism is 4K aliasing (a load
whose address matches an in-flight store's in its low 12 bits waits for it): carving the worker's per-thread arrays
all page-aligned (every 1 kB row of each at the same offsets modulo 4 kB) made its half take 19 ms, and moving only
`current` or only `fired` to another offset brought it to ~10.5; the kernel's rows are 1 kB apart, the store and
load streams of ``charge_and_fire`` and ``event_current`` run over several of them per step, and the saved and spike
rows it writes are placed by torch. Not yet found: a layout that stays fast whatever torch's placement (padding each
per-thread array by 128 bytes left 1 of 31 states slow, but its fast states were slower; page-aligned arrays at
fixed 192-byte steps: 14 of 31 slow). Not a speed claim: the probe for that fix.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
import torch
from numba.typed import List

from spikekit.allocator import keep_freed_memory
from spikekit.dynamics.alif import ALIFParams
from spikekit.kernels.event_recurrent import event_recurrent_layer
from spikekit.spike_events import events_from_dense


@numba.njit(parallel=True)
def _hold(size: int, count: int, kept) -> None:
    """Allocate ``size`` bytes in each of ``count`` parallel iterations (numba's worker threads), kept in ``kept``."""
    for index in numba.prange(count):
        kept[index] = np.empty(size, np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", default="5000,48,3000,100,200,700,1500,64,4000,10000,20000,333,2500",
                        help="bytes each worker thread allocates (and keeps) before each timing")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(256, 700, generator=generator) * 0.05, torch.zeros(256)
    recurrent = torch.randn(256, 256, generator=generator) * 0.05
    events = events_from_dense((torch.rand(100, 128, 700, generator=generator) < 0.015).float())
    params = ALIFParams()

    @torch.no_grad()
    def median_ms() -> float:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            event_recurrent_layer(events, weight, bias, recurrent, params)
            times.append(1000 * (time.perf_counter() - start))
        return statistics.median(times)

    kept = []
    print(f"start: {median_ms():.2f} ms", flush=True)
    for size in (int(size) for size in args.sizes.split(",")):
        held = List([np.empty(1, np.uint8) for _ in range(args.threads)])
        _hold(size, args.threads, held)
        kept.append(held)
        print(f"after {size} B more per thread: {median_ms():.2f} ms", flush=True)


if __name__ == "__main__":
    main()
