"""Arrays whose views are made without reference counting, for the kernels' innermost loops.

Every view a numba kernel makes (``saved[t, b]``, ``state[b]``, a row function's ``consts[0]``) carries the
meminfo of the array it came from, and numba adds one to that meminfo's reference count when the view is made
and takes one away when it is dropped: a call to ``NRT_incref`` / ``NRT_decref`` each, an atomic add inside.
Inside the per-(step, sample) loops of the generic kernels that is about twenty such calls per row (the ALIF
forward step alone makes nine views: five constant rows, two state rows, two saved rows), and for an array
passed in from Python, whose single meminfo both threads update, each atomic add moves a cache line between
the cores.

``borrowed(array)`` is ``array`` (data, shape, strides, dtype) with no meminfo and no parent object: views
made from it carry none, and numba's reference counting of them is a test for null. A kernel borrows its
arrays once per thread, before its loops. Safe because the kernel itself holds every owner (its arguments and
the thread's allocations) until it returns, so no borrowed view can outlive the memory it points into; a
borrowed array must not be returned or stored. An array the thread allocates itself is freed by numba after
its last use, which the borrowing is: the kernel calls ``held(owner)`` after its loops to keep it until then.
"""

from __future__ import annotations

from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic


@intrinsic
def borrowed(typingctx, array):
    """``array`` without its meminfo (module docstring): same data, shape and strides."""
    if not isinstance(array, types.Array):
        raise TypingError(f"borrowed: expected an array, got {array}")

    def codegen(context, builder, signature, args):
        view = context.make_array(signature.args[0])(context, builder, value=args[0])
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()

    return array(array), codegen


@intrinsic
def held(typingctx, array):
    """Nothing, done with ``array``: called after the loops that use a borrowed view of an array the thread
    allocated, so that numba, which frees an array after its last use, keeps the owner until then."""
    if not isinstance(array, types.Array):
        raise TypingError(f"held: expected an array, got {array}")

    def codegen(context, builder, signature, args):
        return context.get_dummy_value()

    return types.void(array), codegen
