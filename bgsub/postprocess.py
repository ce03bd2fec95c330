"""Post-processing of raw masks: region of interest, median filter, morphology, small blobs.

Order: ROI first (pixels outside are never foreground; applied again after the filters, which
could otherwise spill into a concave ROI's corners), then the median filter (removes the
salt-and-pepper noise of per-pixel decisions), opening (erases thin false detections), closing
(fills holes in objects), and finally blobs below ``min_area`` pixels are dropped.

Each size is pixels or a percentage of the frame (:mod:`bgsub.units`: an aperture of its shorter
side, an area of its pixels), worked out once per frame size, so one setting filters a 320x240
and a 1080p camera alike.

The median and the morphology run only on the tiles where they can mark something (a screen of
the mask by its cell sums, :func:`screened`): a 1080p mask's few objects cost a fraction of
filtering the whole frame, and the result is the same.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from bgsub.errors import ConfigError
from bgsub.units import aperture_pixels, area_pixels


@dataclass(frozen=True)
class Blob:
    """A connected foreground region: bounding box ``(x, y, w, h)``, ``area`` in pixels."""

    x: int
    y: int
    w: int
    h: int
    area: int


def roi_mask(roi, shape):
    """The region of interest as a uint8 0/255 mask of ``shape`` (H, W), or None for everything.

    ``roi`` is an image path (nonzero = inside; resized with nearest neighbour if its size
    differs) or polygons: one list of ``[x, y]`` points or a list of such lists.
    """
    if roi is None:
        return None
    height, width = shape[:2]
    if isinstance(roi, str):
        image = cv2.imread(roi, cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ConfigError(f"cannot read ROI image: {roi}")
        if image.shape != (height, width):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_NEAREST)
        return np.where(image > 0, np.uint8(255), np.uint8(0))
    polygons = roi if isinstance(roi[0][0], (list, tuple)) else [roi]
    mask = np.zeros((height, width), dtype=np.uint8)
    points = [np.round(np.asarray(p, dtype=np.float64)).astype(np.int32) for p in polygons]
    cv2.fillPoly(mask, points, 255)
    return mask


def find_blobs(mask, min_area=1):
    """Connected components (8-connected) of ``mask`` with at least ``min_area`` pixels."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return [
        Blob(int(s[0]), int(s[1]), int(s[2]), int(s[3]), int(s[4]))
        for s in stats[1:count]
        if s[cv2.CC_STAT_AREA] >= min_area
    ]


BOX_COLOUR = (0, 255, 0)  # BGR: blob boxes in overlays, snapshots and the live window


def draw_boxes(image, blobs, thickness=1):
    """Draw a green box around each blob on the BGR ``image`` (in place; returned for
    chaining)."""
    for blob in blobs:
        cv2.rectangle(image, (blob.x, blob.y), (blob.x + blob.w - 1, blob.y + blob.h - 1),
                      BOX_COLOUR, thickness)
    return image


class PostProcessor:
    """Applies the ``postprocess`` section of a config
    (:class:`~bgsub.config.PostprocessConfig`, or a mapping of some of its keys, the others at
    their defaults) to each raw mask.

    The ROI and the filter sizes are worked out once per frame size; masks must be uint8 0/255.
    """

    def __init__(self, settings):
        from bgsub.config import section_of  # loads the models: only when a stage is built

        self.settings = section_of("postprocess", settings)
        self._roi_shape = None
        self._roi = None
        self._sizes_shape = None

    def roi(self, shape):
        """The ROI mask for frames of ``shape`` (cached), or None when there is no ROI."""
        if self._roi_shape != shape[:2]:
            self._roi = roi_mask(self.settings.roi, shape)
            self._roi_shape = shape[:2]
        return self._roi

    def sizes(self, shape):
        """For frames of ``shape`` (cached): the median's aperture (0: off), the opening and
        closing kernels (None: off) and the least blob area, in pixels."""
        if self._sizes_shape != shape[:2]:
            median, opening, closing = (aperture_pixels(size, shape) for size in (
                self.settings.median, self.settings.open, self.settings.close))
            self._median = median if median > 1 else 0
            self._open = _ellipse(opening)
            self._close = _ellipse(closing)
            self._min_area = area_pixels(self.settings.min_area, shape)
            self._sizes_shape = shape[:2]
        return self._median, self._open, self._close, self._min_area

    def __call__(self, mask):
        roi = self.roi(mask.shape)
        self.sizes(mask.shape)
        if roi is not None:
            mask = cv2.bitwise_and(mask, roi)
        if self._median:
            mask = binary_median(mask, self._median)
        if self._open is not None:
            mask = morphology(mask, cv2.MORPH_OPEN, self._open)
        if self._close is not None:
            mask = morphology(mask, cv2.MORPH_CLOSE, self._close)
        if roi is not None and (self._median or self._close is not None):
            # Median and closing can grow foreground into a concave ROI's outside corners.
            mask = cv2.bitwise_and(mask, roi)
        if self._min_area > 1:
            mask = remove_small_blobs(mask, self._min_area)
        return mask


def _ellipse(size):
    """The elliptic structuring element of ``size`` (None below 2: no filter)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size,) * 2) if size > 1 else None


def remove_small_blobs(mask, min_area):
    """``mask`` without the 8-connected components smaller than ``min_area`` pixels."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return np.where(keep[labels], np.uint8(255), np.uint8(0))


def binary_median(mask, size):
    """The ``size`` x ``size`` median of a 0/255 mask, as ``cv2.medianBlur`` computes it.

    On two values the median is a majority vote: 255 where more than half the window is 255,
    i.e. where the window's mean exceeds 127.5. A box filter finds that mean in constant time per
    pixel, several times faster than the median filter (whose cost grows with the window); and
    it runs only on the tiles where a window can hold that much (:func:`on_tiles`). Masks with
    other values (127 for shadows) get the same mean's threshold."""
    half = size // 2
    # Where a window's sum stays below 127 size^2 its mean rounds to 127 at most: 0 after the
    # threshold. The border counts as often as the padding repeats it.
    return screened(mask, lambda part: _box_majority(part, size), half, 127 * size * size, half,
                    MEDIAN_CALL_PIXELS, edge=half)


def _box_majority(mask, size):
    """255 where the ``size`` x ``size`` window's mean (border repeated) exceeds 127, else 0."""
    mean = cv2.blur(mask, (size, size), borderType=cv2.BORDER_REPLICATE)
    return cv2.threshold(mean, 127, 255, cv2.THRESH_BINARY)[1]


def morphology(mask, operation, kernel):
    """``cv2.morphologyEx(mask, operation, kernel)`` for an opening or a closing, run only on
    the tiles within reach of a foreground pixel (:func:`on_tiles`): both leave every pixel
    that no kernel placement links to foreground at 0 (an opening keeps a subset of the mask, a
    closing of its dilation), with OpenCV's default borders."""
    reach = max(kernel.shape)
    return screened(mask, lambda part: cv2.morphologyEx(part, operation, kernel), reach, 1,
                    2 * reach, MORPHOLOGY_CALL_PIXELS)


TILE = 64  # pixels per side of the tiles that are filtered or skipped
# Smaller frames are filtered whole: the screen's fixed cost, about 0.2 ms, is more than it
# saves there (measured on highway masks: even at 640 x 480, 0.6x at 800 x 600, 0.3x at 1080p).
SCREENED_PIXELS = 640 * 480
# What one more call of a filter costs, in pixels filtered (OpenCV 4.12, one thread, measured
# on 68 x 68 parts against a 1080p frame): the box median's about 15 000, a 5 px closing's
# 60 000. Parts closer than that are filtered together.
MEDIAN_CALL_PIXELS = 15_000
MORPHOLOGY_CALL_PIXELS = 60_000


def screened(mask, function, reach, least, margin, call_pixels, edge=0):
    """``function(mask)``, for a filter that leaves at 0 every pixel whose surroundings within
    ``reach`` sum to less than ``least`` (border pixels counted ``1 + edge`` times per side),
    that reads no further than ``margin`` pixels and whose calls cost ``call_pixels`` each: run
    on the tiles that :func:`needed_tiles` keeps (:func:`on_tiles`), or on the whole of a small
    frame."""
    if mask.size < SCREENED_PIXELS:
        return function(mask)
    return on_tiles(mask, needed_tiles(mask, edge, reach, least), margin, function, call_pixels)


def needed_tiles(mask, edge, reach, least):
    """Which ``TILE`` x ``TILE`` tiles of ``mask`` hold a pixel within ``reach`` of which the
    mask sums to ``least`` or more, by a bound: the sums of the cells that reach meets (the
    frame's border pixels counted ``1 + edge`` times per side,
    :func:`bgsub.models.kernels.cell_sums`). A tile it leaves out has no such pixel."""
    from bgsub.models.kernels import CELL, cell_sums, screen_tiles  # loads Numba when first used

    height, width = mask.shape
    sums = np.empty((-(-height // CELL), -(-width // CELL)), np.int64)
    cell_sums(mask, edge, sums)
    needed = np.empty((-(-height // TILE), -(-width // TILE)), np.bool_)
    screen_tiles(sums, -(-reach // CELL), least, TILE // CELL, needed)
    return needed


def on_tiles(mask, needed, margin, function, call_pixels=0):
    """``function(mask)`` where the tile grid ``needed`` (``TILE`` x ``TILE`` pixels a cell) is
    True, 0 elsewhere: the same as ``function(mask)`` itself when the filter leaves the tiles
    not needed at 0 and reads no further than ``margin`` pixels from each output pixel.

    Runs of needed tiles along a tile row (joined across gaps that cost less to filter than a
    call, ``call_pixels``), carried down while the next rows repeat them, are filtered with a
    ``margin`` of pixels around them (cut at the frame, where the filter's own border applies as
    on the whole frame). When those parts and their calls come to half the frame or more, the
    whole frame is filtered at once."""
    height, width = mask.shape
    if 2 * np.count_nonzero(needed) * TILE * TILE >= height * width:
        return function(mask)  # the parts would hold these tiles at least: no need to list them
    gap = call_pixels // (TILE * (TILE + 2 * margin))  # tiles of a row worth one call
    parts = []
    for r0, r1, c0, c1 in _rectangles(needed, gap):
        inner = (r0 * TILE, min(r1 * TILE, height), c0 * TILE, min(c1 * TILE, width))
        outer = (max(inner[0] - margin, 0), min(inner[1] + margin, height),
                 max(inner[2] - margin, 0), min(inner[3] + margin, width))
        parts.append((inner, outer))
    # Parts also cost the output's zeroing and their copies: on a 1080p foliage mask, parts
    # covering 84 % of the frame took longer than the whole of it. Below half, they pay.
    area = sum((y1 - y0) * (x1 - x0) for _, (y0, y1, x0, x1) in parts)
    if 2 * (area + len(parts) * call_pixels) >= height * width:
        return function(mask)
    out = np.zeros_like(mask)
    for (y0, y1, x0, x1), (oy0, oy1, ox0, ox1) in parts:
        filtered = function(mask[oy0:oy1, ox0:ox1])
        out[y0:y1, x0:x1] = filtered[y0 - oy0:y1 - oy0, x0 - ox0:x1 - ox0]
    return out


def _rectangles(needed, gap=0):
    """Rectangles ``(r0, r1, c0, c1)`` (tile rows and columns, ends excluded) covering the True
    cells of ``needed``: each row's runs, joined across ``gap`` or fewer False cells, a run
    extended down while the rows below hold the same one."""
    # Each row framed by False cells, then differenced (np.pad and np.diff cost ten times more
    # on a grid this small: 0.07 ms of a frame's post-processing)
    framed = np.zeros((needed.shape[0], needed.shape[1] + 2), np.int8)
    framed[:, 1:-1] = needed
    steps = framed[:, 1:] - framed[:, :-1]
    rows, starts = np.nonzero(steps == 1)
    ends = np.nonzero(steps == -1)[1]  # row by row, in step with the starts
    runs = [[] for _ in range(len(needed))]
    for r, c0, c1 in zip(rows.tolist(), starts.tolist(), ends.tolist()):
        row = runs[r]
        if row and c0 - row[-1][1] <= gap:
            row[-1] = (row[-1][0], c1)
        else:
            row.append((c0, c1))
    open_runs, done = {}, []  # run -> its first row
    for r, row in enumerate(runs):
        for run in [run for run in open_runs if run not in row]:
            done.append((open_runs.pop(run), r, *run))
        for run in row:
            open_runs.setdefault(run, r)
    return done + [(r0, len(needed), *run) for run, r0 in open_runs.items()]
