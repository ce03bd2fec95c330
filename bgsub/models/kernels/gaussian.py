"""The single-Gaussian kernel: running mean and variance per pixel and channel."""

import functools

import numpy as np

from bgsub.models import numba_cache

numba_cache.configure()

from numba import njit  # noqa: E402  (the cache directory is chosen before numba loads)

from bgsub.models.kernels.layout import BACKGROUND, FOREGROUND, _u  # noqa: E402


GAUSSIAN_BLOCK = 2048  # pixels per inner block of the single-Gaussian kernel (its d2 fits in L1)


@functools.cache
def gaussian_kernel(n_channels):
    """The single-Gaussian kernel compiled for ``n_channels`` channels.

    ``apply(start, stop, frame, state, mask, alpha, threshold2, var_min, var_max)`` updates
    pixels ``start .. stop - 1`` (a stripe, see :mod:`bgsub.models.stripes`) with ``frame`` the
    N * C uint8 pixels, ``state`` the flat ``[2, C, N]`` float32 planes and ``mask`` N uint8 labels.
    The pixel is foreground when ``sum_c (x_c - mu_c)^2 / var_c`` exceeds ``threshold2``. Every
    pixel then learns: ``mu += alpha (x - mu)`` and ``var += alpha ((x - mu_old)^2 - var)``,
    clamped to ``[var_min, var_max]``.
    """
    channels = n_channels

    @njit(cache=True, nogil=True, error_model="numpy")
    def gaussian_apply(start, stop, frame, state, mask, alpha, threshold2, var_min, var_max):
        n = _u(mask.shape[0])
        var_plane = _u(channels) * n
        a = np.float32(alpha)
        t2 = np.float32(threshold2)
        lo = np.float32(var_min)
        hi = np.float32(var_max)
        # Channel by channel over short blocks: each inner loop then streams a few arrays whose
        # overlap LLVM can rule out at run time, so it vectorises; d2 stays in L1 between channels.
        d2 = np.empty(GAUSSIAN_BLOCK, dtype=np.float32)
        for block in range(start, stop, GAUSSIAN_BLOCK):
            first = _u(block)
            count = _u(min(GAUSSIAN_BLOCK, stop - block))
            d2[:] = 0.0
            for c in range(channels):
                plane = _u(c) * n + first
                pixel = first * _u(channels) + _u(c)
                for k in range(count):
                    j = plane + _u(k)
                    mu = state[j]
                    var = state[var_plane + j]
                    diff = np.float32(frame[pixel + _u(k) * _u(channels)]) - mu
                    d2[k] += diff * diff / var
                    state[j] = mu + a * diff
                    var = var + a * (diff * diff - var)
                    var = var if var > lo else lo
                    state[var_plane + j] = var if var < hi else hi
            for k in range(count):
                mask[first + _u(k)] = FOREGROUND if d2[k] > t2 else BACKGROUND

    return gaussian_apply
