"""spikekit.allocator: after ``keep_large_buffers`` for a step above glibc's mmap cap, a buffer above the cap comes from
the heap and stays there; for a step below it, glibc's default holds."""

import ctypes
import ctypes.util
import subprocess
import sys

import pytest

_PROBE = """
import ctypes, ctypes.util, sys
import torch
from spikekit.allocator import keep_freed_memory, keep_large_buffers
from spikekit.memory import largest_buffer_bytes

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = MallInfo2
keep_freed_memory()
steps = {"none": 0, "T=784": 784, "T=100": 100}[sys.argv[1]]
step = largest_buffer_bytes("64ra-256ra-10", (1,), steps, 128) if steps else 0
tuned = keep_large_buffers(step)
before = libc.mallinfo2().arena
buffer = torch.empty(80 << 20, dtype=torch.uint8)  # 80 MiB: above the 32 MiB cap of the mmap threshold
mapped = libc.mallinfo2().hblkhd  # bytes in blocks served by their own mmap
del buffer
kept = libc.mallinfo2().arena - before  # what the main heap grew by and still holds after the free
print(int(tuned), mapped >> 20, kept >> 20)
"""


def _has_mallinfo2() -> bool:
    name = ctypes.util.find_library("c")
    return name is not None and hasattr(ctypes.CDLL(name), "mallinfo2")


@pytest.mark.skipif(not _has_mallinfo2(), reason="needs glibc >= 2.33 (mallinfo2)")
@pytest.mark.parametrize("step", ["none", "T=784", "T=100"])
def test_large_buffers_stay_in_the_heap_only_for_steps_above_the_cap(step):
    result = subprocess.run([sys.executable, "-c", _PROBE, step], capture_output=True, text=True, check=True)
    took_effect, mapped_mib, kept_mib = map(int, result.stdout.split())
    # 784 x 128 x 2 x 256 float32 = 205 MB (a recurrent ALIF layer's saved rows on S-MNIST); T=100: 26 MB
    assert took_effect == (step == "T=784")
    if took_effect:  # served by the main heap, which keeps it (trim threshold 1 GiB) for the next step
        assert mapped_mib < 16 and kept_mib >= 64  # (free space the heap had before covers the rest)
    else:  # glibc's default: its own mapping, returned to the OS on free
        assert mapped_mib >= 80 and kept_mib < 16
