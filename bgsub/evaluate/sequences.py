"""Sequences with per-pixel ground truth, in CDnet or Wallflower layout."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from bgsub.errors import SourceError
from bgsub.evaluate.scoring import GT_MOTION, GT_STATIC
from bgsub.sources import IMAGE_EXTENSIONS


_CDNET_FRAME = re.compile(r"in(\d+)$")
_CDNET_GT = re.compile(r"gt(\d+)$")
_WALLFLOWER_FRAME = re.compile(r"b(\d+)\.bmp$", re.IGNORECASE)
_WALLFLOWER_GT = re.compile(r"hand_segmented_(\d+)\.bmp$", re.IGNORECASE)



@dataclass(frozen=True, eq=False)
class Sequence:
    """One evaluation video: its frames in order, which of them are scored and their ground truth.

    ``frame_numbers[i]`` is the number of the frame stored at ``frame_paths[i]`` (taken from the
    file name). ``scored`` lists the numbers of the scored frames in order. ``roi`` is a boolean
    image, True where pixels are scored (all True when the dataset has no ROI).
    """

    name: str
    path: Path
    layout: str
    frame_numbers: tuple[int, ...]
    frame_paths: tuple[Path, ...]
    scored: tuple[int, ...]
    roi: np.ndarray = field(repr=False)
    gt_paths: dict[int, Path] = field(repr=False)

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(frame number, image)`` for every frame, in order, read exactly as ``bgsub run``
        reads an image folder (:class:`~bgsub.sources.ImageSource`): gray files stay gray."""
        from bgsub.sources import ImageSource

        with ImageSource([str(p) for p in self.frame_paths], str(self.path)) as source:
            for number, frame in zip(self.frame_numbers, source):
                yield number, frame.image

    def ground_truth(self, number: int) -> np.ndarray:
        """The CDnet-style label image (0 static, 50 shadow, 85/170 unscored, 255 motion) of a frame."""
        path = self.gt_paths.get(number)
        if path is None:
            raise SourceError(f"no ground truth for frame {number} of {self.path}")
        labels = read_image(path, cv2.IMREAD_GRAYSCALE)
        if self.layout == "wallflower":
            # Hand-segmented BMPs are white on black; threshold so that anti-aliased or
            # colour-saved files still map to exactly static/motion.
            labels = np.where(labels >= 128, GT_MOTION, GT_STATIC).astype(np.uint8)
        return labels


def load_sequence(path: str | Path) -> Sequence:
    """Load a CDnet or Wallflower sequence directory (see the module docstring for the layouts).

    Raises :class:`SourceError` when the directory is missing or is neither layout.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SourceError(f"{path} is a file, not a sequence directory (CDnet: input/ and "
                          "groundtruth/; Wallflower: frames and hand_segmented_*.BMP)")
    if not path.is_dir():
        raise SourceError(f"sequence directory not found: {path}")
    if (path / "input").is_dir():
        return _load_cdnet(path)
    if any(_WALLFLOWER_GT.match(p.name) for p in path.iterdir()):
        return _load_wallflower(path)
    raise SourceError(
        f"{path} is not a CDnet (input/, groundtruth/) or Wallflower "
        "(b*.bmp, hand_segmented_*.BMP) sequence"
    )


def _load_cdnet(path: Path) -> Sequence:
    frames = _numbered_files(path / "input", _CDNET_FRAME)
    gts = dict(_numbered_files(path / "groundtruth", _CDNET_GT)) if (path / "groundtruth").is_dir() else {}
    if not frames:
        raise SourceError(f"no input/inNNNNNN frames in {path}")
    if not gts:
        raise SourceError(f"no groundtruth/gtNNNNNN.png files in {path}")
    numbers = [n for n, _ in frames]
    first, last = _temporal_roi(path / "temporalROI.txt", numbers)
    scored = tuple(n for n in numbers if first <= n <= last)
    roi = _load_roi(path / "ROI.bmp", frames[0][1])
    return Sequence(path.name, path, "cdnet", tuple(numbers), tuple(p for _, p in frames),
                    scored, roi, gts)


def _load_wallflower(path: Path) -> Sequence:
    frames = sorted(
        (int(m.group(1)), p) for p in path.iterdir() if (m := _WALLFLOWER_FRAME.match(p.name))
    )
    if not frames:
        raise SourceError(f"no b*.bmp frames in {path}")
    gts = {int(m.group(1)): p for p in path.iterdir() if (m := _WALLFLOWER_GT.match(p.name))}
    numbers = [n for n, _ in frames]
    missing = sorted(set(gts) - set(numbers))
    if missing:
        raise SourceError(f"{gts[missing[0]]} has no matching frame b{missing[0]:05d}.bmp")
    roi = np.ones(read_image(frames[0][1], cv2.IMREAD_GRAYSCALE).shape, dtype=bool)
    return Sequence(path.name, path, "wallflower", tuple(numbers), tuple(p for _, p in frames),
                    tuple(sorted(gts)), roi, gts)


def _numbered_files(directory: Path, pattern: re.Pattern) -> list[tuple[int, Path]]:
    """``(number, path)`` of the image files whose stem matches ``pattern``, sorted by number."""
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        if p.suffix.lower() in IMAGE_EXTENSIONS and (m := pattern.match(p.stem)):
            found.append((int(m.group(1)), p))
    return sorted(found)


def _temporal_roi(path: Path, numbers: list[int]) -> tuple[int, int]:
    """The scored frame range from temporalROI.txt; all frames when the file is absent."""
    if not path.is_file():
        return numbers[0], numbers[-1]
    parts = path.read_text().split()
    try:
        first, last = (int(v) for v in parts[:2])
    except ValueError:  # not numbers, or fewer than two
        raise SourceError(f"{path} should hold two frame numbers 'first last'") from None
    return first, last


def _load_roi(path: Path, first_frame: Path) -> np.ndarray:
    if path.is_file():
        return read_image(path, cv2.IMREAD_GRAYSCALE) > 0
    return np.ones(read_image(first_frame, cv2.IMREAD_GRAYSCALE).shape, dtype=bool)


def read_image(path: Path, flags: int) -> np.ndarray:
    image = cv2.imread(str(path), flags)
    if image is None:
        raise SourceError(f"cannot read image {path}")
    return image
