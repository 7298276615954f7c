"""Vectorised selection: keep the entries that pass a test, 16 at a time (the Poisson sampler's levels, the
neurons that fired, a row's nonzeros).

Writing a row's spike events means keeping, out of ~150 active pixels, the ~21 whose 16-bit uniform
``u`` passes the pixel's level ``L`` (``u < L``: the pixel spikes; ``u >= L``: a default pixel stays
silent); the sampler's setup likewise keeps an image's pixels by level. A scalar loop visits every
entry (branch-free: always write, advance on a hit) and was most of the sampler's time. These test
16 entries at once and store the kept ones packed (``_compress_store``): measured 69 -> 21 ns per
148-pixel row against a scalar loop on an Intel host.

How they are packed depends on the CPU. LLVM's ``masked.compressstore`` becomes one AVX-512
``vpcompressw``/``vpcompressd`` with a memory operand, fast on Intel but microcoded on AMD Zen 4, where
it measured ~40 ns a call: the sampler's setup for a batch of 128 MNIST images took 0.49 ms in
``select_levels`` alone, and the selection was most of the sampler's time. Where the CPU has AVX-512
(``vpcompressw`` needs VBMI2), the entries are instead compressed within a register and written with a
masked store of the first ``kept`` lanes: the same bytes written, 0.49 -> 0.03 ms for that setup on Zen 4.
Elsewhere ``masked.compressstore`` stays, which LLVM expands into plain code with the same result.

numba has no vector types, so these are ``intrinsic``s that emit the LLVM IR themselves. Both read 16
entries from ``start`` whatever ``count`` is (the caller pads its arrays with LANES - 1 entries), mask
the lanes at or past ``count``, write only the kept entries, and return how many they kept.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

LANES = 16  # entries tested per call

_I32 = ir.IntType(32)
_I32_VECTOR = ir.VectorType(_I32, LANES)
_MASK = ir.VectorType(ir.IntType(1), LANES)


class _Arrays:
    """Element pointers and 16-lane loads of an intrinsic's array arguments."""

    def __init__(self, context, builder, signature, args) -> None:
        self.context, self.builder, self.signature, self.args = context, builder, signature, args

    def pointer(self, position: int, offset):
        array = self.context.make_array(self.signature.args[position])(self.context, self.builder, self.args[position])
        return self.builder.gep(array.data, [offset])

    def load(self, position: int, offset):
        element = self.context.get_value_type(self.signature.args[position].dtype)
        vector = ir.VectorType(element, LANES)
        address = self.builder.bitcast(self.pointer(position, offset), vector.as_pointer())
        return self.builder.load(address, typ=vector, align=element.width // 8)


def _broadcast(builder, value):
    """``value`` (an integer, non-negative, below 2**31) in all 16 lanes of an i32 vector."""
    if value.type.width > 32:
        value = builder.trunc(value, _I32)
    elif value.type.width < 32:
        value = builder.zext(value, _I32)
    undefined = ir.Constant(_I32_VECTOR, ir.Undefined)
    first = builder.insert_element(undefined, value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(first, undefined, ir.Constant(_I32_VECTOR, [0] * LANES))


def _lanes_before(builder, count):
    """The mask of lanes l < count."""
    return builder.icmp_signed("<", ir.Constant(_I32_VECTOR, list(range(LANES))), _broadcast(builder, count))


def _register_compress(context, element_width: int) -> bool:
    """Whether the target compiles AVX-512's compress into a register for elements of this width."""
    features = set(getattr(context.codegen(), "_tm_features", "").split(","))
    return "+avx512f" in features and (element_width == 32 or (element_width == 16 and "+avx512vbmi2" in features))


def _compress_store(context, builder, vector, pointer, mask, kept) -> None:
    """Store the lanes of ``vector`` where ``mask`` is set, in order, packed from ``pointer`` on; nothing else
    is written (see the module docstring for the two forms). ``kept``: the mask's popcount (``_popcount``)."""
    if isinstance(vector.type.element, (ir.FloatType, ir.DoubleType)):  # compressed as integers of its width
        width = 32 if isinstance(vector.type.element, ir.FloatType) else 64
        vector = builder.bitcast(vector, ir.VectorType(ir.IntType(width), LANES))
    element = vector.type.element
    if not _register_compress(context, element.width):
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [vector.type, element.as_pointer(), _MASK]),
            f"llvm.masked.compressstore.v{LANES}i{element.width}")
        builder.call(function, [vector, builder.bitcast(pointer, element.as_pointer()), mask])
        return
    compress = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vector.type, [vector.type, vector.type, _MASK]),
        f"llvm.x86.avx512.mask.compress.v{LANES}i{element.width}")
    packed = builder.call(compress, [vector, ir.Constant(vector.type, ir.Undefined), mask])
    first_kept = _lanes_before(builder, kept)
    store = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [vector.type, vector.type.as_pointer(), _I32, _MASK]),
        f"llvm.masked.store.v{LANES}i{element.width}.p0")
    builder.call(store, [packed, builder.bitcast(pointer, vector.type.as_pointer()),
                         ir.Constant(_I32, element.width // 8), first_kept])


def _popcount(builder, mask):
    bits = ir.IntType(LANES)
    function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(bits, [bits]), f"llvm.ctpop.i{LANES}")
    return builder.zext(builder.call(function, [builder.bitcast(mask, bits)]), ir.IntType(64))


def _masked_load(context, builder, arrays, position, start, inside):
    """Lanes ``inside`` of array ``position`` from ``start`` (float32 or float64); the others are not read."""
    dtype = arrays.signature.args[position].dtype
    element, bits = context.get_value_type(dtype), dtype.bitwidth
    vector = ir.VectorType(element, LANES)
    load = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vector, [vector.as_pointer(), _I32, _MASK, vector]),
        f"llvm.masked.load.v{LANES}f{bits}.p0")
    return builder.call(load, [builder.bitcast(arrays.pointer(position, start), vector.as_pointer()),
                               ir.Constant(_I32, bits // 8), inside, ir.Constant(vector, None)])


@intrinsic
def select_lanes(typingctx, out, out_start, pixels, uniforms, levels, start, count, silent):
    """Store from ``out[out_start]`` on, in order, the ``pixels[start + l]`` (l < min(count, 16)) whose
    ``uniforms[start + l] >= levels[start + l]`` if ``silent`` else ``<``; return how many.

    Types: out and pixels 1-D arrays of one integer type (int16 or int32); uniforms uint16; levels
    uint32; the others integers, silent a boolean.
    """
    sig = types.int64(out, out_start, pixels, uniforms, levels, start, count, silent)

    def codegen(context, builder, signature, args):
        arrays = _Arrays(context, builder, signature, args)
        out_start_value, start_value, count_value, silent_value = args[1], args[5], args[6], args[7]
        uniforms_vector = builder.zext(arrays.load(3, start_value), _I32_VECTOR)
        levels_vector = arrays.load(4, start_value)
        silent_bit = builder.icmp_unsigned("!=", silent_value, ir.Constant(silent_value.type, 0))
        test = builder.select(silent_bit, builder.icmp_unsigned(">=", uniforms_vector, levels_vector),
                              builder.icmp_unsigned("<", uniforms_vector, levels_vector))
        mask = builder.and_(test, _lanes_before(builder, count_value))
        kept = _popcount(builder, mask)
        _compress_store(context, builder, arrays.load(2, start_value), arrays.pointer(0, out_start_value), mask,
                        kept)
        return kept

    return sig, codegen


@intrinsic
def select_levels(typingctx, out_pixels, out_levels, out_start, levels, start, count, low, high):
    """Store from ``out_start`` on, in order, the ``start + l`` (l < min(count, 16)) whose level
    ``levels[start + l]`` lies in [low, high) into ``out_pixels`` and that level into ``out_levels``;
    return how many.

    Types: out_pixels a 1-D int16 or int32 array; out_levels and levels uint32; the others integers.
    """
    sig = types.int64(out_pixels, out_levels, out_start, levels, start, count, low, high)

    def codegen(context, builder, signature, args):
        arrays = _Arrays(context, builder, signature, args)
        out_start_value, start_value, count_value, low_value, high_value = args[2], args[4], args[5], args[6], args[7]
        levels_vector = arrays.load(3, start_value)
        inside = builder.and_(builder.icmp_unsigned(">=", levels_vector, _broadcast(builder, low_value)),
                              builder.icmp_unsigned("<", levels_vector, _broadcast(builder, high_value)))
        mask = builder.and_(inside, _lanes_before(builder, count_value))
        lane = ir.Constant(_I32_VECTOR, list(range(LANES)))
        pixels = builder.add(_broadcast(builder, start_value), lane)
        index_type = context.get_value_type(signature.args[0].dtype)
        if index_type.width < 32:
            pixels = builder.trunc(pixels, ir.VectorType(index_type, LANES))
        kept = _popcount(builder, mask)
        _compress_store(context, builder, pixels, arrays.pointer(0, out_start_value), mask, kept)
        _compress_store(context, builder, levels_vector, arrays.pointer(1, out_start_value), mask, kept)
        return kept

    return sig, codegen


@intrinsic
def select_fired(typingctx, out, out_start, pre, start, count, threshold):
    """Store from ``out[out_start]`` on, in order, the indices ``start + l`` (l < min(count, 16)) with
    ``pre[start + l] - threshold >= 0`` (the neurons that fired, as ``lif_fused.charge_and_fire_row``
    decides); return how many. Lanes at or past ``count`` are not read.

    Types: out a 1-D int32 array; pre a 1-D float32 or float64 array; threshold of pre's dtype; the
    others integers.
    """
    sig = types.int64(out, out_start, pre, start, count, threshold)

    def codegen(context, builder, signature, args):
        arrays = _Arrays(context, builder, signature, args)
        out_start_value, start_value, count_value = args[1], args[3], args[4]
        dtype = signature.args[2].dtype
        threshold_value = context.cast(builder, args[5], signature.args[5], dtype)
        vector = ir.VectorType(context.get_value_type(dtype), LANES)
        inside = _lanes_before(builder, count_value)
        values = _masked_load(context, builder, arrays, 2, start_value, inside)
        undefined = ir.Constant(vector, ir.Undefined)
        threshold_vector = builder.shuffle_vector(
            builder.insert_element(undefined, threshold_value, ir.Constant(_I32, 0)), undefined,
            ir.Constant(_I32_VECTOR, [0] * LANES))
        fired = builder.fcmp_ordered(">=", builder.fsub(values, threshold_vector), ir.Constant(vector, None))
        mask = builder.and_(fired, inside)
        indices = builder.add(_broadcast(builder, start_value), ir.Constant(_I32_VECTOR, list(range(LANES))))
        kept = _popcount(builder, mask)
        _compress_store(context, builder, indices, arrays.pointer(0, out_start_value), mask, kept)
        return kept

    return sig, codegen


@intrinsic
def select_nonzero(typingctx, out_indices, out_values, out_start, row, start, count):
    """Store from ``out_start`` on, in order, the indices ``start + l`` (l < min(count, 16)) with
    ``row[start + l] != 0`` (NaN included, -0.0 not: Python's test) into ``out_indices`` and those entries into
    ``out_values``; return how many. Lanes at or past ``count`` are not read.

    Types: out_indices a 1-D int32 array; row and out_values 1-D arrays of one float dtype (float32, float64);
    the others integers.
    """
    if not (isinstance(row, types.Array) and row.layout == "C"):  # lanes are read as consecutive elements
        raise numba.errors.TypingError("select_nonzero: row must be a C-contiguous array")
    sig = types.int64(out_indices, out_values, out_start, row, start, count)

    def codegen(context, builder, signature, args):
        arrays = _Arrays(context, builder, signature, args)
        out_start_value, start_value, count_value = args[2], args[4], args[5]
        inside = _lanes_before(builder, count_value)
        values = _masked_load(context, builder, arrays, 3, start_value, inside)
        mask = builder.and_(builder.fcmp_unordered("!=", values, ir.Constant(values.type, None)), inside)
        indices = builder.add(_broadcast(builder, start_value), ir.Constant(_I32_VECTOR, list(range(LANES))))
        kept = _popcount(builder, mask)
        _compress_store(context, builder, indices, arrays.pointer(0, out_start_value), mask, kept)
        _compress_store(context, builder, values, arrays.pointer(1, out_start_value), mask, kept)
        return kept

    return sig, codegen


@numba.njit(inline="always")
def fired_indices(pre, threshold, out):
    """Indices j with pre[j] - threshold >= 0 into the front of ``out`` (int32 [N]), in order; returns their
    number. With spikes (0 or 1) and 0.5: the neurons that spiked. ``select_fired`` 16 at a time: a scalar loop
    (branch-free) cost ~5% of a training step of the seed network."""
    count = 0
    for start in range(0, pre.shape[0], LANES):
        count += select_fired(out, count, pre, start, pre.shape[0] - start, threshold)
    return count


@numba.njit(inline="always")
def nonzeros(row, indices, values):
    """The nonzeros of ``row`` into the front of indices (int32) and values, in order; returns their number and
    whether they all equal the first (spikes, spikes after dropout: one value). ``select_nonzero`` 16 at a time,
    where a scalar loop (branch-free: always write, advance on a nonzero) visits and writes every entry."""
    count = 0
    for start in range(0, row.shape[0], LANES):
        count += select_nonzero(indices, values, count, row, start, row.shape[0] - start)
    same = True
    for k in range(1, count):
        same &= values[k] == values[0]
    return count, same
