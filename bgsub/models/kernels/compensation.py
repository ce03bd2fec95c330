"""The compensations before the mixture kernel: the samples from which exposure's gain is
estimated, and its scaling of a frame, per channel, as a table lookup; the reduced gray images
and the misfit counts from which shake is estimated.
Each replaces NumPy or OpenCV calls whose results it reproduces exactly, at a fraction of the
cost (``benchmarks/stages.py``)."""

import functools

import numpy as np

from bgsub.models import numba_cache

numba_cache.configure()

from numba import njit  # noqa: E402  (the cache directory is chosen before numba loads)

from bgsub.models.kernels.hints import _prefetch  # noqa: E402
from bgsub.models.kernels.layout import BACKGROUND, MEAN, _u  # noqa: E402

GAIN_PREFETCH = 8  # samples ahead whose pixel, state and label are asked for


@njit(cache=True, nogil=True)
def gain_samples(pixels, top, labels, stride, ratios, usable):
    """The exposure estimate's samples, pixels ``0, stride, 2 stride, ...``: ``usable[c, k]``
    when sample ``k`` was background (``labels``) and its channel ``c`` is neither black nor
    saturated and its top component's mean ``mu`` (``top`` the (N, 2 + C) top-ranked plane) is
    at least 1, and then ``ratios[c, k] = x / mu`` in float32 (1 where not usable). The same
    values as NumPy's strided slices give; the samples lie 500 pixels apart at 1080p, a cache
    miss each in the frame, the state and the labels, so they are asked for ahead.
    """
    n_channels = pixels.shape[1]
    count = ratios.shape[1]
    for k in range(count):
        ahead = _u(min(k + GAIN_PREFETCH, count - 1)) * _u(stride)
        _prefetch(pixels[ahead], _u(0))
        _prefetch(top[ahead], _u(MEAN))
        _prefetch(labels, ahead)
        i = _u(k) * _u(stride)
        background = labels[i] == BACKGROUND
        for c in range(n_channels):
            x = np.float32(pixels[i, c])
            mu = top[i, MEAN + c]
            ok = background and x > 0 and x < 255 and mu >= 1
            usable[c, k] = ok
            ratios[c, k] = x / mu if ok else np.float32(1.0)


@functools.cache
def level_kernel(n_channels):
    """The table lookup for frames of ``n_channels`` channels (compiled once per count, so that
    the channel loop unrolls).

    ``apply(start, stop, pixels, table, out)`` sets ``out[i, c] = table[c, pixels[i, c]]`` for
    pixels ``start .. stop - 1``: ``pixels`` and ``out`` are the frame's N * C uint8 values,
    ``table`` the C * 256 uint8 levels of each channel, scaled. A lookup costs less than
    half of converting, multiplying and rounding every value of the frame (OpenCV's own
    ``cv2.LUT`` with a three-channel table costs as much as that).
    """
    channels = _u(n_channels)

    @njit(cache=True, nogil=True)
    def scale_levels(start, stop, pixels, table, out):
        for i in range(start, stop):
            o = _u(i) * channels
            for c in range(n_channels):
                k = o + _u(c)
                out[k] = table[_u(c) * _u(256) + _u(pixels[k])]

    return scale_levels


@njit(cache=True, nogil=True)
def grid_mean(image, step, out):
    """``out[r, c]``: the mean over the channels of ``image[r * step, c * step]`` (``image`` H x W
    x C, any number type; ``out`` float32), as NumPy's ``image[::step, ::step].mean(axis=2,
    dtype=np.float32)`` computes it: summed in float32 in channel order, divided in float64.
    NumPy spends most of its time on the strided walk; here it is a fifth as long."""
    rows, cols = out.shape
    n = image.shape[2]
    for r in range(rows):
        for c in range(cols):
            total = np.float32(0.0)
            for k in range(n):
                total += np.float32(image[r * step, c * step, k])
            out[r, c] = np.float32(np.float64(total) / n)


@njit(cache=True, nogil=True)
def grid_misfits(image, means, variances, margin, step, dy, dx, bound2):
    """How many points ``(r, c)`` of the grid ``margin .. H - margin - 1`` by ``step`` (rows and
    columns) lie beyond the threshold of the component moved by ``(dx, dy)``:
    ``|x - mu|^2 > bound2 * var`` with ``x = image[r, c]``, ``mu = means[r - dy, c - dx]`` and
    ``var = variances[r - dy, c - dx]`` (``|dx|, |dy| <= margin``). In float32, as NumPy computes
    it on the float32 grid: differences squared, summed in channel order."""
    height, width = image.shape[:2]
    bound = np.float32(bound2)
    count = 0
    for r in range(margin, height - margin, step):
        for c in range(margin, width - margin, step):
            d2 = np.float32(0.0)
            for k in range(image.shape[2]):
                d = np.float32(image[r, c, k]) - means[r - dy, c - dx, k]
                d2 += d * d
            if d2 > bound * variances[r - dy, c - dx]:
                count += 1
    return count
