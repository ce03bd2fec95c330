"""Settings given in frames or seconds, in pixels or as a share of the frame.

Durations (the events' ``min_frames``, ``quiet_frames``, ``pad_before``, ``pad_after``) are a
whole number of frames (``15``, ``"15f"``), seconds (``"2s"``, ``"0.5s"``, ``"1500ms"``) or a
timecode (``"00:00:01.5"``, ``"01:30"``: ``[[HH:]MM:]SS[.fff]``). They are turned into frames
once the input's frame rate is known, so one config means the same time at any frame rate.

Sizes are pixels (``25``) or a percentage of the frame: an area (``min_area: "0.01%"``) is a
share of the frame's pixels, an aperture (``median: "2%"``) a share of its shorter side, so a
setting keeps its effect when the resolution changes.
"""

from __future__ import annotations

import math
import re

_FRAMES = re.compile(r"(\d+)\s*f?")
_SECONDS = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(s|ms)")
_TIMECODE = re.compile(r"(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)")
_PERCENT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*%")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def parse_duration(value):
    """``(frames, seconds)`` of a duration setting, one of them None; ValueError if malformed."""
    if _is_int(value):
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        return value, None
    if not isinstance(value, str):
        raise ValueError(f"must be frames (15), seconds (2s) or a timecode (00:00:01.5), "
                         f"got {value!r}")
    text = value.strip()
    if match := _FRAMES.fullmatch(text):
        return int(match[1]), None
    if match := _SECONDS.fullmatch(text):
        seconds = float(match[1])
        return None, seconds / 1000 if match[2] == "ms" else seconds
    if match := _TIMECODE.fullmatch(text):
        hours, minutes, seconds = int(match[1] or 0), int(match[2]), float(match[3])
        if minutes >= 60 or seconds >= 60:
            raise ValueError(f"timecode minutes and seconds must be below 60, got {value!r}")
        return None, hours * 3600 + minutes * 60 + seconds
    raise ValueError(f"must be frames (15), seconds (2s) or a timecode (00:00:01.5), got {value!r}")


def duration_frames(value, fps):
    """A duration setting in frames at ``fps``; seconds are rounded to the nearest frame."""
    frames, seconds = parse_duration(value)
    if frames is not None:
        return frames
    return int(math.floor(seconds * float(fps) + 0.5))


def from_text(text):
    """A command-line value as the config holds it: digits are a whole number (frames or
    pixels), anything else stays text for the config to check (``2s``, ``0.01%``)."""
    text = text.strip()
    return int(text) if text.isdigit() else text


def parse_size(value):
    """``(pixels, percent)`` of a size setting, one of them None; ValueError if malformed."""
    if _is_int(value):
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        return value, None
    if isinstance(value, str):
        if match := _PERCENT.fullmatch(value.strip()):
            percent = float(match[1])
            if percent <= 100:
                return None, percent
            raise ValueError(f"must be at most 100%, got {value!r}")
    raise ValueError(f"must be pixels (25) or a percentage of the frame (0.01%), got {value!r}")


def area_pixels(value, shape):
    """An area setting in pixels for frames of ``shape`` (H, W): a percentage is of H x W,
    rounded to the nearest pixel but never from a nonzero share to 0."""
    pixels, percent = parse_size(value)
    if pixels is not None:
        return pixels
    area = percent / 100 * shape[0] * shape[1]
    return max(int(math.floor(area + 0.5)), 1) if area > 0 else 0


def aperture_pixels(value, shape):
    """A filter aperture setting in pixels for frames of ``shape`` (H, W): a percentage is of
    the shorter side, rounded to the nearest odd size (median filters need odd ones); 0 = off."""
    pixels, percent = parse_size(value)
    if pixels is not None:
        return pixels
    size = percent / 100 * min(shape[0], shape[1])
    if size <= 0:
        return 0
    return max(1, 2 * int(math.floor(size / 2)) + 1)
