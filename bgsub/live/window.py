"""The preview's highgui window, its trackbars, and the display check before it opens."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

import cv2
import numpy as np

from bgsub.errors import BgsubError
from bgsub.live.controls import (
    LEARNING_RATE_SLIDER_MAX,
    THRESHOLD_SLIDER,
    learning_rate_at,
    learning_rate_position,
    threshold_position,
)
from bgsub.live.session import LiveSession

WINDOW = "bgsub live"

_NO_DISPLAY_HINT = "bgsub live needs a window; use `bgsub run` to process without one"


def _x_server_answers(display: str) -> bool:
    """Whether an X server accepts a connection on ``display`` (Qt aborts the process if not)."""
    name = ctypes.util.find_library("xcb") or "libxcb.so.1"
    try:
        xcb = ctypes.CDLL(name)
    except OSError:
        return False
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        return xcb.xcb_connection_has_error(connection) == 0
    finally:
        xcb.xcb_disconnect(connection)


def check_display(environ=os.environ, platform: str = sys.platform) -> None:
    """Raise a one-line :class:`BgsubError` when no window can be opened.

    On Linux OpenCV's Qt backend aborts the whole process when there is no X display, so it is
    checked first; elsewhere :func:`open_window` reports a failure.
    """
    if not platform.startswith("linux"):
        return
    display = environ.get("DISPLAY", "")
    if not display:
        raise BgsubError(f"no display available ($DISPLAY is not set): {_NO_DISPLAY_HINT}")
    if not _x_server_answers(display):
        raise BgsubError(f"cannot connect to display {display}: {_NO_DISPLAY_HINT}")


class Window:
    """The highgui window with its two trackbars."""

    THRESHOLD_BAR = "threshold x0.1"
    LEARNING_BAR = "learning rate (log; 0 auto)"

    def __init__(self, title: str, threshold: float, learning_rate: float | None):
        check_display()
        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        except cv2.error:
            raise BgsubError(f"cannot open a window (this OpenCV has no GUI?): "
                             f"{_NO_DISPLAY_HINT}") from None
        cv2.setWindowTitle(WINDOW, title)
        cv2.createTrackbar(self.THRESHOLD_BAR, WINDOW, threshold_position(threshold),
                           THRESHOLD_SLIDER[1], _ignore)
        cv2.setTrackbarMin(self.THRESHOLD_BAR, WINDOW, THRESHOLD_SLIDER[0])
        cv2.createTrackbar(self.LEARNING_BAR, WINDOW, learning_rate_position(learning_rate),
                           LEARNING_RATE_SLIDER_MAX, _ignore)
        self._positions = self._read_positions()

    def _read_positions(self) -> tuple[int, int]:
        return (cv2.getTrackbarPos(self.THRESHOLD_BAR, WINDOW),
                cv2.getTrackbarPos(self.LEARNING_BAR, WINDOW))

    def moved(self) -> tuple[int | None, ...]:
        """Trackbar positions the user changed since the last call (None where unchanged)."""
        now = self._read_positions()
        changed = tuple(new if new != old else None for new, old in zip(now, self._positions))
        self._positions = now
        return changed

    def show_threshold(self, threshold: float) -> None:
        """Move the threshold trackbar to ``threshold`` (after a key changed it)."""
        position = threshold_position(threshold)
        cv2.setTrackbarPos(self.THRESHOLD_BAR, WINDOW, position)
        self._positions = (position, self._positions[1])

    def show(self, canvas: np.ndarray) -> None:
        cv2.imshow(WINDOW, canvas)

    @staticmethod
    def key(delay_ms: int) -> int:
        return cv2.waitKey(delay_ms)

    @staticmethod
    def is_open() -> bool:
        """False once the user has closed the window."""
        try:
            return cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error:  # Qt forgets a closed window entirely
            return False

    @staticmethod
    def close() -> None:
        try:
            cv2.destroyWindow(WINDOW)
            cv2.waitKey(1)
        except cv2.error:
            pass


def _ignore(_position: int) -> None:
    """Trackbar callback: positions are polled instead, so key changes do not echo back."""


def apply_trackbars(window: Window, session: LiveSession) -> None:
    """Give ``session`` the values of the trackbars the user moved since the last call."""
    threshold_pos, rate_pos = window.moved()
    if threshold_pos is not None:
        session.set_threshold(threshold_pos / 10.0)
    if rate_pos is not None:
        session.set_learning_rate(learning_rate_at(rate_pos))
