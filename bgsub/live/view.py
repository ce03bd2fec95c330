"""Drawing the preview: tiled panes, the status strip and the help overlay."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from bgsub.live.controls import HELP

# The tiled view is scaled so it fits in this many pixels (width, height) ...
MAX_VIEW = (1280, 720)
# ... and small frames are enlarged until it is this wide, so the status text fits.
MIN_VIEW_WIDTH = 640
# Blob boxes are drawn around blobs of at least this many pixels (or --min-area, if larger).
BOX_MIN_AREA = 25

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TEXT_SCALE = 0.45
_LINE_HEIGHT = 18


def describe_model(model) -> str:
    """The model's name and the parameters worth watching while tuning, on one line."""
    p = model.params
    rate = "auto" if p.learning_rate is None else f"{p.learning_rate:.2g}"
    parts = [model.name, f"threshold {p.threshold:.2f}", f"learning rate {rate}",
             f"history {p.history}"]
    if hasattr(p, "k"):
        parts.append(f"k {p.k}")
    return "  ".join(parts)


def status_lines(model_text: str, fps: float, source_fps: float | None, foreground: float,
                 blobs: int, dropped: int, frame_number: int, flags: Sequence[str] = ()) -> list[str]:
    """The three lines of the status strip: the model, the measurements, the state flags."""
    rate = f"{fps:.1f} fps" + (f" (source {source_fps:g})" if source_fps else "")
    return [
        model_text,
        f"{rate}  foreground {foreground:.2f}%  blobs {blobs}  dropped {dropped}  "
        f"frame {frame_number}",
        "  ".join(["h: help", *flags]),
    ]


def as_bgr(image: np.ndarray) -> np.ndarray:
    """``image`` as 3-channel BGR (gray is repeated)."""
    return image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, columns) for ``count`` panes: one row up to three, else two columns."""
    columns = count if count <= 3 else 2
    return math.ceil(count / columns), columns


def pane_scale(frame_size: tuple[int, int], count: int, max_view: tuple[int, int] = MAX_VIEW,
               min_width: int = MIN_VIEW_WIDTH) -> float:
    """The factor that fits ``count`` panes of ``frame_size`` (w, h) into ``max_view``; frames
    smaller than needed for ``min_width`` are enlarged."""
    rows, columns = grid_shape(count)
    width, height = frame_size
    fit = min(max_view[0] / (columns * width), max_view[1] / (rows * height))
    enlarge = max(1.0, min_width / (columns * width))
    return min(fit, enlarge)


def _label(canvas: np.ndarray, text: str, x: int, y: int) -> None:
    (width, height), base = cv2.getTextSize(text, _FONT, _TEXT_SCALE, 1)
    cv2.rectangle(canvas, (x, y), (x + width + 8, y + height + base + 6), (0, 0, 0), cv2.FILLED)
    cv2.putText(canvas, text, (x + 4, y + height + 3), _FONT, _TEXT_SCALE, (255, 255, 255), 1,
                cv2.LINE_AA)


def tile(panes: Sequence[tuple[str, np.ndarray]], max_view: tuple[int, int] = MAX_VIEW,
         min_width: int = MIN_VIEW_WIDTH) -> np.ndarray:
    """Lay out ``panes`` ((label, image) pairs, images of one size) as a labelled BGR grid.

    Every pane is scaled by :func:`pane_scale`; an unfilled grid cell stays black.
    """
    height, width = panes[0][1].shape[:2]
    scale = pane_scale((width, height), len(panes), max_view, min_width)
    pane_w, pane_h = max(1, round(width * scale)), max(1, round(height * scale))
    rows, columns = grid_shape(len(panes))
    canvas = np.zeros((rows * pane_h, columns * pane_w, 3), dtype=np.uint8)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST
    for index, (label, image) in enumerate(panes):
        row, column = divmod(index, columns)
        y, x = row * pane_h, column * pane_w
        image = as_bgr(image)
        if (pane_w, pane_h) != (width, height):
            image = cv2.resize(image, (pane_w, pane_h), interpolation=interpolation)
        canvas[y:y + pane_h, x:x + pane_w] = image
        _label(canvas, label, x + 2, y + 2)
    return canvas


def add_status(canvas: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """``canvas`` with a black strip below it holding ``lines`` of text."""
    strip = np.zeros((_LINE_HEIGHT * len(lines) + 8, canvas.shape[1], 3), dtype=np.uint8)
    for index, line in enumerate(lines):
        cv2.putText(strip, line, (6, _LINE_HEIGHT * (index + 1)), _FONT, _TEXT_SCALE,
                    (230, 230, 230), 1, cv2.LINE_AA)
    return np.vstack([canvas, strip])


def _text_width(text: str) -> int:
    return cv2.getTextSize(text, _FONT, _TEXT_SCALE, 1)[0][0]


def draw_help(canvas: np.ndarray) -> np.ndarray:
    """``canvas`` with the key help in two columns on a darkened box in its top-left corner."""
    out = canvas.copy()
    margin, gap = 10, 16
    keys_width = max(_text_width(keys) for keys, _ in HELP)
    width = margin + keys_width + gap + max(_text_width(what) for _, what in HELP) + margin
    height = _LINE_HEIGHT * (len(HELP) + 1) + margin
    box = out[margin:margin + height, margin:margin + width]  # clipped to the canvas
    box[...] = box // 4
    left = 2 * margin
    cv2.putText(out, "keys", (left, margin + _LINE_HEIGHT), _FONT, _TEXT_SCALE, (0, 255, 255), 1,
                cv2.LINE_AA)
    for index, (keys, what) in enumerate(HELP, start=2):
        y = margin + _LINE_HEIGHT * index
        for x, text in ((left, keys), (left + keys_width + gap, what)):
            cv2.putText(out, text, (x, y), _FONT, _TEXT_SCALE, (255, 255, 255), 1, cv2.LINE_AA)
    return out
