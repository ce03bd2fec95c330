"""Sources read through OpenCV's VideoCapture: video files, cameras and network streams."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from bgsub.errors import SourceError
from bgsub.sources.base import (
    DEFAULT_FPS,
    MAX_FPS,
    STREAM_TIMEOUT_MS,
    Frame,
    Reconnect,
    Source,
    normalize_image,
    quiet_opencv,
)

log = logging.getLogger(__name__)


def _fps_of(capture: cv2.VideoCapture) -> float:
    fps = capture.get(cv2.CAP_PROP_FPS)
    return float(fps) if np.isfinite(fps) and 0 < fps < MAX_FPS else DEFAULT_FPS


def _frame_count_of(capture: cv2.VideoCapture) -> int | None:
    """The container's frame count, or None where it has none (live input, no index).

    For some containers it is estimated from the duration, so reading may yield a few less.
    """
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(count) if np.isfinite(count) and count > 0 else None


class CaptureSource(Source):
    """Shared reading loop of the cv2.VideoCapture-backed sources."""

    def __init__(self, capture: cv2.VideoCapture, label: str, realtime: bool):
        super().__init__(realtime)
        self._capture = capture
        self._label = label
        self.fps = _fps_of(capture)
        self._first = self._read()
        if self._first is None:
            self.close()
            raise SourceError(self._no_frames_message())
        height, width = self._first.shape[:2]
        self.size = (width, height)
        self._read_count = 0

    def _no_frames_message(self) -> str:
        return f"no frames could be read: {self._label}"

    def _check_complete(self) -> None:
        """After the last frame: a file that said it holds more frames was cut short."""
        if self.frame_count is not None and self._read_count < self.frame_count:
            self.cut_short = True
            self.ended = f"cut short after {self._read_count} of {self.frame_count} frames"
            log.warning("video ended after %d of %d frames (truncated or damaged?): %s",
                        self._read_count, self.frame_count, self._label)

    def _read(self) -> np.ndarray | None:
        try:
            ok, image = self._capture.read()
        except cv2.error:
            return None
        return normalize_image(image, self._label) if ok else None

    def _next_image(self) -> np.ndarray | None:
        if self._first is not None:
            image, self._first = self._first, None
            return image
        return self._read()

    def close(self) -> None:
        self._capture.release()


class VideoSource(CaptureSource):
    """A video file read through OpenCV's FFmpeg backend.

    The decoder runs on one thread (FFmpeg's default is one per core): the pipeline already
    decodes on a thread of its own beside the model, and FFmpeg's frame threads cost a 1080p
    frame about a third more CPU time, taken from the model's cores.
    """

    kind = "video"

    def __init__(self, path: Path, realtime: bool = False):
        label = str(path)
        if path.stat().st_size == 0:
            raise SourceError(f"empty file: {label}")
        with quiet_opencv():
            capture = cv2.VideoCapture(label, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        if not capture.isOpened():
            raise SourceError(f"cannot decode video: {label}")
        self.frame_count = _frame_count_of(capture)
        super().__init__(capture, label, realtime)
        self.description = f"video {label} ({self.size[0]}x{self.size[1]}, {self.fps:g} fps)"

    def _no_frames_message(self) -> str:
        return f"video has no frames: {self._label}"

    def _frames(self) -> Iterator[Frame]:
        while (image := self._next_image()) is not None:
            self._read_count += 1
            yield Frame(self._read_count, (self._read_count - 1) / self.fps, image)
        self._check_complete()


class CameraSource(CaptureSource):
    """A local camera by index; timestamps are seconds since it was opened."""

    kind = "camera"
    frame_count = None
    live = True

    def __init__(self, index: int, realtime: bool = False):
        with quiet_opencv():
            capture = cv2.VideoCapture(index)
        if not capture.isOpened():
            raise SourceError(f"camera {index} is not available")
        self._start = time.monotonic()
        super().__init__(capture, f"camera {index}", realtime=False)
        self.description = f"camera {index} ({self.size[0]}x{self.size[1]})"

    def _frames(self) -> Iterator[Frame]:
        while (image := self._next_image()) is not None:
            self._read_count += 1
            yield Frame(self._read_count, time.monotonic() - self._start, image)
        self.ended = "camera stopped delivering frames"
        log.warning("%s stopped delivering frames after %d", self._label, self._read_count)


def _open_stream_capture(url: str) -> cv2.VideoCapture | None:
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
    with quiet_opencv():
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    return capture if capture.isOpened() else None


def reopen_with_backoff(open_once: Callable[[], object | None], delays: Sequence[float],
                        sleep: Callable[[float], None] = time.sleep) -> object | None:
    """Call ``open_once`` after each delay until it returns something other than None.

    Returns that result, or None when every try failed.
    """
    for attempt, delay in enumerate(delays, start=1):
        sleep(delay)
        result = open_once()
        if result is not None:
            return result
        log.info("reconnect attempt %d of %d failed", attempt, len(delays))
    return None


class StreamSource(CaptureSource):
    """A network stream (RTSP, HTTP, UDP, …); reconnects with backoff when a live read fails.

    A URL that serves a finite file (the container reports a frame count: an ``.mp4`` over
    HTTP) is read like a video file: it is not ``live``, ends at its last frame instead of being
    reopened from the start, and a file that ends early is ``cut_short``.
    """

    kind = "stream"

    def __init__(self, url: str, realtime: bool = False, reconnect: Reconnect | None = None):
        capture = _open_stream_capture(url)
        if capture is None:
            raise SourceError(f"cannot open stream: {url}")
        self._url = url
        self._reconnect = reconnect or Reconnect()
        self.frame_count = _frame_count_of(capture)
        self.live = self.frame_count is None
        self._start = time.monotonic()
        super().__init__(capture, url, realtime=False)
        self.description = f"stream {url} ({self.size[0]}x{self.size[1]})"

    def _frames(self) -> Iterator[Frame]:
        while True:
            image = self._next_image()
            if image is None:
                if not self.live:
                    self.ended = "end of stream"
                    self._check_complete()
                    return
                if not self._reopen():
                    return
                continue
            self._read_count += 1
            yield Frame(self._read_count, time.monotonic() - self._start, image)

    def _reopen(self) -> bool:
        log.warning("stream read failed, reconnecting: %s", self._url)
        self._capture.release()
        capture = reopen_with_backoff(lambda: _open_stream_capture(self._url),
                                      self._reconnect.delays)
        if capture is None:
            self.ended = f"stream lost after {len(self._reconnect.delays)} reconnects"
            log.warning("stream lost after %d frames, giving up: %s", self._read_count, self._url)
            return False
        self._capture = capture
        return True
