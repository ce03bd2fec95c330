"""Ghost absorption: background uncovered by a departed object relearns from its neighbours."""

import numpy as np

from bgsub.models import numba_cache

numba_cache.configure()

from numba import njit  # noqa: E402  (the cache directory is chosen before numba loads)

from bgsub.models.kernels.components import _channels, _distance2, _store_channels  # noqa: E402
from bgsub.models.kernels.hints import _prefetch  # noqa: E402
from bgsub.models.kernels.layout import FOREGROUND, MEAN, VARIANCE, WEIGHT, _u  # noqa: E402


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
GHOST_CHUNK = 16  # pixels of a screened-in block whose still counts are compared at once


@njit(inline="always")
def _explained_by(x, flat, q, n_components, step, slots, threshold2, background_ratio,
                  n_channels):
    """True when ``x`` lies within ``threshold2`` of a background component of pixel ``q``
    (``flat`` the state's planes flattened, ``step`` from one rank's plane to the next)."""
    cumulative = np.float32(0.0)
    o = q * slots
    for _ in range(n_components[q]):
        if cumulative >= background_ratio:
            break
        mu = _channels(flat, o + _u(MEAN), n_channels)
        if _distance2(x, mu, n_channels) < threshold2 * flat[o + _u(VARIANCE)]:
            return True
        cumulative += flat[o + _u(WEIGHT)]
        o += step
    return False


@njit(inline="always")
def _window(i, width, height):
    """``(first row, end row, first column, end column)`` of the pixels within ``GHOST_RADIUS``
    of pixel ``i``, cut by the frame (ends excluded)."""
    row, col = i // width, i % width
    return (max(row - GHOST_RADIUS, 0), min(row + GHOST_RADIUS + 1, height),
            max(col - GHOST_RADIUS, 0), min(col + GHOST_RADIUS + 1, width))


@njit(inline="always")
def _is_ghost(x, i, width, height, labels, flat, n_components, step, slots, threshold2,
              background_ratio, n_channels):
    """True when a non-foreground pixel within ``GHOST_RADIUS`` of pixel ``i`` explains ``x``."""
    r0, r1, c0, c1 = _window(i, width, height)
    for q_row in range(r0, r1):
        for q_col in range(c0, c1):
            q = _u(q_row * width + q_col)
            if labels[q] != FOREGROUND and _explained_by(
                x, flat, q, n_components, step, slots, threshold2, background_ratio, n_channels
            ):
                return True
    return False


@njit(inline="always")
def _any_still(still, start, ghost_frames):
    """Whether a pixel of ``start .. start + GHOST_CHUNK - 1`` is still for ``ghost_frames``."""
    found = False
    for k in range(GHOST_CHUNK):
        found |= still[_u(start) + _u(k)] >= ghost_frames
    return found


@njit(inline="always")
def _prefetch_neighbourhood(flat, i, width, height, slots):
    """Ask for the top components of the pixels within ``GHOST_RADIUS`` of pixel ``i`` (``flat``
    the state's planes flattened), which the mixture kernel's pass has evicted from the caches
    by the time the candidates are tested."""
    r0, r1, c0, c1 = _window(i, width, height)
    for q_row in range(r0, r1):
        o = _u(q_row * width + c0) * slots
        last = _u(q_row * width + c1) * slots - _u(1)
        while o < last:
            _prefetch(flat, o)
            o += _u(16)  # floats in a 64-byte line
        _prefetch(flat, last)


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
    n_channels = frame.shape[1]
    candidates = np.empty(GHOST_BLOCK, dtype=np.int64)
    flat = planes.reshape(-1)
    slots = _u(planes.shape[2])
    step = _u(planes.shape[1]) * slots
    height = labels.shape[0] // width
    for block in range(start, stop, GHOST_BLOCK):
        end = min(block + GHOST_BLOCK, stop)
        # Still pixels are rare: a block's largest count (Numba's max vectorises, a loop over
        # signed indices does not) rules most blocks out at a tenth of the cost of testing
        # their pixels one by one, and within a block chunks without one are skipped at once.
        if still[block:end].max() < ghost_frames:
            continue
        count = 0
        for chunk in range(block, end, GHOST_CHUNK):
            if chunk + GHOST_CHUNK <= end and not _any_still(still, chunk, ghost_frames):
                continue
            for i in range(chunk, min(chunk + GHOST_CHUNK, end)):
                if still[i] >= ghost_frames:
                    candidates[count] = i
                    count += 1
                    _prefetch_neighbourhood(flat, i, width, height, slots)
        for k in range(count):
            i = candidates[k]
            x = _channels(frame[i], _u(0), n_channels)
            if _is_ghost(x, i, width, height, labels, flat, n_components, step, slots, t2, ratio,
                         n_channels):
                o = _u(i) * slots
                flat[o + _u(WEIGHT)] = 1.0
                flat[o + _u(VARIANCE)] = var_init
                _store_channels(flat, o + _u(MEAN), x, n_channels)
                n_components[i] = 1
                still[i] = 0
