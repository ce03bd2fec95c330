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

State is preallocated float32, laid out per pixel so that a pixel's live components are contiguous:
``mixture[i, m] = (w, var, mu_0 .. mu_{C-1})`` for pixel ``i`` and rank ``m``, and
``n_components[i]`` counts the live ones (ranked first). Frames arrive flattened to ``(N, C)`` uint8.

Masks hold 255 (foreground), 127 (shadow: a darker copy of a background component) or 0.
All arithmetic is float32 (scalars are cast at entry) so that the NumPy twins in
``tests/models/reference.py`` reproduce it bit for bit.
"""

import numpy as np
from numba import njit, prange

FOREGROUND = 255
SHADOW = 127
BACKGROUND = 0

# Slots of one mixture component.
WEIGHT = 0
VARIANCE = 1
MEAN = 2


@njit(parallel=True, cache=True, nogil=True)
def gaussian_apply(frame, state, mask, alpha, threshold2, var_min, var_max):
    """One frame through the single-Gaussian model (diagonal covariance).

    ``state[i, 0, c]`` is the running mean and ``state[i, 1, c]`` the running variance of pixel
    ``i``'s channel ``c``. The pixel is foreground when ``sum_c (x_c - mu_c)^2 / var_c`` exceeds
    ``threshold2``. Every pixel then learns: ``mu += alpha (x - mu)`` and
    ``var += alpha ((x - mu_old)^2 - var)``, clamped to ``[var_min, var_max]``.
    """
    n_pixels, n_channels = frame.shape
    a = np.float32(alpha)
    t2 = np.float32(threshold2)
    lo = np.float32(var_min)
    hi = np.float32(var_max)
    for i in prange(n_pixels):
        d2 = np.float32(0.0)
        for c in range(n_channels):
            diff = np.float32(frame[i, c]) - state[i, 0, c]
            d2 += diff * diff / state[i, 1, c]
            state[i, 0, c] += a * diff
            var = state[i, 1, c] + a * (diff * diff - state[i, 1, c])
            state[i, 1, c] = min(max(var, lo), hi)
        mask[i] = FOREGROUND if d2 > t2 else BACKGROUND


@njit(inline="always")
def _rank_key(mixture, i, m):
    # Components are ranked by w / sigma; compare w^2 / var to avoid a square root.
    w = mixture[i, m, WEIGHT]
    return w * w / mixture[i, m, VARIANCE]


@njit(inline="always")
def _swap(mixture, i, a, b):
    for s in range(mixture.shape[2]):
        tmp = mixture[i, a, s]
        mixture[i, a, s] = mixture[i, b, s]
        mixture[i, b, s] = tmp


@njit(inline="always")
def _is_shadow(frame, mixture, i, n, threshold2, background_ratio, shadow_tau):
    """A darker copy of a background component: x ~ a * mu with tau <= a <= 1.

    ``a`` is the brightness distortion that best fits x to mu (least squares); the remaining
    chromaticity distortion must stay within the threshold, scaled by a^2 as the variance is.
    """
    n_channels = frame.shape[1]
    cumulative = np.float32(0.0)
    for m in range(n):
        if cumulative >= background_ratio:
            break
        dot = np.float32(0.0)
        norm2 = np.float32(0.0)
        for c in range(n_channels):
            mu = mixture[i, m, MEAN + c]
            dot += np.float32(frame[i, c]) * mu
            norm2 += mu * mu
        if norm2 > 0:
            a = dot / norm2
            if shadow_tau <= a <= 1:
                dist2 = np.float32(0.0)
                for c in range(n_channels):
                    diff = np.float32(frame[i, c]) - a * mixture[i, m, MEAN + c]
                    dist2 += diff * diff
                if dist2 < threshold2 * mixture[i, m, VARIANCE] * a * a:
                    return True
        cumulative += mixture[i, m, WEIGHT]
    return False


@njit(parallel=True, cache=True, nogil=True)
def mixture_apply(
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
    """One frame through the adaptive Gaussian mixture (Zivkovic 2004, spherical covariance).

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
    the two threads would contend on.
    """
    n_pixels, n_channels = frame.shape
    k_max = mixture.shape[1]
    n_slots = mixture.shape[2]
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
    inv_c = np.float32(1.0 / n_channels)
    for i in prange(n_pixels):
        n = np.int64(n_components[i])
        matched = -1
        background = False
        cumulative = np.float32(0.0)
        total = np.float32(0.0)
        alive = 0
        for m in range(n):
            w = mixture[i, m, WEIGHT] * decay + prune
            if matched < 0:
                var = mixture[i, m, VARIANCE]
                d2 = np.float32(0.0)
                for c in range(n_channels):
                    diff = np.float32(frame[i, c]) - mixture[i, m, MEAN + c]
                    d2 += diff * diff
                if cumulative < ratio and d2 < t2 * var:
                    background = True
                if d2 < g2 * var:
                    matched = alive
                    w += a
                    rho = a / w
                    for c in range(n_channels):
                        mu = mixture[i, m, MEAN + c]
                        mixture[i, m, MEAN + c] = mu + rho * (np.float32(frame[i, c]) - mu)
                    var = var + rho * (d2 * inv_c - var)
                    mixture[i, m, VARIANCE] = min(max(var, lo), hi)
                cumulative += w
            if w > 0:
                # Compact the survivors in place, keeping their order.
                if alive != m:
                    for s in range(n_slots):
                        mixture[i, alive, s] = mixture[i, m, s]
                mixture[i, alive, WEIGHT] = w
                total += w
                alive += 1
        n = alive
        # Label before a new component exists: the pixel must not explain itself as a shadow.
        if background:
            mask[i] = BACKGROUND
        elif tau > 0 and _is_shadow(frame, mixture, i, n, t2, ratio, tau):
            mask[i] = SHADOW
        else:
            mask[i] = FOREGROUND
        if matched < 0 and a > 0:
            slot = n if n < k_max else k_max - 1
            if slot < n:
                total -= mixture[i, slot, WEIGHT]
            mixture[i, slot, WEIGHT] = a
            mixture[i, slot, VARIANCE] = v0
            for c in range(n_channels):
                mixture[i, slot, MEAN + c] = np.float32(frame[i, c])
            total += a
            if slot == n:
                n += 1
            matched = slot
        # Restore the rank order around the one component whose key changed.
        if matched >= 0:
            m = matched
            while m > 0 and _rank_key(mixture, i, m) > _rank_key(mixture, i, m - 1):
                _swap(mixture, i, m, m - 1)
                m -= 1
            while m < n - 1 and _rank_key(mixture, i, m) < _rank_key(mixture, i, m + 1):
                _swap(mixture, i, m, m + 1)
                m += 1
        if total > 0:
            inv_total = np.float32(1.0) / total
            for m in range(n):
                mixture[i, m, WEIGHT] *= inv_total
        n_components[i] = n


@njit(parallel=True, cache=True)
def mixture_background(mixture, n_components, background_ratio, out):
    """Weighted mean of each pixel's background components (the learned background image)."""
    n_pixels = mixture.shape[0]
    n_channels = out.shape[1]
    ratio = np.float32(background_ratio)
    for i in prange(n_pixels):
        acc = np.zeros(4, dtype=np.float32)
        total = np.float32(0.0)
        for m in range(n_components[i]):
            w = mixture[i, m, WEIGHT]
            for c in range(n_channels):
                acc[c] += w * mixture[i, m, MEAN + c]
            total += w
            if total >= ratio:
                break
        for c in range(n_channels):
            v = acc[c] / total if total > 0 else np.float32(0.0)
            out[i, c] = np.uint8(min(max(v + np.float32(0.5), np.float32(0.0)), np.float32(255.0)))
