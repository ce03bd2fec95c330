"""The preview's controls: key bindings, the help they show, and the trackbar scales."""

from __future__ import annotations

import math


THRESHOLD_STEP = 0.1
# What the keys may set (the model itself accepts (0, 100]).
THRESHOLD_LIMITS = (0.1, 100.0)
# Trackbar positions: threshold in tenths of a standard deviation, 0.1 .. 20.
THRESHOLD_SLIDER = (1, 200)
# Learning-rate trackbar: 0 is the automatic schedule, position p is 10 ** ((p - 40) / 10),
# so each 10 steps is a decade from 1e-4 (p = 0+) to 1 (p = 40).
LEARNING_RATE_SLIDER_MAX = 40
NOTICE_SECONDS = 2.5

# Key code (lower-case character, or 27 for Esc) -> action.
KEYS = {
    ord("q"): "quit",
    27: "quit",
    ord(" "): "pause",
    ord("r"): "reset",
    ord("s"): "snapshot",
    ord("b"): "background",
    ord("d"): "scores",
    ord("+"): "threshold_up",
    ord("="): "threshold_up",  # '+' without Shift on most layouts
    ord("-"): "threshold_down",
    ord("_"): "threshold_down",
    ord("h"): "help",
}

HELP = (
    ("q / Esc", "quit"),
    ("space", "pause / resume"),
    ("r", "reset the model (relearn the background)"),
    ("s", "save a snapshot (PNG files)"),
    ("b", "show / hide the background pane"),
    ("d", "show / hide the score pane (distance to the background, in sigmas)"),
    ("+ / -", f"raise / lower the threshold by {THRESHOLD_STEP:g}"),
    ("h", "show / hide this help"),
)



def action_for_key(code: int) -> str | None:
    """The action bound to a key code from ``cv2.waitKey`` (-1 for no key), or None."""
    if not 0 <= code < 256:
        return None
    return KEYS.get(ord(chr(code).lower()))


def learning_rate_at(position: int) -> float | None:
    """The learning rate a trackbar position stands for (None: the automatic schedule)."""
    if position <= 0:
        return None
    return 10.0 ** ((min(position, LEARNING_RATE_SLIDER_MAX) - LEARNING_RATE_SLIDER_MAX) / 10.0)


def learning_rate_position(rate: float | None) -> int:
    """The trackbar position nearest to learning rate ``rate`` (0 for None)."""
    if rate is None:
        return 0
    position = round(LEARNING_RATE_SLIDER_MAX + 10.0 * math.log10(rate))
    return min(max(position, 1), LEARNING_RATE_SLIDER_MAX)


def threshold_position(threshold: float) -> int:
    """The threshold trackbar position (tenths, clamped to the trackbar's range)."""
    low, high = THRESHOLD_SLIDER
    return min(max(round(threshold * 10), low), high)
