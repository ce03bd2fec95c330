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
fix-up. All are cached on disk (see :mod:`bgsub.models.numba_cache`).

Masks hold 255 (foreground), 127 (shadow: a darker copy of a background component) or 0.
All arithmetic is float32 (scalars are cast at entry) in the operation order of the NumPy twins in
``tests/models/reference.py``, so the kernels reproduce them exactly.
"""

import functools

import numpy as np

from bgsub.models import numba_cache

numba_cache.configure()

from llvmlite import ir  # noqa: E402  (the cache directory is chosen before numba loads)
from numba import njit, prange, types  # noqa: E402
from numba.core import cgutils  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

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
PREFETCH_AHEAD = 32  # pixels: how far ahead the mixture kernel asks for lower-ranked components


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


@njit(inline="always")
def _prefetch_lower_ranks(mixture, n_components, pixel, slots, step):
    """Ask for the lower-ranked components of ``pixel``: they live in sparse planes that the
    hardware prefetcher follows poorly (the top-ranked plane it streams well)."""
    o = pixel * slots + step
    for _ in range(1, n_components[pixel]):
        _prefetch(mixture, o)
        o += step


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
def _rho(a, w):
    # A component whose weight had decayed below alpha would overshoot the pixel with alpha / w.
    return a / w if w > a else np.float32(1.0)


@njit(inline="always")
def _learn(mixture, o, mu, var, x, d2, rho, inv_c, lo, hi, n_channels):
    """The matched component at ``o`` learns: ``mu += rho (x - mu)`` and
    ``var += rho (d2 / C - var)`` clamped to ``[lo, hi]``; returns the new variance."""
    m = o + _u(MEAN)
    mixture[m] = mu[0] + rho * (x[0] - mu[0])
    if n_channels > 1:
        mixture[m + _u(1)] = mu[1] + rho * (x[1] - mu[1])
    if n_channels > 2:
        mixture[m + _u(2)] = mu[2] + rho * (x[2] - mu[2])
    if n_channels > 3:
        mixture[m + _u(3)] = mu[3] + rho * (x[3] - mu[3])
    var = var + rho * (d2 * inv_c - var)
    var = var if var > lo else lo
    var = var if var < hi else hi
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
def _count_still(still, p, held):
    """One more still frame for pixel ``p`` while ``held``, else 0 (stored only when it was not)."""
    if held:
        if still[p] < 255:
            still[p] += 1
    elif still[p] != 0:
        still[p] = 0


@njit(inline="always")
def _keep(mixture, o, oa, w, n_slots):
    """Store the surviving component read at ``o`` with weight ``w`` at ``oa`` (compaction)."""
    if oa != o:
        for s in range(1, n_slots):
            mixture[oa + _u(s)] = mixture[o + _u(s)]
    mixture[oa] = w


@functools.cache
def mixture_kernel(n_channels, feedback=False):
    """The adaptive Gaussian mixture kernel (Zivkovic 2004, spherical covariance) for
    ``n_channels`` channels (1 to 4); with ``feedback``, the feedback mixture's (see the section
    comment before ``NO_FEEDBACK``).

    ``apply(start, stop, frame, mixture, n_components, mask, alpha, threshold2,
    match_threshold2, background_ratio, complexity_prior, var_init, var_min, var_max, shadow_tau,
    still, still2, fb)`` updates pixels ``start .. stop - 1`` (a stripe, see
    :mod:`bgsub.models.stripes`) with ``frame`` the N * C uint8 pixels and ``mixture`` the flat
    ``[K, N, 2 + C]`` float32 state. ``fb`` is the feedback's state and parameters, ``(dynamics,
    previous, busy, width, foreground_rate, dynamics_floor, dynamics_gain, max_threshold_scale,
    dynamics_rate)``, or ``NO_FEEDBACK`` for the plain kernel, which compiles the feedback away
    (``busy`` is ``previous`` dilated by a 3 x 3 cross). ``still`` counts, per
    pixel, the frames it has been foreground while matching a component within ``still2`` of it
    (for ghost absorption, saturating at 255); an empty array turns the count off.

    For each pixel, in rank order over its live components:

    1. every weight decays: ``w = (1 - alpha) w - alpha c_T``;
    2. the pixel is background when, before the first match, a component within the background
       set (cumulative weight of the higher-ranked ones below ``background_ratio``) has
       ``d2 < threshold2``;
    3. the first component with ``d2 < match_threshold2`` matches: ``w += alpha``, and with
       ``rho = min(alpha / w, 1)``: ``mu += rho (x - mu)``,
       ``var += rho (|x - mu_old|^2 / C - var)``
       clamped to ``[var_min, var_max]``; it then moves to its rank by ``w / sigma``;
    4. components whose weight fell to zero or below die (K adapts per pixel);
    5. if nothing matched (and alpha > 0), a new component ``(alpha, var_init, x)`` takes a free
       slot or replaces the lowest-ranked one; weights are renormalised to sum to 1.

    A foreground pixel is labelled SHADOW instead when ``shadow_tau > 0`` and it is a darker copy
    of a background component (tested after step 4, before step 5).

    Runs of pixels whose lone component matches again (two thirds of a 1080p highway frame) go
    through a tight loop of the same steps that keeps its few values in registers; the general
    update takes every other pixel (a lone match that needs the shadow test included; with
    ``feedback``, a pixel that was foreground, whose rate differs). The components after the match
    only decay, so they get a loop of their own; the rank keys of the matched component and its
    two neighbours are computed as they pass, so the usual outcome (nothing moves) costs no
    further reads.
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
        still,
        still2,
        fb,
    ):
        n_slots = 2 + channels
        slots = _u(n_slots)
        step = _u(n_components.shape[0]) * slots  # from one rank's plane to the next
        k_max = _u(mixture.shape[0]) // step
        # The frame's rate and threshold; the feedback changes them per pixel in the general update.
        a0 = np.float32(alpha)
        decay0 = np.float32(1.0) - a0
        prune0 = -a0 * np.float32(complexity_prior)
        t20 = np.float32(threshold2)
        g2 = np.float32(match_threshold2)
        ratio = np.float32(background_ratio)
        v0 = np.float32(var_init)
        lo = np.float32(var_min)
        hi = np.float32(var_max)
        tau = np.float32(shadow_tau)
        track_still = still.shape[0] > 0
        s2 = np.float32(still2)
        inv_c = np.float32(1.0 / channels)
        dynamics, previous, busy, width, foreground_rate, floor, gain, s_max, dynamics_rate = fb
        rate = np.float32(dynamics_rate)
        # A lone component's weight is renormalised to 1 every frame, so its updated weight is
        # nearly always this one: its rho and renormalised weight are computed once, not per pixel.
        w_lone = (np.float32(1.0) * decay0 + prune0) + a0
        rho_lone = _rho(a0, w_lone)
        norm_lone = w_lone * (np.float32(1.0) / w_lone)
        i = start
        while i < stop:
            # Fast run: pixels whose lone component matches again (most pixels of most scenes),
            # in a loop with few live values. It stops, with nothing changed, at the first pixel
            # that needs the general update below: several components, no match, a dying
            # weight, a shadow test, or (feedback) a pixel that was foreground, whose rate differs.
            while i < stop:
                p = _u(i)
                if n_components[p] != 1:
                    break
                if feedback and previous[p] == FOREGROUND:
                    break
                first = p * slots
                x = _channels(frame, p * _u(channels), channels)
                w = mixture[first] * decay0 + prune0
                var = mixture[first + _u(VARIANCE)]
                mu = _channels(mixture, first + _u(MEAN), channels)
                d2 = _distance2(x, mu, channels)
                if not (d2 < g2 * var and w + a0 > 0):
                    break
                t2 = t20
                if feedback:
                    t2 = _feedback_threshold2(threshold2, dynamics[p], floor, gain, s_max)
                background = d2 < t2 * var
                if not background and tau > 0:
                    break
                if i + PREFETCH_AHEAD < stop:
                    _prefetch_lower_ranks(mixture, n_components, p + _u(PREFETCH_AHEAD), slots, step)
                w += a0
                if w == w_lone:
                    rho, norm = rho_lone, norm_lone
                else:
                    rho, norm = _rho(a0, w), w * (np.float32(1.0) / w)
                _learn(mixture, first, mu, var, x, d2, rho, inv_c, lo, hi, channels)
                mixture[first] = norm
                mask[p] = BACKGROUND if background else FOREGROUND
                if track_still:
                    _count_still(still, p, not background and d2 < s2)
                if feedback and background and a0 > 0 and busy[p] != FOREGROUND:
                    # the lone component is the nearest background one
                    dynamics[p] += rate * (np.sqrt(d2 * inv_c) - dynamics[p])
                i += 1
            if i >= stop:
                break
            p = _u(i)
            first = p * slots
            x = _channels(frame, p * _u(channels), channels)
            n = _u(n_components[p])
            if i + PREFETCH_AHEAD < stop:
                _prefetch_lower_ranks(mixture, n_components, p + _u(PREFETCH_AHEAD), slots, step)
            a, decay, prune, t2 = a0, decay0, prune0, t20
            if feedback:
                a, decay, prune, t2 = _feedback_rates(
                    p, alpha, threshold2, complexity_prior, dynamics, previous, foreground_rate,
                    floor, gain, s_max,
                )
            nearest2 = np.float32(np.inf)  # feedback: |x - mu|^2 to the nearest background one
            m = _u(0)
            o = first  # the component being read
            oa = first  # where the next survivor goes
            alive = _u(0)
            total = np.float32(0.0)
            cumulative = np.float32(0.0)
            background = False
            matched = _NONE
            matched2 = np.float32(np.inf)  # |x - mu|^2 to the matched component
            keys_known = False  # key_matched, key_before and key_after describe the result
            key_matched = key_before = key_after = np.float32(0.0)
            # Components up to and including the first match.
            while m < n:
                w = mixture[o] * decay + prune
                var = mixture[o + _u(VARIANCE)]
                mu = _channels(mixture, o + _u(MEAN), channels)
                d2 = _distance2(x, mu, channels)
                if cumulative < ratio:
                    if d2 < t2 * var:
                        background = True
                    if feedback and d2 < nearest2:
                        nearest2 = d2
                m += _u(1)
                hit = d2 < g2 * var
                if hit:
                    w += a
                    var = _learn(mixture, o, mu, var, x, d2, _rho(a, w), inv_c, lo, hi, channels)
                    matched = alive
                    matched2 = d2
                if w > 0:
                    _keep(mixture, o, oa, w, n_slots)
                    total += w
                    alive += _u(1)
                    oa += step
                    if hit:
                        key_matched = _rank_key(w, var)
                        keys_known = True
                    else:
                        key_before = _rank_key(w, var)
                cumulative += w
                o += step
                if hit:
                    break
            # After the match, weights only decay.
            after_known = False
            while m < n:
                w = mixture[o] * decay + prune
                m += _u(1)
                if feedback:
                    if cumulative < ratio:
                        mu = _channels(mixture, o + _u(MEAN), channels)
                        d2 = _distance2(x, mu, channels)
                        nearest2 = d2 if d2 < nearest2 else nearest2
                    cumulative += w
                if w > 0:
                    if not after_known:
                        key_after = _rank_key(w, mixture[o + _u(VARIANCE)])
                        after_known = True
                    _keep(mixture, o, oa, w, n_slots)
                    total += w
                    alive += _u(1)
                    oa += step
                o += step
            n = alive
            # Label before a new component exists: the pixel must not explain itself as a shadow.
            if background:
                mask[p] = BACKGROUND
            elif tau > 0 and _is_shadow(x, mixture, first, step, n, channels, t2, ratio, tau):
                mask[p] = SHADOW
            else:
                mask[p] = FOREGROUND
            if track_still:
                _count_still(still, p, mask[p] == FOREGROUND and matched2 < s2)
            if feedback and background and a > 0 and busy[p] != FOREGROUND:
                dynamics[p] += rate * (np.sqrt(nearest2 * inv_c) - dynamics[p])
            if matched == _NONE and a > 0:
                slot = n if n < k_max else k_max - _u(1)
                o = first + slot * step
                if slot < n:
                    total -= mixture[o]
                mixture[o] = a
                mixture[o + _u(VARIANCE)] = v0
                _store_channels(mixture, o + _u(MEAN), x, channels)
                total += a
                if slot == n:
                    n += _u(1)
                matched = slot
            # Restore the rank order around the one component whose key changed.
            if matched != _NONE:
                moves = not keys_known
                if keys_known:
                    up = matched > 0 and key_matched > key_before
                    down = matched + _u(1) < n and key_matched < key_after
                    moves = up or down
                if moves:
                    _rerank(mixture, first + matched * step, matched, n, step, n_slots)
            if total > 0:
                inv_total = np.float32(1.0) / total
                o = first
                for _ in range(n):
                    mixture[o] *= inv_total
                    o += step
            n_components[p] = n
            i += 1

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


# ================================================================================================
# Feedback mixture (the default model)
#
# The Gaussian mixture above with per-pixel feedback in the spirit of SuBSENSE (St-Charles et al.,
# 2015), computed from the mixture's own quantities:
#
# * ``dynamics[i]`` (D, intensity levels): running average of the RMS distance between the pixel
#   and its nearest background component, taken only in quiet frames (the pixel is background and
#   it and its 4 neighbours were not foreground in the previous frame, so passing objects and their
#   edges do not count: ``busy``, the previous labels dilated by a 3 x 3 cross, is below
#   FOREGROUND there). Still road stays near the camera noise (2-4 levels); swaying leaves, their
#   shadows and rippling water sit well above it.
# * The pixel's background threshold is scaled by ``s = min(1 + gain * max(D - floor, 0), s_max)``:
#   static pixels keep the low base threshold (camouflaged objects are found), dynamic ones demand
#   more evidence (the background's own motion is not reported).
# * Selective update: a pixel that was foreground in the previous frame learns at
#   ``alpha * foreground_rate``, so objects in busy scenes do not teach the model their colours;
#   the model sets the factor each frame so that a stopped object is absorbed in
#   ``stationary_frames`` frames (``feedback.foreground_rate_factor``).
#
# State: the mixture's component-major planes and ``n_components`` plus ``dynamics[i]`` D. Labels
# of the previous frame are read from ``previous`` (a copy), the new ones written to the mask, so
# stripes on different threads never see each other's writes. The kernel is ``mixture_kernel(C,
# feedback=True)``: the same steps with the three additions above, compiled separately. Its NumPy
# twin is ``FeedbackReference`` in ``tests/models/reference.py``.
# ================================================================================================

# ``fb`` of the plain mixture kernel: typed like the feedback's, never read.
NO_FEEDBACK = (np.zeros(0, np.float32), np.zeros(0, np.uint8), np.zeros(0, np.uint8), 1, 0.0, 0.0,
               0.0, 0.0, 0.0)


@njit(inline="always")
def _feedback_rates(p, alpha, threshold2, complexity_prior, dynamics, previous, foreground_rate,
                    floor, gain, s_max):
    """Pixel ``p``'s ``(a, 1 - a, -a c_T, threshold2 s^2)``: the learning rate slowed where the
    pixel was foreground (selective update) and the threshold scaled by its dynamics D."""
    a = np.float32(alpha)
    if previous[p] == FOREGROUND:
        a = a * np.float32(foreground_rate)
    t2 = _feedback_threshold2(threshold2, dynamics[p], floor, gain, s_max)
    return a, np.float32(1.0) - a, -a * np.float32(complexity_prior), t2


@njit(inline="always")
def _feedback_threshold2(threshold2, d, floor, gain, s_max):
    """``threshold2 s^2``, with ``s`` the threshold's scale for the dynamics ``d``."""
    excess = d - np.float32(floor)
    scale = np.float32(1.0) + np.float32(gain) * (excess if excess > 0 else np.float32(0.0))
    scale = scale if scale < np.float32(s_max) else np.float32(s_max)
    return np.float32(threshold2) * (scale * scale)


# ================================================================================================
# Ghost absorption
#
# A region that stays foreground while its pixels do not change is either an object that stopped
# or a *ghost*: background uncovered by an object that the model had learned as background (one
# present in the first frame, or one that stood long enough to be absorbed) and that has left.
# What tells them apart is their surroundings: a ghost shows what the background next to it
# shows. The mixture kernel counts, per pixel, the frames it has been foreground while matching
# the same component (``still``); a pixel still for ``ghost_frames`` frames that would be
# background under the model of a non-foreground pixel within ``GHOST_RADIUS`` starts its mixture
# over from its current value. A ghost then erodes from its border inwards, a few pixels a
# frame; a stopped object whose colours differ from the background around it stays foreground.
# ================================================================================================

GHOST_RADIUS = 2  # pixels: how far a ghost's border may reach into the background beside it
GHOST_BLOCK = 4096  # pixels whose still counts are screened together before any is tested


@njit(inline="always")
def _explained_by(x, planes, q, n_components, threshold2, background_ratio):
    """True when ``x`` lies within ``threshold2`` of a background component of pixel ``q``."""
    cumulative = np.float32(0.0)
    for m in range(n_components[q]):
        if cumulative >= background_ratio:
            break
        d2 = np.float32(0.0)
        for c in range(x.shape[0]):
            diff = x[c] - planes[m, q, MEAN + c]
            d2 += diff * diff
        if d2 < threshold2 * planes[m, q, VARIANCE]:
            return True
        cumulative += planes[m, q, WEIGHT]
    return False


@njit(inline="always")
def _is_ghost(x, i, width, labels, planes, n_components, threshold2, background_ratio):
    """True when a non-foreground pixel within ``GHOST_RADIUS`` of pixel ``i`` explains ``x``."""
    n_pixels = labels.shape[0]
    row, col = i // width, i % width
    height = n_pixels // width
    for q_row in range(max(row - GHOST_RADIUS, 0), min(row + GHOST_RADIUS + 1, height)):
        for q_col in range(max(col - GHOST_RADIUS, 0), min(col + GHOST_RADIUS + 1, width)):
            q = q_row * width + q_col
            if labels[q] != FOREGROUND and _explained_by(
                x, planes, q, n_components, threshold2, background_ratio
            ):
                return True
    return False


@njit(cache=True, nogil=True, error_model="numpy")
def ghost_absorb(start, stop, frame, labels, still, planes, n_components, width, threshold2,
                 background_ratio, var_init, ghost_frames):
    """Absorb the ghost pixels among ``start .. stop - 1``, after the mixture update of a frame.

    ``frame`` is (N, C) uint8, ``labels`` the frame's N labels, ``still`` the kernel's still
    counts, ``planes`` the mixture's ``[K, N, 2 + C]`` state. A pixel still for ``ghost_frames``
    frames that a non-foreground neighbour explains (``_is_ghost``) is reset to one component
    ``(1, var_init, x)`` and its count to 0. Only such pixels (foreground) are written and only
    non-foreground ones read, so stripes may run on several threads.
    """
    t2 = np.float32(threshold2)
    ratio = np.float32(background_ratio)
    x = np.empty(frame.shape[1], dtype=np.float32)
    for block in range(start, stop, GHOST_BLOCK):
        end = min(block + GHOST_BLOCK, stop)
        # Still pixels are rare: a block's largest count (Numba's max vectorises, a loop over
        # signed indices does not) rules most blocks out at a tenth of the cost of testing
        # their pixels one by one.
        if still[block:end].max() < ghost_frames:
            continue
        for i in range(block, end):
            if still[i] < ghost_frames:
                continue
            for c in range(x.shape[0]):
                x[c] = np.float32(frame[i, c])
            if _is_ghost(x, i, width, labels, planes, n_components, t2, ratio):
                planes[0, i, WEIGHT] = 1.0
                planes[0, i, VARIANCE] = var_init
                for c in range(x.shape[0]):
                    planes[0, i, MEAN + c] = x[c]
                n_components[i] = 1
                still[i] = 0
