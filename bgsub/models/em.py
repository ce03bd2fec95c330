"""Batch expectation-maximisation for the per-pixel mixtures: fit each pixel's K spherical
Gaussians to a clip, then hand the fit to the online model.

Notation as in :mod:`bgsub.models.kernels`: a pixel's values ``x_n`` (n = 1..N frames, C channels)
and its components ``(w_k, mu_k, var_k)``, k = 1..K. Each iteration does, per pixel:

* **E-step**: the log-density of each sample under each component,
  ``l_nk = log w_k - C/2 log(2 pi var_k) - |x_n - mu_k|^2 / (2 var_k)``, the responsibilities
  ``r_nk = exp(l_nk) / sum_j exp(l_nj)`` and the log-likelihood ``L = sum_n log sum_k exp(l_nk)``
  (log-sum-exp around the largest ``l_nk``);
* **M-step**: ``N_k = sum_n r_nk``, ``w_k = N_k / N``, ``mu_k = sum_n r_nk x_n / N_k``,
  ``var_k = (sum_n r_nk |x_n|^2 / N_k - |mu_k|^2) / C`` clamped to ``[var_min, var_max]``; a
  component whose ``N_k`` falls below ``EMPTY`` drops out (weight 0).

Clamping the variance to the box still maximises the expected log-likelihood over it (it is
unimodal in ``var_k``), so ``L`` never decreases: a generalised EM. Iterations stop after
``iterations`` or when ``L / N`` (the mean log-likelihood per sample, scikit-learn's ``tol``)
changes by less than ``tolerance``.

**Initialisation** (deterministic): the pixel's samples sorted by brightness ``sum_c x_c`` are cut
into K groups of equal count; each group's mean, variance (clamped) and share of the samples start
a component. A group whose mean lies within ``2 sqrt(var_min)`` RMS per channel of the previous
kept group merges into it, so a still pixel starts with one component, which is already EM's
fixed point: it is not iterated.

**Handing on** (``to_mixture``): the fit describes everything the pixel showed, the online model
needs its background. Components are ranked by ``w_k / sigma_k`` as online; the clip's background
set is cut from the top while the weights above sum below ``keep_ratio``. The first component is
kept; another one only if the pixel *returned* to it: each sample is assigned to its most likely
component, and the runs of consecutive frames in one component are its visits. A moving
background (leaves, water, a flickering sign) visits each of its modes many times; a person who
stood still, or a parked car, is one long visit, and stays foreground however long it stood.

**Memory**: the frames are held as uint8, N x P x C bytes: 300 frames of 1080p colour are
300 x 2073600 x 3 = 1.87 GB. A fit runs over ``BANDS`` bands of rows; a band's parameters are
float64, P x K x (C + 2) x 8 / ``BANDS`` bytes (16 MB for 1080p at K = 3), written into the
model's float32 state as each band is done. Each pixel's samples are copied into a float32 buffer
of its thread (N x C x 4 bytes) and the E-step and M-step run from there; sums of
responsibilities and log-likelihoods are float64.
"""

import numpy as np

from bgsub.errors import ConfigError
from bgsub.models import kernels, numba_cache

numba_cache.configure()

from numba import njit, prange  # noqa: E402  (the cache directory is chosen before numba loads)

ITERATIONS = 20  # default iteration cap
TOLERANCE = 1e-3  # default: stop when the mean log-likelihood per sample changes less (sklearn's)
BANDS = 16  # a fit runs over this many bands of rows: bounded scratch, and a progress bar can follow
KEEP_RATIO = 0.6  # default: the fitted background set, see to_mixture and MixtureComponents.fit
# Default: a fitted mode beside the first is background only if the pixel returns to it at least
# once per 10 frames of the clip on average (swaying leaves at 25 fps return several times a
# second; a person who stood still is one visit). See to_mixture; measured in docs/em.md.
RECURRENCE = 0.1
NEGLIGIBLE = 40.0  # nats: a component this much less likely than the best gets responsibility 0
EMPTY = 1e-6  # N_k (in samples) below which a component has no data left and drops out
_LOG_2PI = float(np.log(2.0 * np.pi))


@njit(inline="always")
def _load_pixel(frames, pixel, samples):
    """Copy the pixel's N x C values into ``samples`` (float32, this thread's buffer)."""
    n_frames, _, n_channels = frames.shape
    for n in range(n_frames):
        for c in range(n_channels):
            samples[n, c] = frames[n, pixel, c]


@njit
def _brightness_order(samples, order, counts):
    """``order``: the sample indices sorted by brightness ``sum_c x_c`` (a counting sort, stable:
    brightness is an integer of at most ``255 C``); ``counts`` is scratch of ``255 C + 2``."""
    n_frames, n_channels = samples.shape
    counts[:] = 0
    for n in range(n_frames):
        b = 0
        for c in range(n_channels):
            b += int(samples[n, c])
        counts[b + 1] += 1
    for b in range(1, counts.shape[0]):
        counts[b] += counts[b - 1]
    for n in range(n_frames):
        b = 0
        for c in range(n_channels):
            b += int(samples[n, c])
        order[counts[b]] = n
        counts[b] += 1


@njit
def _quantile_groups(samples, order, k_max, var_min, var_max, weights, means, variances):
    """Initial components from K equal-count brightness groups (see the module docstring);
    writes ``weights`` (0 for unused slots), ``means`` and ``variances``; returns the count."""
    n_frames, n_channels = samples.shape
    groups = min(k_max, n_frames)
    merge2 = 4.0 * var_min * n_channels  # |mu_a - mu_b|^2 below which two groups merge
    weights[:] = 0.0
    kept = 0
    # Running sums of the component being built: count, sum of x, sum of |x|^2.
    s0 = 0.0
    s1 = np.zeros(n_channels)
    s2 = 0.0
    for g in range(groups):
        lo = g * n_frames // groups
        hi = (g + 1) * n_frames // groups
        g1 = np.zeros(n_channels)
        g2 = 0.0
        for j in range(lo, hi):
            for c in range(n_channels):
                v = float(samples[order[j], c])
                g1[c] += v
                g2 += v * v
        if s0 > 0:
            d2 = 0.0
            for c in range(n_channels):
                d = g1[c] / (hi - lo) - s1[c] / s0
                d2 += d * d
            if d2 >= merge2:  # a separate component: close the one being built
                _set_component(kept, s0, s1, s2, n_frames, var_min, var_max, weights, means,
                               variances)
                kept += 1
                s0, s2 = 0.0, 0.0
                s1[:] = 0.0
        s0 += hi - lo
        s1 += g1
        s2 += g2
    _set_component(kept, s0, s1, s2, n_frames, var_min, var_max, weights, means, variances)
    return kept + 1


@njit(inline="always")
def _set_component(k, s0, s1, s2, total, var_min, var_max, weights, means, variances):
    """Component ``k`` from the sums of its samples: count ``s0``, ``s1 = sum x``,
    ``s2 = sum |x|^2`` (the M-step's formulas, with ``total`` samples in all)."""
    n_channels = s1.shape[0]
    norm2 = 0.0
    for c in range(n_channels):
        mu = s1[c] / s0
        means[k, c] = mu
        norm2 += mu * mu
    weights[k] = s0 / total
    variances[k] = _clamp((s2 / s0 - norm2) / n_channels, var_min, var_max)


@njit(inline="always")
def _clamp(v, lo, hi):
    return min(max(v, lo), hi)


@njit(inline="always")
def _expectation(samples, weights, means, variances, log_density, s0, s1, s2, offset,
                 half_precision):
    """E-step over the pixel's samples: accumulates the responsibility sums ``s0[k] = N_k``,
    ``s1[k] = sum_n r_nk x_n``, ``s2[k] = sum_n r_nk |x_n|^2``; returns the log-likelihood.
    ``offset`` and ``half_precision`` (K) are scratch, allocated once per pixel."""
    n_frames, n_channels = samples.shape
    k_max = weights.shape[0]
    s0[:] = 0.0
    s1[:] = 0.0
    s2[:] = 0.0
    # The sample-independent part of l_nk and 1 / (2 var_k), once per iteration.
    for k in range(k_max):
        if weights[k] > 0:
            offset[k] = np.log(weights[k]) - 0.5 * n_channels * (_LOG_2PI + np.log(variances[k]))
            half_precision[k] = 0.5 / variances[k]
    log_likelihood = 0.0
    for n in range(n_frames):
        top = -np.inf
        norm2 = 0.0
        for c in range(n_channels):
            norm2 += float(samples[n, c]) * float(samples[n, c])
        for k in range(k_max):
            if weights[k] > 0:
                d2 = 0.0
                for c in range(n_channels):
                    d = float(samples[n, c]) - means[k, c]
                    d2 += d * d
                log_density[k] = offset[k] - d2 * half_precision[k]
                top = max(top, log_density[k])
        total = 0.0
        for k in range(k_max):
            if weights[k] > 0:
                log_density[k] = _relative_density(log_density[k] - top)
                total += log_density[k]
        log_likelihood += top + (np.log(total) if total > 1.0 else 0.0)
        inv_total = 1.0 / total
        for k in range(k_max):
            if weights[k] > 0:
                r = log_density[k] * inv_total
                s0[k] += r
                for c in range(n_channels):
                    s1[k, c] += r * samples[n, c]
                s2[k] += r * norm2
    return log_likelihood


@njit(inline="always")
def _relative_density(log_ratio):
    """``exp(log_ratio)`` for ``log_ratio <= 0``: 1 for the most likely component without the
    call, and 0 below ``-NEGLIGIBLE`` (e^-40 = 4e-18: lost in the float64 sum with 1). Most
    samples lie near one component, so most of the E-step's exponentials are skipped."""
    if log_ratio == 0.0:
        return 1.0
    if log_ratio < -NEGLIGIBLE:
        return 0.0
    return np.exp(log_ratio)


@njit(inline="always")
def _maximisation(s0, s1, s2, n_frames, var_min, var_max, weights, means, variances):
    """M-step: weights, means and clamped variances from the E-step's sums."""
    for k in range(weights.shape[0]):
        if weights[k] > 0:
            if s0[k] < EMPTY:
                weights[k] = 0.0
            else:
                _set_component(k, s0[k], s1[k], s2[k], n_frames, var_min, var_max, weights,
                               means, variances)


@njit(inline="always")
def _live(weights):
    count = 0
    for k in range(weights.shape[0]):
        if weights[k] > 0:
            count += 1
    return count


@njit(parallel=True, cache=True)
def initialise(frames, k_max, var_min, var_max, weights, means, variances):
    """Quantile initialisation of every pixel (see the module docstring).

    ``frames`` is uint8 (N, P, C); ``weights`` (P, K), ``means`` (P, K, C) and ``variances``
    (P, K) float64 receive the initial components (weight 0 marks an unused slot).
    """
    n_frames, n_pixels, n_channels = frames.shape
    for p in prange(n_pixels):
        samples = np.empty((n_frames, n_channels), dtype=np.float32)
        order = np.empty(n_frames, dtype=np.int64)
        counts = np.empty(255 * n_channels + 2, dtype=np.int64)
        _load_pixel(frames, p, samples)
        _brightness_order(samples, order, counts)
        _quantile_groups(samples, order, k_max, var_min, var_max, weights[p], means[p],
                         variances[p])


@njit(parallel=True, cache=True)
def expectation_maximisation(frames, weights, means, variances, iterations, tolerance, var_min,
                             var_max, n_iterations, trace):
    """Run EM on every pixel from the components in ``weights``, ``means``, ``variances``
    (updated in place; weight 0 = no component).

    Stops a pixel after ``iterations`` or once its mean log-likelihood per sample changes by less
    than ``tolerance``; a pixel with a single component is not iterated (its start is already
    EM's fixed point). ``n_iterations[p]`` receives the iterations done; ``trace[p, i]`` the
    log-likelihood of the parameters before M-step ``i`` (for tests: pass a (P, 0) array to
    record nothing).
    """
    n_frames, n_pixels, n_channels = frames.shape
    k_max = weights.shape[1]
    for p in prange(n_pixels):
        if _live(weights[p]) < 2:
            # One component starts at its samples' mean and clamped variance, EM's fixed point.
            n_iterations[p] = 0
            continue
        samples = np.empty((n_frames, n_channels), dtype=np.float32)
        log_density = np.empty(k_max)
        s0 = np.empty(k_max)
        s1 = np.empty((k_max, n_channels))
        s2 = np.empty(k_max)
        offset = np.empty(k_max)
        half_precision = np.empty(k_max)
        _load_pixel(frames, p, samples)
        previous = -np.inf
        done = 0
        while done < iterations:
            log_likelihood = _expectation(samples, weights[p], means[p], variances[p],
                                          log_density, s0, s1, s2, offset, half_precision)
            _maximisation(s0, s1, s2, n_frames, var_min, var_max, weights[p], means[p],
                          variances[p])
            if done < trace.shape[1]:
                trace[p, done] = log_likelihood
            done += 1
            if abs(log_likelihood - previous) < tolerance * n_frames:
                break
            previous = log_likelihood
        n_iterations[p] = done


@njit(inline="always")
def _merge_close(weights, means, variances, match_threshold2, var_min, var_max):
    """Merge components whose means lie within ``match_threshold`` sigmas (of the wider one) of
    each other, by moment matching. EM may split one background colour in two; the online kernel
    would only ever match one of the pair, and the split weights would understate the colour in
    the background test."""
    n_channels = means.shape[1]
    k_max = weights.shape[0]
    merged = True
    while merged:
        merged = False
        for a in range(k_max):
            for b in range(a + 1, k_max):
                if weights[a] > 0 and weights[b] > 0:
                    d2 = 0.0
                    for c in range(n_channels):
                        d = means[a, c] - means[b, c]
                        d2 += d * d
                    if d2 < match_threshold2 * max(variances[a], variances[b]):
                        _merge_pair(a, b, weights, means, variances, var_min, var_max)
                        merged = True


@njit(inline="always")
def _merge_pair(a, b, weights, means, variances, var_min, var_max):
    """Component ``a`` becomes the moment-matched union of ``a`` and ``b``; ``b`` is emptied."""
    n_channels = means.shape[1]
    w = weights[a] + weights[b]
    spread_a = n_channels * variances[a]
    spread_b = n_channels * variances[b]
    for c in range(n_channels):
        mu = (weights[a] * means[a, c] + weights[b] * means[b, c]) / w
        spread_a += (means[a, c] - mu) ** 2
        spread_b += (means[b, c] - mu) ** 2
        means[a, c] = mu
    variances[a] = _clamp((weights[a] * spread_a + weights[b] * spread_b) / (w * n_channels),
                          var_min, var_max)
    weights[a] = w
    weights[b] = 0.0


@njit(inline="always")
def _rank(weights, variances, min_weight, rank):
    """``rank[:count]``: the components with weight at least ``min_weight``, by descending
    ``w / sigma`` (the online kernel's float32 key ``w^2 / var``); returns ``count``."""
    keys = np.empty(weights.shape[0], dtype=np.float32)
    count = 0
    for k in range(weights.shape[0]):
        if weights[k] >= min_weight:
            key = np.float32(weights[k]) * np.float32(weights[k]) / np.float32(variances[k])
            m = count  # insertion: K is at most 8
            while m > 0 and keys[m - 1] < key:
                keys[m] = keys[m - 1]
                rank[m] = rank[m - 1]
                m -= 1
            keys[m] = key
            rank[m] = k
            count += 1
    return count


@njit(inline="always")
def _count_visits(frames, pixel, weights, means, variances, rank, count, offset, visits):
    """``visits[m]``: the number of separate runs of consecutive frames in which the pixel's
    sample is best explained (highest ``log w_k - C/2 log var_k - |x - mu_k|^2 / (2 var_k)``) by
    the component of rank ``m``, for ``m < count``. ``offset`` is scratch for the per-component
    ``log w_k - C/2 log var_k``, computed once rather than per sample."""
    n_frames, _, n_channels = frames.shape
    for m in range(count):
        k = rank[m]
        offset[m] = np.log(weights[k]) - 0.5 * n_channels * np.log(variances[k])
    visits[:] = 0
    previous = -1
    for n in range(n_frames):
        best, best_m = -np.inf, 0
        for m in range(count):
            k = rank[m]
            d2 = 0.0
            for c in range(n_channels):
                d = frames[n, pixel, c] - means[k, c]
                d2 += d * d
            score = offset[m] - 0.5 * d2 / variances[k]
            if score > best:
                best, best_m = score, m
        if best_m != previous:
            visits[best_m] += 1
            previous = best_m


@njit(parallel=True, cache=True)
def to_mixture(frames, weights, means, variances, min_weight, keep_ratio, min_visits,
               match_threshold2, var_min, var_max, planes, n_components):
    """Write components fitted to ``frames`` (uint8, N x P x C) into the online model's state
    ``planes`` [K, P, 2 + C] and ``n_components``. Per pixel: components closer than the match
    threshold merge (``_merge_close``, in place); those with weight below ``min_weight`` drop out;
    the rest are ranked by ``w / sigma``. The background set of the clip is cut from the top of
    that ranking, while the weights ranked above sum below ``keep_ratio``; within it, the first
    component is always kept and any other only if the pixel returned to it at least
    ``min_visits`` times (``_count_visits``): a mode of a moving background (leaves, water)
    recurs, an object that stood still is one long visit. The kept weights are renormalised.
    """
    n_pixels, k_max = weights.shape
    n_channels = means.shape[2]
    for p in prange(n_pixels):
        _merge_close(weights[p], means[p], variances[p], match_threshold2, var_min, var_max)
        rank = np.empty(k_max, dtype=np.int64)
        visits = np.empty(k_max, dtype=np.int64)
        offset = np.empty(k_max)
        count = _rank(weights[p], variances[p], min_weight, rank)
        _count_visits(frames, p, weights[p], means[p], variances[p], rank, count, offset, visits)
        total = 0.0
        for m in range(count):
            total += weights[p, rank[m]]
        kept = 0
        kept_weight = 0.0
        above = 0.0
        planes[:, p, :] = 0.0
        for m in range(count):
            if above >= keep_ratio * total:
                break
            k = rank[m]
            above += weights[p, k]
            if m > 0 and visits[m] < min_visits:
                continue
            planes[kept, p, kernels.WEIGHT] = weights[p, k]
            planes[kept, p, kernels.VARIANCE] = variances[p, k]
            for c in range(n_channels):
                planes[kept, p, kernels.MEAN + c] = means[p, k, c]
            kept_weight += weights[p, k]
            kept += 1
        for m in range(kept):
            planes[m, p, kernels.WEIGHT] /= kept_weight
        n_components[p] = kept


def min_visits(n_frames, recurrence=RECURRENCE):
    """The visits a fitted component beside the first needs to be kept (see :func:`to_mixture`):
    ``recurrence`` per frame of the clip, rounded up (0: none)."""
    return int(np.ceil(recurrence * n_frames - 1e-9))  # 0.1 x 50 is 5, not 5.000...1


def stack_frames(frames):
    """The frames of an iterable (or an (N, H, W[, C]) array) as uint8 (N, H, W[, C]), held once:
    a list or tuple fills a buffer of its length; any other iterable's buffer grows by doubling
    (while it grows, the old and the new buffer coexist)."""
    if isinstance(frames, np.ndarray):
        return frames
    size = len(frames) if isinstance(frames, (list, tuple)) else 16
    buffer, count = None, 0
    for frame in frames:
        frame = np.asarray(frame)
        if buffer is None:
            buffer = np.empty((size,) + frame.shape, dtype=frame.dtype)
        elif frame.shape != buffer.shape[1:]:
            raise ConfigError(f"fit: frame {count + 1} has shape {frame.shape}, "
                              f"the first had {buffer.shape[1:]}")
        if count == len(buffer):
            grown = np.empty((2 * count,) + frame.shape, dtype=frame.dtype)
            grown[:count] = buffer
            buffer = grown
        buffer[count] = frame
        count += 1
    if buffer is None:
        return np.empty((0, 0, 0), dtype=np.uint8)
    return buffer[:count]


def fit_pixels(samples, k, var_min, var_max, iterations, tolerance, trace_length=0):
    """EM on ``samples``, uint8 (N, P, C): returns ``(weights, means, variances, n_iterations,
    trace)`` with shapes (P, K), (P, K, C), (P, K), (P,) and (P, trace_length)."""
    n_frames, n_pixels, n_channels = samples.shape
    weights = np.zeros((n_pixels, k))
    means = np.zeros((n_pixels, k, n_channels))
    variances = np.ones((n_pixels, k))
    initialise(samples, k, float(var_min), float(var_max), weights, means, variances)
    n_iterations = np.zeros(n_pixels, dtype=np.int32)
    trace = np.full((n_pixels, trace_length), np.nan)
    expectation_maximisation(samples, weights, means, variances, int(iterations),
                             float(tolerance), float(var_min), float(var_max), n_iterations, trace)
    return weights, means, variances, n_iterations, trace
