"""Flush denormal floats to zero inside a kernel's thread, and put the thread's setting back after.

A float below ~1.2e-38 (float32; ~2.2e-308 float64) is denormal, and x86 cores compute with one through a
microcode assist that costs ~100x an ordinary operation. Backward through time makes such numbers: a small
loss gradient (a well-learnt sample) is multiplied at every step by decays below 1 (``1 - 1/tau``, and
CubaLIF's synaptic ``1 - 1/tau_syn``, which no spike resets), so after tens of steps whole rows of the adjoint
are denormal. Measured: 784-128s-10 at T=100, the training step grew from 12 to 30-37 ms as the loss fell
(the adjoint itself ~4x slower). Values that small change no weight: Adam's updates, the surrogate and every
spike are the same with them at zero.

``flush_denormals()`` sets the thread's MXCSR flags FTZ (results flushed to zero) and DAZ (denormal
inputs read as zero) and returns the previous MXCSR, which ``restore_denormals`` writes back; a kernel calls
the pair around each thread's share of a parallel loop, so neither torch nor any other code on the thread
sees the change. The forward kernels do not call them: their arithmetic stays the reference's, to the bit.
On CPUs other than x86 both are no-ops (AArch64 cores handle denormals at full speed in their vector units).
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
FTZ_DAZ = 0x8040  # MXCSR bit 15: flush to zero; bit 6: denormals are zero

_I32 = ir.IntType(32)


def _mxcsr_call(builder, name: str, slot) -> None:
    function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [ir.PointerType(
        ir.IntType(8))]), name)
    builder.call(function, [builder.bitcast(slot, ir.PointerType(ir.IntType(8)))])


@intrinsic
def flush_denormals(typingctx):
    """Set FTZ and DAZ on this thread; returns the previous MXCSR (0 where not x86)."""

    def codegen(context, builder, signature, args):
        if not X86:
            return ir.Constant(_I32, 0)
        slot = cgutils.alloca_once(builder, _I32)
        _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", slot)
        previous = builder.load(slot)
        builder.store(builder.or_(previous, ir.Constant(_I32, FTZ_DAZ)), slot)
        _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return previous

    return types.uint32(), codegen


@intrinsic
def restore_denormals(typingctx, previous):
    """Write back the MXCSR that ``flush_denormals`` returned."""

    def codegen(context, builder, signature, args):
        if X86:
            slot = cgutils.alloca_once(builder, _I32)
            builder.store(args[0], slot)
            _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return context.get_dummy_value()

    return types.none(types.uint32), codegen
