"""Small ``@njit`` helpers on one mixture component or one pixel's ranked components, from which
the mixture kernel is composed (each inlined)."""

import numpy as np

from bgsub.models import numba_cache

numba_cache.configure()

from numba import njit  # noqa: E402  (the cache directory is chosen before numba loads)

from bgsub.models.kernels.layout import MEAN, VARIANCE, _u  # noqa: E402


@njit(inline="always")
def _channels(array, o, n_channels):
    """``array[o : o + n_channels]`` as four float32 locals (channels past ``n_channels`` read 0).

    Pixels and means live in registers this way: Numba cannot tell LLVM that the frame and the
    state never overlap, so values read through the arrays would be read again after every store.
    """
    zero = np.float32(0.0)
    v0 = np.float32(array[o])
    v1 = np.float32(array[o + _u(1)]) if n_channels > 1 else zero
    v2 = np.float32(array[o + _u(2)]) if n_channels > 2 else zero
    v3 = np.float32(array[o + _u(3)]) if n_channels > 3 else zero
    return v0, v1, v2, v3


@njit(inline="always")
def _distance2(x, mu, n_channels):
    """``|x - mu|^2``, summed in channel order from 0 (the reference's float32 rounding)."""
    d2 = np.float32(0.0)
    d = x[0] - mu[0]
    d2 += d * d
    if n_channels > 1:
        d = x[1] - mu[1]
        d2 += d * d
    if n_channels > 2:
        d = x[2] - mu[2]
        d2 += d * d
    if n_channels > 3:
        d = x[3] - mu[3]
        d2 += d * d
    return d2


@njit(inline="always")
def _top_component(frame, mixture, p, slots, decay, prune, n_channels):
    """Pixel ``p``'s colour and its top-ranked component with its weight decayed:
    ``(x, w, var, mu, |x - mu|^2)``."""
    first = p * slots
    x = _channels(frame, p * _u(n_channels), n_channels)
    w = mixture[first] * decay + prune
    var = mixture[first + _u(VARIANCE)]
    mu = _channels(mixture, first + _u(MEAN), n_channels)
    return x, w, var, mu, _distance2(x, mu, n_channels)


@njit(inline="always")
def _rho(a, w):
    # A component whose weight had decayed below alpha would overshoot the pixel with alpha / w.
    return a / w if w > a else np.float32(1.0)


@njit(inline="always")
def _learned(mu, var, x, d2, rho, inv_c, lo, hi, n_channels):
    """A matched component's new ``(mu, var)``: ``mu += rho (x - mu)`` and
    ``var += rho (d2 / C - var)`` clamped to ``[lo, hi]``."""
    mu0 = mu[0] + rho * (x[0] - mu[0])
    mu1 = mu[1] + rho * (x[1] - mu[1]) if n_channels > 1 else mu[1]
    mu2 = mu[2] + rho * (x[2] - mu[2]) if n_channels > 2 else mu[2]
    mu3 = mu[3] + rho * (x[3] - mu[3]) if n_channels > 3 else mu[3]
    var = var + rho * (d2 * inv_c - var)
    var = var if var > lo else lo
    var = var if var < hi else hi
    return (mu0, mu1, mu2, mu3), var


@njit(inline="always")
def _learn(mixture, o, mu, var, x, d2, rho, inv_c, lo, hi, n_channels):
    """The matched component at ``o`` learns (:func:`_learned`); returns the new variance."""
    mu, var = _learned(mu, var, x, d2, rho, inv_c, lo, hi, n_channels)
    _store_channels(mixture, o + _u(MEAN), mu, n_channels)
    mixture[o + _u(VARIANCE)] = var
    return var


@njit(inline="always")
def _store_channels(mixture, o, x, n_channels):
    mixture[o] = x[0]
    if n_channels > 1:
        mixture[o + _u(1)] = x[1]
    if n_channels > 2:
        mixture[o + _u(2)] = x[2]
    if n_channels > 3:
        mixture[o + _u(3)] = x[3]


@njit(inline="always")
def _rank_key(w, var):
    # Components are ranked by w / sigma; compare w^2 / var to avoid a square root.
    return w * w / var


@njit(inline="always")
def _stored_key(mixture, o):
    return _rank_key(mixture[o], mixture[o + _u(VARIANCE)])


@njit(inline="always")
def _swap(mixture, o1, o2, n_slots):
    for s in range(n_slots):
        k = _u(s)
        tmp = mixture[o1 + k]
        mixture[o1 + k] = mixture[o2 + k]
        mixture[o2 + k] = tmp


@njit(inline="always")
def _rerank(mixture, o, m, n, step, n_slots):
    """Move the component at rank ``m`` (offset ``o``) to its place by ``w / sigma``."""
    while m > 0 and _stored_key(mixture, o) > _stored_key(mixture, o - step):
        _swap(mixture, o, o - step, n_slots)
        m -= _u(1)
        o -= step
    while m + _u(1) < n and _stored_key(mixture, o) < _stored_key(mixture, o + step):
        _swap(mixture, o, o + step, n_slots)
        m += _u(1)
        o += step


@njit(inline="always")
def _is_shadow(x, mixture, o, step, n, n_channels, threshold2, background_ratio, tau):
    """A darker copy of a background component: x ~ a * mu with tau <= a <= 1.

    ``a`` (``scale``) is the brightness distortion that best fits x to mu (least squares); the remaining
    chromaticity distortion must stay within the threshold, scaled by a^2 as the variance is.
    ``o`` is the offset of the pixel's first component, ``step`` the distance between ranks.
    """
    cumulative = np.float32(0.0)
    for _ in range(n):
        if cumulative >= background_ratio:
            break
        mu = _channels(mixture, o + _u(MEAN), n_channels)
        dot = np.float32(0.0)
        norm2 = np.float32(0.0)
        for c in range(n_channels):
            dot += x[c] * mu[c]
            norm2 += mu[c] * mu[c]
        if norm2 > 0:
            scale = dot / norm2
            if tau <= scale <= 1:
                dist2 = np.float32(0.0)
                for c in range(n_channels):
                    diff = x[c] - scale * mu[c]
                    dist2 += diff * diff
                if dist2 < threshold2 * mixture[o + _u(VARIANCE)] * scale * scale:
                    return True
        cumulative += mixture[o]
        o += step
    return False


@njit(inline="always")
def _still_counted(count, held):
    """A still count after one more frame: one more (saturating at 255) while ``held``, else 0."""
    more = count + np.uint8(1) if count < 255 else count
    return more if held else np.uint8(0)


@njit(inline="always")
def _count_still(still, p, held):
    """Pixel ``p``'s still count after one more frame (stored only where it changes)."""
    count = _still_counted(still[p], held)
    if count != still[p]:
        still[p] = count


@njit(inline="always")
def _keep(mixture, o, oa, w, n_slots):
    """Store the surviving component read at ``o`` with weight ``w`` at ``oa`` (compaction)."""
    if oa != o:
        for s in range(1, n_slots):
            mixture[oa + _u(s)] = mixture[o + _u(s)]
    mixture[oa] = w
