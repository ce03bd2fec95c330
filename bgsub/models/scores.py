"""Per-pixel score map of the mixtures: each pixel's Mahalanobis distance, in sigmas, to its
nearest background component (notation of :mod:`bgsub.models.kernels`).

``score = min over background components of sqrt(|x - mu|^2 / var * 3 / C)`` (the threshold is
stated for three channels, :data:`bgsub.models.base.REFERENCE_CHANNELS`), where the background
components are the top-ranked ones whose higher-ranked weights sum below ``background_ratio``. It is
computed on the state *before* the frame's update, by a kernel of its own that runs only when a
model's ``compute_scores`` is set, so the update kernel is untouched and costs nothing extra
otherwise. The update kernel labels a pixel background when ``d2 < threshold2``, with weights
first decayed by this frame's learning rate: a score above ``threshold`` is foreground, up to that
decay (and, for the feedback model, up to its per-pixel threshold scale).
"""

import cv2
import numpy as np

from bgsub.models import kernels, numba_cache

numba_cache.configure()

from numba import njit, prange  # noqa: E402  (the cache directory is chosen before numba loads)


@njit(inline="always")
def _nearest_background2(frame, i, planes, n_components, ratio):
    """Smallest ``|x - mu|^2 / var`` over pixel ``i``'s background components, in float64."""
    n_channels = planes.shape[2] - kernels.MEAN
    best = np.inf
    cumulative = 0.0
    for m in range(n_components[i]):
        if cumulative >= ratio:
            break
        d2 = 0.0
        for c in range(n_channels):
            d = float(frame[i, c]) - float(planes[m, i, kernels.MEAN + c])
            d2 += d * d
        best = min(best, d2 / float(planes[m, i, kernels.VARIANCE]))
        cumulative += float(planes[m, i, kernels.WEIGHT])
    return best


@njit(parallel=True, cache=True)
def background_distance(frame, planes, n_components, background_ratio, channel_scale, out):
    """``out[i]`` (float32) = pixel ``i``'s distance in sigmas to its nearest background
    component, its square times ``channel_scale`` (3 / C); ``frame`` is the (N, C) uint8 pixels,
    ``planes`` the [K, N, 2 + C] state."""
    for i in prange(out.shape[0]):
        d2 = _nearest_background2(frame, i, planes, n_components, background_ratio)
        out[i] = np.sqrt(d2 * channel_scale)


# The heat map's fixed scale: the same colour is the same distance in every frame and video.
SCALE_MAX = 12.0  # sigmas at the top of the colour scale (over twice the default threshold)
COLORMAP = cv2.COLORMAP_TURBO
LEGEND_ROWS = 10  # the colour bar under the map


def heat_map(scores, threshold, inside=False):
    """BGR heat map of ``scores`` (H x W, sigmas) on the fixed scale 0 .. ``SCALE_MAX``, with a
    colour bar whose white tick marks ``threshold`` (above it: foreground). The bar goes under
    the map, or over its bottom rows with ``inside`` (to keep the frame's size)."""
    height, width = scores.shape
    levels = np.clip(scores * np.float32(255.0 / SCALE_MAX), 0, 255).astype(np.uint8)
    rows = min(LEGEND_ROWS, height) if inside else LEGEND_ROWS
    bar = np.repeat(np.linspace(0, 255, width).astype(np.uint8)[None, :], rows, axis=0)
    if inside:
        levels[height - rows:] = bar
    else:
        levels = np.vstack([levels, bar])
    image = cv2.applyColorMap(levels, COLORMAP)
    tick = min(int(round(threshold / SCALE_MAX * (width - 1))), width - 1)
    image[len(levels) - rows:, max(tick - 1, 0):tick + 1] = 255
    return image
