"""Image folders and glob patterns, read as one numbered series (see :mod:`bgsub.sources`)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from bgsub.errors import SourceError
from bgsub.sources.base import DEFAULT_FPS, IMAGE_EXTENSIONS, Frame, Source, normalize_image

log = logging.getLogger(__name__)
_LAST_DIGITS = re.compile(r"(\d+)(?!.*\d)")


def _series_key(name: str) -> str:
    """The file name with its last run of digits replaced by ``#``, lower-cased."""
    return _LAST_DIGITS.sub("#", name, count=1).lower()




def _frame_number(name: str, index: int) -> int:
    match = _LAST_DIGITS.search(Path(name).stem)
    return int(match.group(1)) if match else index + 1


def _natural_key(path: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path)]


def is_image_file(path: str) -> bool:
    """Whether ``path`` is a file with an image suffix (:data:`IMAGE_EXTENSIONS`)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS and os.path.isfile(path)


def pick_series(folder: Path) -> list[str]:
    """The image files of ``folder`` that form its largest numbered series (see module doc)."""
    groups: dict[str, list[str]] = {}
    for entry in os.scandir(folder):
        if not entry.name.startswith(".") and is_image_file(entry.path):
            groups.setdefault(_series_key(entry.name), []).append(entry.path)
    if not groups:
        raise SourceError(f"no images in folder: {folder}")
    ranked = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    if len(ranked) > 1 and len(ranked[1][1]) == len(ranked[0][1]):
        patterns = ", ".join(key.replace("#", "*") for key, _ in ranked[:3])
        raise SourceError(f"cannot tell which images are frames in {folder} "
                          f"({patterns}); pass a glob such as '{folder}/{ranked[0][0].replace('#', '*')}'")
    chosen = ranked[0][1]
    skipped = sum(len(files) for _, files in ranked[1:])
    if skipped:
        log.info("reading %d images %s from %s, skipping %d other images",
                 len(chosen), ranked[0][0].replace("#", "*"), folder, skipped)
    return chosen


class ImageSource(Source):
    """A numbered series of image files (a folder or a glob), read in natural order."""

    kind = "images"

    def __init__(self, files: Sequence[str], label: str, fps: float = DEFAULT_FPS,
                 realtime: bool = False, strict: bool = False):
        super().__init__(realtime)
        self._files = sorted(files, key=_natural_key)
        self.fps = fps
        self.frame_count = len(self._files)
        self.strict = strict
        self.skipped = 0
        self._position = 0
        self._first = None
        while self._first is None:
            if self._position == len(self._files):
                raise SourceError(f"no readable images: {label}")
            self._first = self._load(self._files[self._position])
            self._position += self._first is None
        self._first_shape = self._first.shape
        height, width = self._first.shape[:2]
        self.size = (width, height)
        self.description = f"{len(self._files)} images {label} ({width}x{height}, {fps:g} fps)"

    def _load(self, path: str) -> np.ndarray | None:
        """The image at ``path``; None for an undecodable one, which is skipped with a warning
        (counted in ``skipped``) unless the source is ``strict``."""
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if image is None:
            if self.strict or len(self._files) == 1:
                raise SourceError(f"cannot read image: {path}")
            log.warning("skipped an unreadable image: %s", path)
            self.skipped += 1
            return None
        return normalize_image(image, path)

    def _conform(self, image: np.ndarray) -> np.ndarray:
        """Match the first frame's colour layout (converted). A frame of another size passes as
        it is: the model re-initialises and videos keep their first size, as for a camera that
        changes mode (docs/events.md)."""
        if image.ndim != len(self._first_shape):
            code = cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_BGR2GRAY
            image = cv2.cvtColor(image, code)
        return image

    def _frames(self) -> Iterator[Frame]:
        while self._position < len(self._files):
            index = self._position
            path = self._files[index]
            image: np.ndarray | None
            if self._first is not None:
                image, self._first = self._first, None
            else:
                image = self._load(path)
            self._position += 1
            if image is not None:
                name = os.path.basename(path)
                yield Frame(_frame_number(name, index), index / self.fps, self._conform(image),
                            name)
