"""The gradient of a weight read at the neurons that spiked, gathered per neuron over a chunk of rows.

    dU^T[j] += sum over the rows r (step, sample) in which neuron j spiked of g[r]          (g: [R, N] rows)

is the recurrent weight's gradient (dU = sum over t of g_I[t+1] s[t]^T, ``event_recurrent`` and ``recurrent``).
Scattered one row at a time (``rows.scatter_rows``: dU^T[j] += g[r] for each j that spiked in row r), each spike
cost a read and a write of a row of dU^T, which at N = 256 is 256 KB per thread and lives in L2: 24 ns a row of
256 float32 (one thread, Intel AVX-512, 20% firing), 8.4 of the 18 ms backward of 700-256ra-20 (T = 100, batch
128, 2 threads). Here the rows r of a chunk are noted per neuron first (``note_fired``: the row's number appended
to each spiking neuron's list), then each neuron's rows are summed in registers and added to its row of dU^T
once (``gather_outer``: ``rows.add_rows``, a tree of eight rows at a time): the chunk's g rows are read from L1
or L2, dU^T is read and written once per neuron and chunk. Measured alone (one thread, the same 64 samples x 100
steps, 20% firing, 2026-12-07): 8.0 ms scattered against 3.9-4.1 ms gathered over chunks of 32-64 rows.

Arithmetic: the same terms, summed in another order (float rounding only): each neuron's rows of a chunk as a
tree, then added to dU^T.
"""

from __future__ import annotations

import numba

from spikekit.kernels.intrinsics.rows import add_rows

# rows a chunk notes before they are gathered: 64 rows of 256 float32 are 64 KB, read back from L1 or L2; in the
# recurrent ALIF backward of 700-256ra-20, chunks of 64 rows took 19.5-19.6 ms against 20.8 for 32 and 26.3 for
# 128 (and 21.0-24.6 scattered; 2 threads, 20% firing, alternating in one process)
CHUNK_ROWS = 64


@numba.njit(inline="always")
def note_fired(lists, counts, fired, count, row):
    """Append ``row`` to the list of each neuron in ``fired[:count]``: lists [N, capacity] (int32), counts [N]
    (each neuron's rows so far; the caller keeps them within capacity)."""
    for k in range(count):
        neuron = fired[k]
        lists[neuron, counts[neuron]] = row
        counts[neuron] += 1


@numba.njit(inline="always")
def gather_outer(accumulator, rows, lists, counts):
    """accumulator[j] += sum of rows[lists[j, :counts[j]]] for every neuron j, then counts[j] = 0.
    accumulator: [N, M] (dU^T); rows: [R, M] C-contiguous, of its dtype; lists and counts as ``note_fired``'s."""
    one = rows.dtype.type(1)
    for neuron in range(counts.shape[0]):
        if counts[neuron] > 0:
            add_rows(accumulator[neuron], rows, lists[neuron], 0, counts[neuron], one)
            counts[neuron] = 0
