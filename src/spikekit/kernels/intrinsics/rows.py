"""The row operations of the event-driven products, with the row being summed kept in registers.

``add_rows`` sums weight rows into a row of current (one row of W^T per input spike); ``scatter_rows``
adds a row of gradient into the weight-gradient rows of the inputs that spiked. Written as numba loops
over the row's width, every row visited cost a load and a store of the row being summed (or, for the
scatter, a reload of the gradient row), plus LLVM's runtime checks that the rows do not overlap and
its loop set-up, for only 8 vectors of work when N = 128 float32: 6-8 ns per row, the same with every
row in L1, i.e. bound by instructions, not memory. Here the row kept is held in eight vector registers
(a block of 128 float32 or 64 float64; wider rows take several passes; a narrower last block uses only the
vectors it needs, the last one masked if the row ends inside it) and each row visited costs its 8 loads
(and, scattering, 8 stores) only.

Arithmetic is the loops' to the bit: the same additions, in the same order, of the same values
(``sign`` is +-1, so ``sign * x`` is exact). numba has no vector types, so these are ``intrinsic``s
that emit LLVM IR (as ``select.py``); LLVM maps the 16-lane vectors onto whatever the CPU has.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic

BLOCK = 8  # vectors (of 64 bytes) held in registers per pass over the events
_I64 = ir.IntType(64)
_I32 = ir.IntType(32)


class _Rows:
    """IR helpers of one intrinsic call: typed array access, 64-byte vectors, per-block masks."""

    def __init__(self, context, builder, signature, args) -> None:
        self.context, self.builder, self.signature, self.args = context, builder, signature, args
        self.element = context.get_value_type(signature.args[0].dtype)
        self.bits = signature.args[0].dtype.bitwidth
        self.lanes = 512 // self.bits
        self.vector = ir.VectorType(self.element, self.lanes)
        self.count = BLOCK  # vectors in the current block
        self.masks: list = []  # per vector of the block: None (whole) or the mask of its lanes inside the row

    def array(self, position: int):
        return self.context.make_array(self.signature.args[position])(self.context, self.builder, self.args[position])

    def integer(self, position: int):
        return self.context.cast(self.builder, self.args[position], self.signature.args[position], types.int64)

    def scalar(self, position: int):
        return self.context.cast(self.builder, self.args[position], self.signature.args[position],
                                 self.signature.args[0].dtype)

    def splat(self, value, vector=None):
        """``value`` in every lane of ``vector`` (by default the element vector)."""
        vector = vector or self.vector
        undefined = ir.Constant(vector, ir.Undefined)
        first = self.builder.insert_element(undefined, value, ir.Constant(_I32, 0))
        return self.builder.shuffle_vector(first, undefined, ir.Constant(ir.VectorType(_I32, vector.count),
                                                                          [0] * vector.count))

    def set_block(self, size=None, count: int = BLOCK) -> None:
        """The block's ``count`` vectors: all whole (``size`` None), or each masked to its lanes inside a
        block of ``size`` (i64, 0 < size < count * lanes) elements; a vector wholly past ``size`` gets an
        all-false mask (its loads read 0 and touch no memory, its stores write nothing)."""
        self.count, self.masks = count, [None] * count
        if size is not None:
            lanes = ir.VectorType(_I32, self.lanes)
            size = self.builder.trunc(size, _I32)
            for index in range(count):
                remaining = self.builder.sub(size, ir.Constant(_I32, index * self.lanes))
                self.masks[index] = self.builder.icmp_signed("<", ir.Constant(lanes, list(range(self.lanes))),
                                                             self.splat(remaining, lanes))

    def _address(self, pointer, index: int):
        return self.builder.bitcast(self.builder.gep(pointer, [ir.Constant(_I64, index * self.lanes)]),
                                    self.vector.as_pointer())

    def load(self, pointer, index: int):
        """Vector ``index`` of the block at element ``pointer`` (masked lanes read as 0)."""
        address = self._address(pointer, index)
        if self.masks[index] is None:
            return self.builder.load(address, typ=self.vector, align=self.bits // 8)
        function = cgutils.get_or_insert_function(
            self.builder.module,
            ir.FunctionType(self.vector, [self.vector.as_pointer(), _I32, self.masks[index].type, self.vector]),
            f"llvm.masked.load.v{self.lanes}f{self.bits}.p0")
        return self.builder.call(function, [address, ir.Constant(_I32, self.bits // 8), self.masks[index],
                                            ir.Constant(self.vector, None)])

    def store(self, value, pointer, index: int) -> None:
        address = self._address(pointer, index)
        if self.masks[index] is None:
            self.builder.store(value, address, align=self.bits // 8)
            return
        function = cgutils.get_or_insert_function(
            self.builder.module,
            ir.FunctionType(ir.VoidType(), [self.vector, self.vector.as_pointer(), _I32, self.masks[index].type]),
            f"llvm.masked.store.v{self.lanes}f{self.bits}.p0")
        self.builder.call(function, [value, address, ir.Constant(_I32, self.bits // 8), self.masks[index]])

    def row_stride(self, array) -> ir.Value:
        """Elements between consecutive rows of a 2-d C-contiguous array."""
        stride_bytes = cgutils.unpack_tuple(self.builder, array.strides)[0]
        return self.builder.sdiv(stride_bytes, ir.Constant(_I64, self.bits // 8))

    def event_row(self, events_data, weights_data, row_stride, column, k):
        """Element pointer to column ``column`` of the row numbered ``events[k]``."""
        event = self.builder.sext(self.builder.load(self.builder.gep(events_data, [k])), _I64)
        return self.builder.gep(weights_data, [self.builder.add(self.builder.mul(event, row_stride), column)])

    def for_each_block(self, width, body, block: int = BLOCK) -> None:
        """``body(column)`` for column = 0, block*lanes, ... < width: full blocks unmasked; a narrower last
        block that ends on a vector boundary with only the vectors it needs, unmasked (one body per count:
        the readout's rows, padded to whole vectors, take one; 96 float32 take 6); any other last block
        with all ``block`` vectors masked to the row (one body for every count).

        Each body is compiled at every call site, so their number is most of a kernel's compile time. A
        masked body per count as well (17 bodies, not 9) took 45 s to compile the fused readout's two
        float32 kernels against 29 s now (first training step of a process, fresh cache: 52-59 s -> 32-42
        s). The cost falls on rows that end inside a vector and need few vectors: hidden width 20 float32
        (2 vectors computed as 8) measured 1.6x the training step of a per-count body; 100 (7 as 8) the
        same; 128, 256, every whole-vector width and the padded readout rows run the code they ran before.
        The whole ones stay unmasked, since a masked store does not forward to the next load of its row,
        which stalled a scatter of 16-wide rows into the same few rows (3x). ``lanes_computed`` counts the lanes
        this computes for a width (``sparse_linear`` weighs its cost by it): a change here changes it too."""
        span = block * self.lanes
        builder = self.builder
        with cgutils.for_range_slice(builder, ir.Constant(_I64, 0), width, ir.Constant(_I64, span)) as (column, _):
            size = builder.sub(width, column)
            with builder.if_else(builder.icmp_signed(">=", size, ir.Constant(_I64, span))) as (full, ragged):
                with full:
                    self.set_block(None, block)
                    body(column)
                with ragged:
                    vectors = builder.sdiv(size, ir.Constant(_I64, self.lanes))
                    whole = builder.icmp_signed("==", builder.srem(size, ir.Constant(_I64, self.lanes)),
                                                ir.Constant(_I64, 0))
                    with builder.if_else(whole) as (unmasked, masked):
                        with unmasked:
                            for count in range(1, block):
                                with builder.if_then(builder.icmp_signed("==", vectors, ir.Constant(_I64, count))):
                                    self.set_block(None, count)
                                    body(column)
                        with masked:
                            self.set_block(size, block)
                            body(column)


def lanes_computed(width: int, itemsize: int, block: int = BLOCK) -> int:
    """The lanes ``for_each_block`` computes for a row of ``width`` elements of ``itemsize`` bytes: whole blocks,
    then a last block of the vectors it needs if it ends on a vector boundary, else ``block`` masked vectors (a
    row of 20 float32 costs 8 vectors, 128 lanes, where a GEMM's work is its 20). ``sparse_linear`` weighs its
    cost by it."""
    lanes = 64 // itemsize
    span = block * lanes
    whole, rest = divmod(width, span)
    return whole * span + (rest if rest % lanes == 0 else span)


def _check(kind: str, arrays: dict) -> None:
    for name, (array, ndim) in arrays.items():
        if not isinstance(array, types.Array) or array.ndim != ndim or array.layout != "C":
            raise TypingError(f"{kind}: {name} must be a C-contiguous {ndim}-d array, got {array}")


@intrinsic
def add_rows(typingctx, total, weight_t, events, start, stop, sign):
    """total += sign * (sum of weight_t[events[k]] for start <= k < stop), sign = +1 or -1.

    Eight rows are summed as a tree, ((w0 + w1) + (w2 + w3)) + ((w4 + w5) + (w6 + w7)), and added to
    ``total``; then four as (w0 + w1) + (w2 + w3); then one at a time. total: [N]; weight_t: [N_in, N]
    (C-contiguous, float32 or float64, as total); events: 1-d integer array.
    """
    _check("add_rows", {"total": (total, 1), "weight_t": (weight_t, 2), "events": (events, 1)})
    sig = types.void(total, weight_t, events, start, stop, sign)

    def codegen(context, builder, signature, args):
        rows = _Rows(context, builder, signature, args)
        total_array, weights, events_array = rows.array(0), rows.array(1), rows.array(2)
        row_stride = rows.row_stride(weights)
        first, last = rows.integer(3), rows.integer(4)
        sign_vector = rows.splat(rows.scalar(5))
        count = builder.sub(last, first)
        count = builder.select(builder.icmp_signed("<", count, ir.Constant(_I64, 0)), ir.Constant(_I64, 0), count)
        groups = builder.sdiv(count, ir.Constant(_I64, 8))
        after_groups = builder.add(first, builder.mul(groups, ir.Constant(_I64, 8)))
        width = cgutils.unpack_tuple(builder, total_array.shape)[0]
        sums = [cgutils.alloca_once(builder, rows.vector) for _ in range(BLOCK)]  # a block uses rows.count of them

        def tree(pointers, index):
            values = [rows.load(pointer, index) for pointer in pointers]
            while len(values) > 1:
                values = [builder.fadd(values[i], values[i + 1]) for i in range(0, len(values), 2)]
            return values[0]

        def add_group(column, k, size):
            pointers = [rows.event_row(events_array.data, weights.data, row_stride, column,
                                       builder.add(k, ir.Constant(_I64, offset))) for offset in range(size)]
            for index in range(rows.count):
                term = builder.fmul(sign_vector, tree(pointers, index))
                builder.store(builder.fadd(builder.load(sums[index]), term), sums[index])

        def block(column):
            total_pointer = builder.gep(total_array.data, [column])
            for index in range(rows.count):
                builder.store(rows.load(total_pointer, index), sums[index])
            with cgutils.for_range(builder, groups) as loop:
                add_group(column, builder.add(first, builder.mul(loop.index, ir.Constant(_I64, 8))), 8)
            k = cgutils.alloca_once_value(builder, after_groups)
            with builder.if_then(builder.icmp_signed("<=", builder.add(after_groups, ir.Constant(_I64, 4)), last)):
                add_group(column, after_groups, 4)
                builder.store(builder.add(after_groups, ir.Constant(_I64, 4)), k)
            with cgutils.for_range_slice(builder, builder.load(k), last, ir.Constant(_I64, 1)) as (index_k, _):
                add_group(column, index_k, 1)
            for index in range(rows.count):
                rows.store(builder.load(sums[index]), total_pointer, index)

        rows.for_each_block(width, block)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def scatter_rows(typingctx, target, events, start, stop, values, sign):
    """target[events[k]] += sign * values for start <= k < stop (events distinct), sign = +1 or -1.

    target: [N_in, N] (C-contiguous, float32 or float64); values: [N], the same dtype; events: 1-d integers.
    """
    _check("scatter_rows", {"target": (target, 2), "events": (events, 1), "values": (values, 1)})
    sig = types.void(target, events, start, stop, values, sign)

    def codegen(context, builder, signature, args):
        rows = _Rows(context, builder, signature, args)
        target_array, events_array, values_array = rows.array(0), rows.array(1), rows.array(4)
        row_stride = rows.row_stride(target_array)
        first, last = rows.integer(2), rows.integer(3)
        sign_vector = rows.splat(rows.scalar(5))
        width = cgutils.unpack_tuple(builder, target_array.shape)[1]

        def block(column):
            values_pointer = builder.gep(values_array.data, [column])
            signed = [builder.fmul(sign_vector, rows.load(values_pointer, index)) for index in range(rows.count)]
            with cgutils.for_range_slice(builder, first, last, ir.Constant(_I64, 1)) as (k, _):
                row = rows.event_row(events_array.data, target_array.data, row_stride, column, k)
                for index in range(rows.count):
                    rows.store(builder.fadd(rows.load(row, index), signed[index]), row, index)

        rows.for_each_block(width, block)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def weighted_rows(typingctx, total, rows, weights):
    """total = sum over k (in order) of weights[k] * rows[k], starting from 0 (multiply, then add).

    total: [N]; rows: [K, N] (C-contiguous, float32 or float64, as total); weights: 1-d, the same dtype,
    at least K long. The readout's g_S = W2^T g_I2 (``event_readout``): as a numba loop over k, each of
    the K passes over the row paid its own load and store of ``total`` and LLVM's overlap checks.
    """
    _check("weighted_rows", {"total": (total, 1), "rows": (rows, 2), "weights": (weights, 1)})
    sig = types.void(total, rows, weights)

    def codegen(context, builder, signature, args):
        helper = _Rows(context, builder, signature, args)
        total_array, rows_array, weights_array = helper.array(0), helper.array(1), helper.array(2)
        row_stride = helper.row_stride(rows_array)
        num_rows = cgutils.unpack_tuple(builder, rows_array.shape)[0]
        width = cgutils.unpack_tuple(builder, total_array.shape)[0]
        sums = [cgutils.alloca_once(builder, helper.vector) for _ in range(BLOCK)]

        def block(column):
            for index in range(helper.count):
                builder.store(ir.Constant(helper.vector, None), sums[index])
            with cgutils.for_range(builder, num_rows) as loop:
                weight = helper.splat(builder.load(builder.gep(weights_array.data, [loop.index])))
                row = builder.gep(rows_array.data, [builder.add(builder.mul(loop.index, row_stride), column)])
                for index in range(helper.count):
                    term = builder.fmul(weight, helper.load(row, index))
                    builder.store(builder.fadd(builder.load(sums[index]), term), sums[index])
            total_pointer = builder.gep(total_array.data, [column])
            for index in range(helper.count):
                helper.store(builder.load(sums[index]), total_pointer, index)

        helper.for_each_block(width, block)
        return context.get_dummy_value()

    return sig, codegen


QUAD = 4  # weight vectors ``weighted_rows_quad`` sums for at once
QUAD_BLOCK = 4  # vectors per total it keeps in registers: 4 totals x 4 = 16 accumulators


@intrinsic
def weighted_rows_quad(typingctx, totals, rows, weights):
    """totals[r] = sum over k (in order) of weights[r, k] * rows[k] for r = 0..3, from 0, each term added with one
    fused multiply-add (``llvm.fma``: the product is not rounded before the sum): ``weighted_rows`` for four
    weight vectors at once, each row of ``rows`` loaded once for all four.

    totals: [4, N]; rows: [K, N]; weights: [4, K'] with K' >= K (C-contiguous, float32 or float64, one dtype). The
    recurrent backward's U^T g_I[t+1] for four samples (``kernels.recurrent``). Why this shape: per row k and
    block of columns, 4 loads of U feed 16 FMAs into 16 accumulators (4 totals x 4 vectors) that stay in
    registers. Measured (one thread, U 256 x 256 float32, 64 samples, Intel AVX-512): 1,481 ns a sample for the
    earlier two-sample multiply-then-add version (8 vectors a total), 1,108 with FMA, 869 for four samples with
    FMA; with AVX2 only (haswell): 3,134 -> 2,286 ns. FMA rounds once where multiply-then-add rounds twice, so
    the totals differ from ``weighted_rows``' in the last bit (the backward is compared with the reference within
    float tolerance, never to the bit). Eight samples a pass with 2 vectors each (8 x 2 accumulators, half U's
    reads per sample) measured no faster in the whole recurrent backward (2026-12-06, AVX-512, one thread, three
    alternating rounds in separate processes: 2,900 / 2,985 / 4,239 ns a sample-step for 4 x 4, 3,412 / 3,188 /
    4,274 for 8 x 2, 3,521 / 4,446 / 4,716 for 8 x 1).
    """
    _check("weighted_rows_quad", {"totals": (totals, 2), "rows": (rows, 2), "weights": (weights, 2)})
    sig = types.void(totals, rows, weights)

    def codegen(context, builder, signature, args):
        helper = _Rows(context, builder, signature, args)
        totals_array, rows_array, weights_array = helper.array(0), helper.array(1), helper.array(2)
        row_stride, total_stride = helper.row_stride(rows_array), helper.row_stride(totals_array)
        weight_stride = helper.row_stride(weights_array)
        num_rows = cgutils.unpack_tuple(builder, rows_array.shape)[0]
        width = cgutils.unpack_tuple(builder, totals_array.shape)[1]
        sums = [[cgutils.alloca_once(builder, helper.vector) for _ in range(QUAD_BLOCK)] for _ in range(QUAD)]
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(helper.vector, [helper.vector] * 3),
                                             f"llvm.fma.v{helper.lanes}f{helper.bits}")

        def block(column):
            for r in range(QUAD):
                for index in range(helper.count):
                    builder.store(ir.Constant(helper.vector, None), sums[r][index])
            with cgutils.for_range(builder, num_rows) as loop:
                weight = [helper.splat(builder.load(builder.gep(weights_array.data, [builder.add(
                    builder.mul(ir.Constant(_I64, r), weight_stride), loop.index)]))) for r in range(QUAD)]
                row = builder.gep(rows_array.data, [builder.add(builder.mul(loop.index, row_stride), column)])
                for index in range(helper.count):
                    value = helper.load(row, index)
                    for r in range(QUAD):
                        builder.store(builder.call(fma, [weight[r], value, builder.load(sums[r][index])]),
                                      sums[r][index])
            for r in range(QUAD):
                total_pointer = builder.gep(totals_array.data, [
                    builder.add(builder.mul(ir.Constant(_I64, r), total_stride), column)])
                for index in range(helper.count):
                    helper.store(builder.load(sums[r][index]), total_pointer, index)

        helper.for_each_block(width, block, QUAD_BLOCK)
        return context.get_dummy_value()

    return sig, codegen
