"""Where the post-processing's filters can mark nothing: a screen of the mask by the sums of its
cells, so that the filters skip the tiles it clears."""

import numpy as np

from bgsub.models import numba_cache

numba_cache.configure()

from numba import njit  # noqa: E402  (the cache directory is chosen before numba loads)

CELL = 8  # pixels per side of the cells whose sums screen the mask


@njit(cache=True, nogil=True)
def cell_sums(mask, edge, out):
    """Sets ``out[r, c]`` to the sum of the uint8 ``mask`` (H x W) over the ``CELL`` x ``CELL``
    pixels from ``(r * CELL, c * CELL)`` (cut by the frame), counting each pixel of the frame's
    first and last rows ``1 + edge`` times, and of its first and last columns as well (corners
    ``(1 + edge)^2`` times): a window of ``2 edge + 1`` pixels per side, padded by repeating the
    border, holds each border pixel at most that often. ``out`` has ``ceil(H / CELL)`` x
    ``ceil(W / CELL)`` int64 cells."""
    height, width = mask.shape
    columns = np.zeros(width, np.uint16)  # a band's sum per column: at most CELL * 255
    for r in range(out.shape[0]):
        columns[:] = 0
        for y in range(r * CELL, min((r + 1) * CELL, height)):
            for x in range(width):
                columns[x] += np.uint16(mask[y, x])
        whole = width // CELL
        for c in range(whole):
            total = 0
            for k in range(CELL):
                total += columns[c * CELL + k]
            out[r, c] = total
        if whole < out.shape[1]:
            out[r, whole] = columns[whole * CELL:].sum()
    if edge == 0:
        return
    # The border's weight (1 + edge n_y)(1 + edge n_x), n counting the frame's sides a pixel lies
    # on (two for both sides of a frame one pixel high or wide), term by term.
    for y in (0, height - 1):
        for x in range(width):
            out[y // CELL, x // CELL] += edge * mask[y, x]
    for x in (0, width - 1):
        for y in range(height):
            out[y // CELL, x // CELL] += edge * mask[y, x]
        for y in (0, height - 1):
            out[y // CELL, x // CELL] += edge * edge * mask[y, x]


@njit(cache=True, nogil=True)
def screen_tiles(sums, radius, least, per, needed):
    """Sets ``needed[t, u]`` where a cell of the tile ``(t, u)`` (``per`` x ``per`` cells from
    ``(t per, u per)``) has, over the cells within ``radius`` cells of it, ``sums`` adding up to
    ``least`` or more; clears the others."""
    rows, cols = sums.shape
    integral = np.zeros((rows + 1, cols + 1), np.int64)
    for r in range(rows):
        for c in range(cols):
            integral[r + 1, c + 1] = (sums[r, c] + integral[r, c + 1] + integral[r + 1, c]
                                      - integral[r, c])
    needed[:] = False
    for r in range(rows):
        r0, r1 = max(r - radius, 0), min(r + radius + 1, rows)
        for c in range(cols):
            c0, c1 = max(c - radius, 0), min(c + radius + 1, cols)
            total = integral[r1, c1] - integral[r0, c1] - integral[r1, c0] + integral[r0, c0]
            if total >= least:
                needed[r // per, c // per] = True
