"""A memory hint for the kernels: a cache line asked for ahead of the read that needs it."""

from bgsub.models import numba_cache

numba_cache.configure()

from llvmlite import ir  # noqa: E402  (the cache directory is chosen before numba loads)
from numba import types  # noqa: E402
from numba.core import cgutils  # noqa: E402
from numba.extending import intrinsic  # noqa: E402


@intrinsic
def _prefetch(typingctx, array, index):
    """Hint the CPU to fetch the cache line of ``array[index]`` for writing; no other effect."""

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        data = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(
            context, builder, array_type, data, [args[1]], wraparound=False
        )
        pointer = builder.bitcast(pointer, cgutils.voidptr_t)
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t, i32, i32, i32])
        prefetch = builder.module.declare_intrinsic("llvm.prefetch", [cgutils.voidptr_t], fnty)
        # write access, keep in all cache levels, data cache
        builder.call(prefetch, [pointer, i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen
