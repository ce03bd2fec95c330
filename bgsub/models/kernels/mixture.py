"""The mixture kernel (Stauffer-Grimson with Zivkovic's prior; with the feedback compiled in or
out) and the background image of a mixture."""

import functools

import numpy as np

from bgsub.models import numba_cache

numba_cache.configure()

from numba import njit, prange  # noqa: E402  (the cache directory is chosen before numba loads)
from numba.core.compiler import Compiler  # noqa: E402

from bgsub.models.kernels.components import (  # noqa: E402
    _channels,
    _count_still,
    _distance2,
    _is_shadow,
    _keep,
    _learn,
    _learned,
    _rank_key,
    _rerank,
    _rho,
    _still_counted,
    _store_channels,
    _top_component,
)
from bgsub.models.kernels.feedback import (  # noqa: E402
    _dynamics_learned,
    _feedback_rates,
    _within_threshold,
)
from bgsub.models.kernels.hints import _prefetch  # noqa: E402
from bgsub.models.kernels.layout import (  # noqa: E402
    BACKGROUND,
    FOREGROUND,
    MEAN,
    PENDING,
    SHADOW,
    VARIANCE,
    WEIGHT,
    _NONE,
    _u,
)


class _NoAlias(Compiler):
    """Numba's compiler with its ``noalias`` flag set (the one Numba sets on ``prange`` bodies
    whose arrays it finds apart): LLVM may assume that no element is reached through two array
    arguments, so it neither re-reads values after every store nor guards its vector loops with
    overlap tests. A function compiled with it must never reach one element through two of its
    arrays (the mixture kernel is never even given overlapping ones)."""

    def __init__(self, typingctx, targetctx, library, args, return_type, flags, locals):
        flags = flags.copy()
        flags.noalias = True
        super().__init__(typingctx, targetctx, library, args, return_type, flags, locals)


# Pixels per block: the first pass, then the pixels it left, while the block's top-ranked
# components (80 kB at 3 channels) are still in the core's L2 cache.
FIRST_PASS_BLOCK = 4096
SCAN_CHUNK = 16  # pixels: the ones the first pass left are sought this many at a time


@njit(inline="always")
def _prefetch_lower_ranks(mixture, n_components, pixel, slots, step):
    """Ask for the lower-ranked components of ``pixel``: they live in sparse planes that the
    hardware prefetcher follows poorly (the top-ranked plane it streams well)."""
    o = pixel * slots + step
    for _ in range(1, n_components[pixel]):
        _prefetch(mixture, o)
        o += step


@njit(inline="always")
def _first_pass(start, stop, frame, mixture, lower, n_components, mask, still, count_still,
                pairs, n_channels, feedback, a0, decay0, prune0, g2, t20, threshold2, tau, lo, hi,
                s2, ratio, fb):
    """The mixture kernel's steps for pixels ``start .. stop - 1`` whose lone component matches
    again (most pixels of most scenes) and, with ``pairs``, for those whose top component of two
    matches while the second only decays and stays ranked below (most of the others), with no
    branch on the pixel: each one's update is computed and stored where it applies, the old
    values stored back where it does not, so that the loop runs on vector registers. It leaves
    the mask at PENDING where the pixel needs the rest of the kernel: more components, no match,
    a dying weight, a shadow test, or (feedback) a pixel that was foreground, whose rate differs,
    or whose second component is a background one that D must measure. ``lower`` is the state
    from the second rank's plane on (read only with ``pairs``)."""
    slots = _u(2 + n_channels)
    inv_c = np.float32(1.0 / n_channels)
    dynamics, previous, busy, _, _, floor, gain, s_max, dynamics_rate = fb
    rate = np.float32(dynamics_rate)
    # A lone component's weight is renormalised to 1 every frame, so its updated weight is
    # nearly always this one: its rho and renormalised weight are computed once, not per pixel.
    w_lone = (np.float32(1.0) * decay0 + prune0) + a0
    rho_lone = _rho(a0, w_lone)
    norm_lone = w_lone * (np.float32(1.0) / w_lone)
    for i in range(start, stop):
        # Every value is read whether or not it is used, and ``&`` (not ``and``) joins the
        # tests: a read behind a branch would keep the loop off vector registers.
        p = _u(i)
        first = p * slots
        x, w, var, mu, d2 = _top_component(frame, mixture, p, slots, decay0, prune0, n_channels)
        w_old = mixture[first]
        n = n_components[p]
        background = _within_threshold(d2, var, p, feedback, t20, threshold2, dynamics, floor,
                                       gain, s_max)
        matches = (d2 < g2 * var) & (w + a0 > 0) & (background | (tau <= 0))
        if feedback:
            matches = matches & (previous[p] != FOREGROUND)
        w += a0
        usual = w == w_lone
        rho = rho_lone if usual else _rho(a0, w)
        new_mu, new_var = _learned(mu, var, x, d2, rho, inv_c, lo, hi, n_channels)
        lone = matches & (n == 1)
        norm = norm_lone if usual else w * (np.float32(1.0) / w)
        done = lone
        if pairs:
            w2_old = lower[first]
            w2 = w2_old * decay0 + prune0
            pair = matches & (n == 2) & (w2 > 0)
            pair = pair & (not _rank_key(w, new_var) < _rank_key(w2, lower[first + _u(VARIANCE)]))
            if feedback:
                # While the top weight is below the ratio the second is a background component,
                # and D would need its distance.
                pair = pair & (not (background & (a0 > 0) & (busy[p] != FOREGROUND) & (w < ratio)))
            inv_total = np.float32(1.0) / (w + w2)
            lower[first] = w2 * inv_total if pair else w2_old
            norm = norm if lone else w * inv_total
            done = lone | pair
        _store_channels(mixture, first + _u(MEAN), new_mu if done else mu, n_channels)
        mixture[first + _u(VARIANCE)] = new_var if done else var
        mixture[first] = norm if done else w_old
        label = BACKGROUND if background else FOREGROUND
        mask[p] = label if done else PENDING
        if count_still:
            count = still[p]
            counted = _still_counted(count, (not background) & (d2 < s2))
            still[p] = counted if done else count
        if feedback:
            # the top component is the nearest background one
            d = dynamics[p]
            learns = done & background & (a0 > 0) & (busy[p] != FOREGROUND)
            dynamics[p] = _dynamics_learned(d, d2, rate, inv_c) if learns else d


@njit(nogil=True, error_model="numpy", pipeline_class=_NoAlias)
def _apply_first_pass(start, stop, frame, mixture, lower, n_components, mask, still, pairs,
                      n_channels, feedback, a0, decay0, prune0, g2, t20, threshold2, tau, lo, hi,
                      s2, ratio, fb):
    """``_first_pass`` in a function of its own, compiled with ``noalias``: ``lower`` (a view of
    the state from the second rank on, empty without ``pairs``) and ``mixture`` then count as
    apart, which they are within the pass (it touches the block's first two ranks), and LLVM
    vectorises the loop; read through ``mixture`` itself, the second rank kept it scalar. The
    kernel's own arrays stay apart: ``lower`` is made inside it. LLVM inlines it into each
    kernel, where its flags are constants (``pairs`` at each of two calls, ``count_still`` in
    each branch here): a flag known only at run time keeps the loop scalar."""
    if still.shape[0] > 0:
        _first_pass(start, stop, frame, mixture, lower, n_components, mask, still, True, pairs,
                    n_channels, feedback, a0, decay0, prune0, g2, t20, threshold2, tau, lo, hi,
                    s2, ratio, fb)
    else:
        _first_pass(start, stop, frame, mixture, lower, n_components, mask, still, False, pairs,
                    n_channels, feedback, a0, decay0, prune0, g2, t20, threshold2, tau, lo, hi,
                    s2, ratio, fb)


@njit(inline="always")
def _any_pending(mask, start):
    """Whether a pixel of ``start .. start + SCAN_CHUNK - 1`` is PENDING (one vector compare)."""
    pending = False
    for k in range(SCAN_CHUNK):
        pending |= mask[_u(start + k)] == PENDING
    return pending


@njit(inline="always")
def _list_pending(mixture, n_components, mask, start, stop, slots, step, pending):
    """The PENDING pixels of ``start .. stop - 1`` into ``pending``; returns how many. Their
    lower-ranked components are asked for, so that they arrive while the first are updated."""
    count = 0
    j = start
    while j < stop:
        if j + SCAN_CHUNK <= stop and not _any_pending(mask, j):
            j += SCAN_CHUNK
            continue
        for q in range(j, min(j + SCAN_CHUNK, stop)):
            pending[count] = q  # kept when it is pending: the count moves on
            if mask[_u(q)] == PENDING:
                _prefetch_lower_ranks(mixture, n_components, _u(q), slots, step)
                count += 1
        j += SCAN_CHUNK
    return count


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
    (for ghost absorption, saturating at 255); an empty array turns the count off. The kernel is
    compiled with Numba's ``noalias`` flag (:class:`_NoAlias`): no two of its arrays may overlap.

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

    The pixels go in blocks of ``FIRST_PASS_BLOCK``. Those whose lone component matches again (85 %
    of a 1080p highway frame once the model has settled) take the same steps in one branch-free
    pass over the block that the compiler vectorises (``_first_pass``), and so do those whose
    top component of two matches while the second only decays (10 % more); in a block whose
    pixels all hold one component the pass does not read the second rank. It marks the others
    PENDING in the mask. Of those, runs of pixels with several components whose top one
    matches, and whose others only decay, go through a tight loop (most of the other 6 %). The
    general update takes every other pixel (a match that needs the shadow test included; with
    ``feedback``, a pixel that was foreground, whose rate differs). There the components after
    the match only decay, so they get a loop of their own; the rank keys of the matched
    component and its two neighbours are computed as they pass, so the usual outcome (nothing
    moves) costs no further reads.
    """
    channels = n_channels

    @njit(cache=True, nogil=True, error_model="numpy", pipeline_class=_NoAlias)
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
        pending = np.empty(min(FIRST_PASS_BLOCK, stop - start), np.uint32)
        i = start
        while i < stop:
            # The block's lone components (and pairs) first, in one pass that the compiler
            # vectorises; the pixels it leaves (marked PENDING) then take the steps below while the
            # block's state is still in cache.
            end = min(i + FIRST_PASS_BLOCK, stop)
            # (twice, so that ``pairs`` is a constant in each; Numba's max vectorises: a block
            # whose pixels all hold one component costs no reads of the second rank)
            if k_max > 1 and n_components[i:end].max() > 1:
                _apply_first_pass(i, end, frame, mixture, mixture[step:], n_components, mask,
                                  still, True, channels, feedback, a0, decay0, prune0, g2, t20,
                                  threshold2, tau, lo, hi, s2, ratio, fb)
            else:
                _apply_first_pass(i, end, frame, mixture, mixture[:0], n_components, mask,
                                  still, False, channels, feedback, a0, decay0, prune0, g2, t20,
                                  threshold2, tau, lo, hi, s2, ratio, fb)
            n_pending = _list_pending(mixture, n_components, mask, i, end, slots, step, pending)
            i = end
            k = 0  # the next of them
            while k < n_pending:
                # Top run: pixels with several live components whose top one matches, whose others
                # survive their decay, the second staying ranked below, and that need no shadow test
                # (most of those the first pass leaves: three or more, or two whose second D needs):
                # the general update's steps with nothing to compact or move. It stops, with
                # nothing changed, at the first pixel that needs more.
                while k < n_pending:
                    p = _u(pending[k])
                    n = _u(n_components[p])
                    if n < 2:
                        break
                    if feedback and previous[p] == FOREGROUND:
                        break
                    first = p * slots
                    x, w, var, mu, d2 = _top_component(frame, mixture, p, slots, decay0, prune0,
                                                       channels)
                    second = first + step
                    w2 = mixture[second] * decay0 + prune0
                    if not (d2 < g2 * var and w + a0 > 0 and w2 > 0):
                        break
                    background = _within_threshold(d2, var, p, feedback, t20, threshold2, dynamics,
                                                   floor, gain, s_max)
                    if not background and tau > 0:
                        break
                    w += a0
                    mu, var = _learned(mu, var, x, d2, _rho(a0, w), inv_c, lo, hi, channels)
                    if _rank_key(w, var) < _rank_key(w2, mixture[second + _u(VARIANCE)]):
                        break
                    # The lower ranks decay; the nearest background component is wanted only where
                    # the dynamics learn.
                    near = feedback and background and a0 > 0 and busy[p] != FOREGROUND
                    nearest2 = d2
                    # No component dies here, so the background test's cumulative weight is the
                    # running total.
                    total = w
                    o = second
                    m = _u(1)
                    while m < n:
                        wm = mixture[o] * decay0 + prune0 if m > 1 else w2
                        if not wm > 0:
                            break
                        if near and total < ratio:
                            dm = _distance2(x, _channels(mixture, o + _u(MEAN), channels), channels)
                            nearest2 = dm if dm < nearest2 else nearest2
                        total += wm
                        o += step
                        m += _u(1)
                    if m < n:
                        break  # a component dies: the general update compacts
                    _store_channels(mixture, first + _u(MEAN), mu, channels)
                    mixture[first + _u(VARIANCE)] = var
                    inv_total = np.float32(1.0) / total
                    mixture[first] = w * inv_total
                    o = second
                    for _ in range(1, n):
                        mixture[o] = (mixture[o] * decay0 + prune0) * inv_total
                        o += step
                    mask[p] = BACKGROUND if background else FOREGROUND
                    if track_still:
                        _count_still(still, p, not background and d2 < s2)
                    if near:
                        dynamics[p] = _dynamics_learned(dynamics[p], nearest2, rate, inv_c)
                    k += 1
                if k >= n_pending:
                    break
                p = _u(pending[k])
                first = p * slots
                x = _channels(frame, p * _u(channels), channels)
                n = _u(n_components[p])
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
                        var = _learn(mixture, o, mu, var, x, d2, _rho(a, w), inv_c, lo, hi,
                                     channels)
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
                # Label before a new component exists: the pixel must not explain itself as a
                # shadow.
                if background:
                    mask[p] = BACKGROUND
                elif tau > 0 and _is_shadow(x, mixture, first, step, n, channels, t2, ratio, tau):
                    mask[p] = SHADOW
                else:
                    mask[p] = FOREGROUND
                if track_still:
                    _count_still(still, p, mask[p] == FOREGROUND and matched2 < s2)
                if feedback and background and a > 0 and busy[p] != FOREGROUND:
                    dynamics[p] = _dynamics_learned(dynamics[p], nearest2, rate, inv_c)
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
                k += 1

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
