"""All Numba kernels of bgsub's per-pixel models, in one place so the maths reads in one file.

Notation (after Stauffer & Grimson 1999 and Zivkovic 2004; OpenCV's ``bgfg_gaussmix2.cpp`` documents
the same symbols):

* ``x``        the pixel's colour vector (C channels, 0..255)
* ``alpha``    learning rate (alpha = 1/T for an effective history of T frames)
* ``w, mu, var``  a component's weight, mean vector and variance (spherical: one variance for all
  channels, so a colour component costs C + 2 floats)
* ``d2 = sum_c (x_c - mu_c)^2 / var``  squared Mahalanobis distance
* ``threshold2``  a pixel is background when ``d2 < threshold2`` for a background component
* ``match_threshold2``  a component *matches* (and is updated) when ``d2 < match_threshold2``
* ``background_ratio``  components ranked by ``w / sigma``; the first ones whose weights sum past
  this ratio model the background
* ``complexity_prior`` ``c_T`` of Zivkovic: every frame each weight also loses ``alpha * c_T``, so
  components that the data does not support die and K adapts per pixel

Memory layout (the kernels are bound by memory traffic and instruction count, not arithmetic):

* Frames arrive flattened to ``N * C`` uint8 (pixel-interleaved, as decoded).
* Single Gaussian: planar float32 ``state[2, C, N]`` (means, then variances, one plane per
  channel), so the pixel loop reads and writes contiguous streams and LLVM vectorises it.
* Mixture: component-major float32 ``mixture[K, N, 2 + C]``; ``mixture[m, i] = (w, var, mu_0 ..
  mu_{C-1})`` is the component of rank ``m`` of pixel ``i`` and ``n_components[i]`` counts the live
  ones (ranked first). A pixel with one live component touches only plane 0, so memory traffic
  follows the live components rather than K.

Kernels are compiled once per channel count (``gaussian_kernel(C)``, ``mixture_kernel(C)``) so the
channel loops unroll, and index with unsigned offsets, for which Numba emits no negative-index
fix-up. Both are cached on disk (see :mod:`bgsub.models.numba_cache`).

Masks hold 255 (foreground), 127 (shadow: a darker copy of a background component) or 0.
All arithmetic is float32 (scalars are cast at entry) in the operation order of the NumPy twins in
``tests/models/reference.py``, so the kernels reproduce them exactly.
"""

import functools

import numpy as np

from bgsub.models import numba_cache

numba_cache.configure()

from numba import njit, prange  # noqa: E402  (the cache directory is chosen before numba loads)

FOREGROUND = 255
SHADOW = 127
BACKGROUND = 0

# Slots of one mixture component.
WEIGHT = 0
VARIANCE = 1
MEAN = 2

_u = np.uint64  # unsigned offsets: no negative-index wraparound code on every access
_NONE = _u(255)  # "no component matched" (ranks are below 8)
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


@njit(inline="always")
def _rank_key(mixture, o):
    # Components are ranked by w / sigma; compare w^2 / var to avoid a square root.
    w = mixture[o]
    return w * w / mixture[o + _u(VARIANCE)]


@njit(inline="always")
def _swap(mixture, o1, o2, n_slots):
    for s in range(n_slots):
        k = _u(s)
        tmp = mixture[o1 + k]
        mixture[o1 + k] = mixture[o2 + k]
        mixture[o2 + k] = tmp


@njit(inline="always")
def _is_shadow(frame, fo, mixture, o, step, n, n_channels, threshold2, background_ratio, tau):
    """A darker copy of a background component: x ~ a * mu with tau <= a <= 1.

    ``a`` is the brightness distortion that best fits x to mu (least squares); the remaining
    chromaticity distortion must stay within the threshold, scaled by a^2 as the variance is.
    ``o`` is the offset of the pixel's first component, ``step`` the distance between ranks.
    """
    cumulative = np.float32(0.0)
    for _ in range(n):
        if cumulative >= background_ratio:
            break
        dot = np.float32(0.0)
        norm2 = np.float32(0.0)
        for c in range(n_channels):
            mu = mixture[o + _u(MEAN + c)]
            dot += np.float32(frame[fo + _u(c)]) * mu
            norm2 += mu * mu
        if norm2 > 0:
            a = dot / norm2
            if tau <= a <= 1:
                dist2 = np.float32(0.0)
                for c in range(n_channels):
                    diff = np.float32(frame[fo + _u(c)]) - a * mixture[o + _u(MEAN + c)]
                    dist2 += diff * diff
                if dist2 < threshold2 * mixture[o + _u(VARIANCE)] * a * a:
                    return True
        cumulative += mixture[o]
        o += step
    return False


@functools.cache
def mixture_kernel(n_channels):
    """The adaptive Gaussian mixture kernel (Zivkovic 2004, spherical covariance) for
    ``n_channels`` channels.

    ``apply(start, stop, frame, mixture, n_components, mask, alpha, threshold2,
    match_threshold2, background_ratio, complexity_prior, var_init, var_min, var_max, shadow_tau)``
    updates pixels ``start .. stop - 1`` (a stripe, see :mod:`bgsub.models.stripes`) with
    ``frame`` the N * C uint8 pixels and ``mixture`` the flat ``[K, N, 2 + C]`` float32 state.

    For each pixel, in rank order over its live components:

    1. every weight decays: ``w = (1 - alpha) w - alpha c_T``;
    2. the pixel is background when, before the first match, a component within the background
       set (cumulative weight of the higher-ranked ones below ``background_ratio``) has
       ``d2 < threshold2``;
    3. the first component with ``d2 < match_threshold2`` matches: ``w += alpha``, and with
       ``rho = alpha / w``: ``mu += rho (x - mu)``, ``var += rho (|x - mu_old|^2 / C - var)``
       clamped to ``[var_min, var_max]``; it then moves to its rank by ``w / sigma``;
    4. components whose weight fell to zero or below die (K adapts per pixel);
    5. if nothing matched (and alpha > 0), a new component ``(alpha, var_init, x)`` takes a free
       slot or replaces the lowest-ranked one; weights are renormalised to sum to 1.

    A foreground pixel is labelled SHADOW instead when ``shadow_tau > 0`` and it is a darker copy
    of a background component (tested after step 4, before step 5).

    Array views are never taken inside the pixel loop: each view costs reference counting that
    the threads would contend on.
    """
    channels = n_channels

    @njit(cache=True, nogil=True, error_model="numpy")
    def mixture_apply(
        start,
        stop,
        frame,
        mixture,
        n_components,
        mask,
        alpha,
        threshold2,
        match_threshold2,
        background_ratio,
        complexity_prior,
        var_init,
        var_min,
        var_max,
        shadow_tau,
    ):
        n_pixels = n_components.shape[0]
        n_slots = 2 + channels
        slots = _u(n_slots)
        step = _u(n_pixels) * slots  # from one rank's plane to the next
        k_max = _u(mixture.shape[0]) // step
        a = np.float32(alpha)
        decay = np.float32(1.0) - a
        prune = -a * np.float32(complexity_prior)
        t2 = np.float32(threshold2)
        g2 = np.float32(match_threshold2)
        ratio = np.float32(background_ratio)
        v0 = np.float32(var_init)
        lo = np.float32(var_min)
        hi = np.float32(var_max)
        tau = np.float32(shadow_tau)
        inv_c = np.float32(1.0 / channels)
        for i in range(start, stop):
            p = _u(i)
            fo = p * _u(channels)
            first = p * slots
            n = _u(n_components[p])
            matched = _NONE
            background = False
            cumulative = np.float32(0.0)
            total = np.float32(0.0)
            alive = _u(0)
            o = first  # component being read
            oa = first  # where the next survivor goes
            for _ in range(n):
                w = mixture[o] * decay + prune
                if matched == _NONE:
                    var = mixture[o + _u(VARIANCE)]
                    d2 = np.float32(0.0)
                    for c in range(channels):
                        diff = np.float32(frame[fo + _u(c)]) - mixture[o + _u(MEAN + c)]
                        d2 += diff * diff
                    if cumulative < ratio and d2 < t2 * var:
                        background = True
                    if d2 < g2 * var:
                        matched = alive
                        w += a
                        rho = a / w
                        for c in range(channels):
                            mu = mixture[o + _u(MEAN + c)]
                            mixture[o + _u(MEAN + c)] = mu + rho * (np.float32(frame[fo + _u(c)]) - mu)
                        var = var + rho * (d2 * inv_c - var)
                        var = var if var > lo else lo
                        mixture[o + _u(VARIANCE)] = var if var < hi else hi
                    cumulative += w
                if w > 0:
                    # Compact the survivors in place, keeping their order.
                    if oa != o:
                        for s in range(1, n_slots):
                            mixture[oa + _u(s)] = mixture[o + _u(s)]
                    mixture[oa] = w
                    total += w
                    alive += _u(1)
                    oa += step
                o += step
            n = alive
            # Label before a new component exists: the pixel must not explain itself as a shadow.
            if background:
                mask[p] = BACKGROUND
            elif tau > 0 and _is_shadow(frame, fo, mixture, first, step, n, channels, t2, ratio, tau):
                mask[p] = SHADOW
            else:
                mask[p] = FOREGROUND
            if matched == _NONE and a > 0:
                slot = n if n < k_max else k_max - _u(1)
                o = first + slot * step
                if slot < n:
                    total -= mixture[o]
                mixture[o] = a
                mixture[o + _u(VARIANCE)] = v0
                for c in range(channels):
                    mixture[o + _u(MEAN + c)] = np.float32(frame[fo + _u(c)])
                total += a
                if slot == n:
                    n += _u(1)
                matched = slot
            # Restore the rank order around the one component whose key changed.
            if matched != _NONE:
                m = matched
                o = first + m * step
                while m > 0 and _rank_key(mixture, o) > _rank_key(mixture, o - step):
                    _swap(mixture, o, o - step, n_slots)
                    m -= _u(1)
                    o -= step
                while m + _u(1) < n and _rank_key(mixture, o) < _rank_key(mixture, o + step):
                    _swap(mixture, o, o + step, n_slots)
                    m += _u(1)
                    o += step
            if total > 0:
                inv_total = np.float32(1.0) / total
                o = first
                for _ in range(n):
                    mixture[o] *= inv_total
                    o += step
            n_components[p] = n

    return mixture_apply


@njit(parallel=True, cache=True)
def mixture_background(planes, n_components, background_ratio, out):
    """Weighted mean of each pixel's background components (the learned background image).

    ``planes`` is the ``[K, N, 2 + C]`` state, ``out`` the (N, C) uint8 image.
    """
    n_pixels, n_channels = out.shape
    ratio = np.float32(background_ratio)
    for i in prange(n_pixels):
        total = np.float32(0.0)
        n_background = 0
        for m in range(n_components[i]):
            total += planes[m, i, WEIGHT]
            n_background += 1
            if total >= ratio:
                break
        for c in range(n_channels):
            acc = np.float32(0.0)
            for m in range(n_background):
                acc += planes[m, i, WEIGHT] * planes[m, i, MEAN + c]
            v = acc / total if total > 0 else np.float32(0.0)
            out[i, c] = np.uint8(min(max(v + np.float32(0.5), np.float32(0.0)), np.float32(255.0)))
