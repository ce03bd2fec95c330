"""Frame sources: video files, image folders, glob patterns, cameras and network streams.

:func:`open_source` turns a spec into a :class:`Source`, a context manager that yields
:class:`Frame` objects. Every frame is uint8, either gray (HxW) or BGR (HxWx3), whatever the file
holds (BGRA, 16-bit, single-channel); every I/O failure is a :class:`~bgsub.errors.SourceError`
with a one-line message naming the input.

Image folders hold more than frames: CDnet and Wallflower put ground truth beside or among the
inputs (``hand_segmented_00247.BMP`` next to ``b00000.bmp`` …). A folder is therefore read as one
*numbered series*: file names are grouped by their pattern (the name with its last run of digits
replaced by ``#``, case-insensitive, so ``in000470.jpg`` belongs to ``in#.jpg``; names without
digits form one group), and the largest group is taken. When two groups tie, the folder is
ambiguous and a ``SourceError`` asks for a glob instead. A glob pattern is taken as given.

OpenCV and FFmpeg print their own diagnostics to stderr; this module silences FFmpeg's unless
``OPENCV_FFMPEG_LOGLEVEL`` is already set (``OPENCV_FFMPEG_LOGLEVEL=24`` shows its warnings), and
quiets OpenCV's log while opening, because every failure is reported here as one line instead.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

# Must be set before OpenCV first initialises its FFmpeg backend; -8 is AV_LOG_QUIET.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from bgsub.errors import ConfigError, SourceError  # noqa: E402

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm",
                              ".ppm", ".pbm"})
DEFAULT_FPS = 25.0
MAX_FPS = 1000.0
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "rtp", "srt")
# Network opens and reads give up after this long instead of hanging on a dead host.
STREAM_TIMEOUT_MS = 10_000

_LAST_DIGITS = re.compile(r"(\d+)(?!.*\d)")
_GLOB_CHARS = re.compile(r"[*?\[]")


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


class _Pacer:
    """Sleeps so that frame ``i`` is released no earlier than ``i / fps`` after the first.

    A consumer slower than the source is never made to wait and no frame is dropped.
    """

    def __init__(self, fps: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self._period = 1.0 / fps
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None

    def wait(self, index: int) -> None:
        now = self._clock()
        if self._start is None:
            self._start = now
        delay = self._start + index * self._period - now
        if delay > 0:
            self._sleep(delay)


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
        pacer = _Pacer(self.fps) if self._realtime else None
        for index, frame in enumerate(self._frames()):
            if pacer is not None:
                pacer.wait(index)
            yield frame

    def _frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


def _fps_of(capture: cv2.VideoCapture) -> float:
    fps = capture.get(cv2.CAP_PROP_FPS)
    return float(fps) if np.isfinite(fps) and 0 < fps < MAX_FPS else DEFAULT_FPS


def _frame_count_of(capture: cv2.VideoCapture) -> int | None:
    """The container's frame count, or None where it has none (live input, no index).

    For some containers it is estimated from the duration, so reading may yield a few less.
    """
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(count) if np.isfinite(count) and count > 0 else None


class _CaptureSource(Source):
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


class VideoSource(_CaptureSource):
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


class CameraSource(_CaptureSource):
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


class StreamSource(_CaptureSource):
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


def _pick_series(folder: Path) -> list[str]:
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


def _is_camera(spec) -> TypeGuard[int | str]:
    return isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit())


def _is_stream(spec: str) -> bool:
    scheme, sep, _ = spec.partition("://")
    return bool(sep) and scheme.lower() in STREAM_SCHEMES


def open_source(spec: str | int | os.PathLike, *, realtime: bool = False,
                fps: float | None = None, reconnect: Reconnect | None = None,
                strict: bool = False) -> Source:
    """Open ``spec``: a video path, an image folder, a glob (``frames/*.png``), a single image,
    a camera index (int or digit string) or a stream URL (``rtsp://``, ``http://``, …).

    ``realtime`` paces file and image sources to their fps (cameras and streams are live
    already). ``fps`` sets the rate of image sequences (default 25). ``reconnect`` sets how a
    stream is reopened after a failed read. An undecodable image in a series is skipped with a
    warning (the source counts it in ``skipped``) unless ``strict``, where it is an error.
    Raises :class:`SourceError` on any failure to open.
    """
    if isinstance(spec, bool):
        raise SourceError(f"not a source: {spec!r}")
    if _is_camera(spec):
        return CameraSource(int(spec), realtime)
    assert not isinstance(spec, int)  # every int is a camera
    text = os.fspath(spec)
    if _is_stream(text):
        return StreamSource(text, realtime, reconnect)
    path = Path(text).expanduser()
    image_fps = fps if fps is not None else DEFAULT_FPS
    if not 0 < image_fps <= MAX_FPS:  # also refuses NaN; infinity hangs FFmpeg's writer
        raise ConfigError(f"fps: must be in (0, {MAX_FPS:g}], got {fps}")
    if path.is_dir():
        return ImageSource(_pick_series(path), str(path), image_fps, realtime, strict)
    if path.is_file():
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            return ImageSource([str(path)], str(path), image_fps, realtime, strict)
        return VideoSource(path, realtime)
    if _GLOB_CHARS.search(text):
        files = [f for f in glob.glob(os.path.expanduser(text)) if is_image_file(f)]
        if not files:
            raise SourceError(f"no images match: {text}")
        return ImageSource(files, text, image_fps, realtime, strict)
    if path.exists():
        raise SourceError(f"not a file or folder: {text}")
    raise SourceError(f"no such file or folder: {text}")
