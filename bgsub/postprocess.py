"""Post-processing of raw masks: region of interest, median filter, morphology, small blobs.

Order: ROI first (pixels outside are never foreground; applied again after the filters, which
could otherwise spill into a concave ROI's corners), then the median filter (removes the
salt-and-pepper noise of per-pixel decisions), opening (erases thin false detections), closing
(fills holes in objects), and finally blobs below ``min_area`` pixels are dropped.

Each size is pixels or a percentage of the frame (:mod:`bgsub.units`: an aperture of its shorter
side, an area of its pixels), worked out once per frame size, so one setting filters a 320x240
and a 1080p camera alike.
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
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        if self._close is not None:
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
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
    pixel, several times faster than the median filter (whose cost grows with the window)."""
    mean = cv2.blur(mask, (size, size), borderType=cv2.BORDER_REPLICATE)
    return cv2.threshold(mean, 127, 255, cv2.THRESH_BINARY)[1]
