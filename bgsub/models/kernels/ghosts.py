"""Ghost absorption: background uncovered by a departed object relearns from its neighbours."""

import numpy as np

from bgsub.models import numba_cache

numba_cache.configure()

from numba import njit  # noqa: E402  (the cache directory is chosen before numba loads)

from bgsub.models.kernels.layout import FOREGROUND, MEAN, VARIANCE, WEIGHT  # noqa: E402


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
