"""The stripe runner: every pixel exactly once, on more than one thread, errors surface."""

import threading

import numba
import numpy as np
import pytest

from bgsub.models import stripes


@pytest.mark.parametrize("n_pixels", [1, stripes.MIN_STRIPE, 2 * 1920 * 1080 + 7])
@pytest.mark.parametrize("threads", [1, 2, 4])
def test_stripes_cover_the_pixels_once_in_order(n_pixels, threads):
    bounds = stripes.stripes(n_pixels, threads)
    assert bounds[0][0] == 0 and bounds[-1][1] == n_pixels
    assert all(stop == start for (_, stop), (start, _) in zip(bounds, bounds[1:]))
    assert all(stop - start >= stripes.MIN_STRIPE for start, stop in bounds[:-1])
    assert len(bounds) <= max(1, threads * stripes.STRIPES_PER_THREAD)


def _run_with_threads(threads, n_pixels, kernel, *args):
    saved = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        stripes.run(kernel, n_pixels, *args)
    finally:
        numba.set_num_threads(saved)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_run_covers_every_pixel_once_and_passes_the_arguments():
    counts = np.zeros(20 * stripes.MIN_STRIPE, np.int64)
    seen = set()

    def kernel(start, stop, target, step):
        seen.add(threading.get_ident())
        target[start:stop] += step

    _run_with_threads(2, len(counts), kernel, counts, 1)
    assert (counts == 1).all()
    assert threading.get_ident() in seen  # the caller works too


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_an_error_in_a_stripe_reaches_the_caller():
    def kernel(start, stop):
        if start > 0:
            raise ValueError(f"stripe at {start}")

    with pytest.raises(ValueError, match="stripe at"):
        _run_with_threads(2, 10 * stripes.MIN_STRIPE, kernel)
