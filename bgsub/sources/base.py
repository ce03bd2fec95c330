"""What every source shares: the frame, the source interface and its pacing, reconnection
settings, image normalisation and the quieting of OpenCV's own diagnostics."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# Must be set before OpenCV first initialises its FFmpeg backend; -8 is AV_LOG_QUIET.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from bgsub.errors import SourceError  # noqa: E402

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm",
                              ".ppm", ".pbm"})
DEFAULT_FPS = 25.0
MAX_FPS = 1000.0
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "rtp", "srt")
# Network opens and reads give up after this long instead of hanging on a dead host.
STREAM_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Frame:
    """One frame: 1-based ``number`` (or the number in the image's file name), ``timestamp`` in
    seconds since the start, a uint8 gray or BGR ``image`` and, for image files, its ``name``."""

    number: int
    timestamp: float
    image: np.ndarray
    name: str | None = None


@dataclass(frozen=True)
class Reconnect:
    """How a stream that fails mid-run is reopened: one try after each delay (seconds)."""

    delays: tuple[float, ...] = (0.5, 1.0, 2.0)


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved_level = 0


@contextlib.contextmanager
def quiet_opencv():
    """Silence OpenCV's own log for the duration (failures are reported as one line instead).

    The log level is process-wide, so overlapping uses (reader threads) share one silence and the
    last one out restores the level.
    """
    global _quiet_depth, _quiet_saved_level
    with _quiet_lock:
        if _quiet_depth == 0:
            _quiet_saved_level = cv2.setLogLevel(0)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                cv2.setLogLevel(_quiet_saved_level)


def normalize_image(image: np.ndarray, what: str) -> np.ndarray:
    """Return ``image`` as uint8 gray (HxW) or BGR (HxWx3); ``what`` names it in errors.

    BGRA loses its alpha, single-channel HxWx1 becomes HxW, 16-bit keeps its high byte. Float and
    other pixel types are refused: their scale (0..1? 0..255?) cannot be guessed.
    """
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise SourceError(f"unsupported pixel type {image.dtype} (need 8- or 16-bit): {what}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise SourceError(f"unsupported image layout {image.shape}: {what}")
    return np.ascontiguousarray(image)


class Pacer:
    """Sleeps so that frame ``i`` is released no earlier than ``i / fps`` after the first.

    A consumer slower than the source is never made to wait and no frame is dropped. Time spent
    inside :meth:`held` (a paused preview) is not playback time; :meth:`stop` ends a wait early
    and makes later ones return at once (a reader being closed).
    """

    def __init__(self, fps: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] | None = None):
        self._period = 1.0 / fps
        self._clock = clock
        self._stopped = threading.Event()
        self._sleep = sleep if sleep is not None else self._stopped.wait
        self._start: float | None = None

    def wait(self, index: int) -> None:
        """Return once frame ``index`` (0-based) is due."""
        now = self._clock()
        if self._start is None:
            self._start = now
        delay = self._start + index * self._period - now
        if delay > 0 and not self._stopped.is_set():
            self._sleep(delay)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the clock for the duration: later frames are due that much later."""
        began = self._clock()
        try:
            yield
        finally:
            if self._start is not None:
                self._start += self._clock() - began

    def stop(self) -> None:
        """End a wait in progress and let every later one return at once."""
        self._stopped.set()


class Source:
    """An iterable of :class:`Frame` with ``kind``, ``fps``, ``size`` (width, height),
    ``frame_count`` (None when unknown) and ``description``; use it as a context manager.

    A source is read once: iterating again continues where the last iteration stopped. Once it
    has ended, ``ended`` says how when that is news (``"end of stream"``, ``"stream lost after
    3 reconnects"``, ``"cut short after 19 of 40 frames"``; None for a file or image series read
    to its end) and ``cut_short`` is True when a file ended before its last frame.
    """

    kind: str
    fps: float
    size: tuple[int, int]
    frame_count: int | None
    description: str
    live = False  # frames come at the source's pace (a camera, a live stream), not on demand

    def __init__(self, realtime: bool = False):
        self._realtime = realtime
        self.ended: str | None = None
        self.cut_short = False

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the underlying file or device; safe to call twice."""

    def __iter__(self) -> Iterator[Frame]:
        return self.paced(Pacer(self.fps) if self._realtime else None)

    def paced(self, pacer: Pacer | None) -> Iterator[Frame]:
        """The frames, each released when ``pacer`` says it is due (None: at once); the first
        frame of this read is the pacer's frame 0. Iterating the source is ``paced`` with a
        :class:`Pacer` at its ``fps`` when it was opened ``realtime``, else with None."""
        for index, frame in enumerate(self._frames()):
            if pacer is not None:
                pacer.wait(index)
            yield frame

    def _frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"
