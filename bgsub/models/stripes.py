"""Runs a per-pixel kernel over contiguous stripes of the frame on a few threads.

Numba's ``prange`` splits the pixels evenly between its threads up front, so on a machine whose
cores also serve other processes a frame waits for the slowest thread. Here the calling thread and
its helpers take stripes from a shared counter, so whichever thread has a core does the work, and
a helper that has not started by the time the stripes run out is cancelled instead of waited for.
Costs and gains: ``benchmarks/stripes.py`` (results in ``benchmarks/RESULTS.md``).

The kernels are ``nogil`` and take ``(start, stop, *args)``: the pixel range of one stripe.
The number of threads is Numba's (``NUMBA_NUM_THREADS``, ``numba.set_num_threads``).
"""

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba

MIN_STRIPE = 16384  # pixels: work enough to dwarf the cost of dispatching a kernel call
STRIPES_PER_THREAD = 8  # enough that a thread slowed by other processes leaves little idle time

_pool = None
_pool_lock = threading.Lock()


def _forget_pool():
    # A forked child inherits the pool object but not its threads.
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _executor():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(numba.config.NUMBA_NUM_THREADS - 1, 1),
                thread_name_prefix="bgsub-kernel",
            )
        return _pool


def stripes(n_pixels, threads):
    """``(start, stop)`` pixel ranges covering ``0 .. n_pixels``, about
    ``STRIPES_PER_THREAD`` per thread and none shorter than ``MIN_STRIPE`` (but the last)."""
    size = max(MIN_STRIPE, -(-n_pixels // (threads * STRIPES_PER_THREAD)))
    return [(start, min(start + size, n_pixels)) for start in range(0, n_pixels, size)]


def run(kernel, n_pixels, *args):
    """``kernel(start, stop, *args)`` for stripes covering all ``n_pixels`` pixels; returns when
    every stripe is done, raising the first error a stripe raised."""
    bounds = stripes(n_pixels, numba.get_num_threads())
    helpers = min(numba.get_num_threads(), len(bounds)) - 1
    if helpers <= 0:
        kernel(0, n_pixels, *args)
        return
    counter = itertools.count()  # next() on it is atomic under the GIL

    def work():
        for index in counter:
            if index >= len(bounds):
                return
            kernel(*bounds[index], *args)

    pool = _executor()
    futures = [pool.submit(work) for _ in range(helpers)]
    try:
        work()
    finally:
        for future in futures:
            if not future.cancel():
                future.result()
