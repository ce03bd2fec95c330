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

Modules: ``base`` (the frame, the source interface, pacing, normalisation), ``capture`` (video
files, cameras, streams through OpenCV), ``images`` (folders and globs); :func:`open_source` is
here, and the public names are re-exported.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import TypeGuard

from bgsub.errors import ConfigError, SourceError
# base first: it sets FFmpeg's log level before OpenCV loads.
from bgsub.sources.base import (
    DEFAULT_FPS,
    IMAGE_EXTENSIONS,
    MAX_FPS,
    STREAM_SCHEMES,
    STREAM_TIMEOUT_MS,
    Frame,
    Pacer,
    Reconnect,
    Source,
    normalize_image,
    quiet_opencv,
)
from bgsub.sources.capture import CameraSource, StreamSource, VideoSource, reopen_with_backoff
from bgsub.sources.images import ImageSource, is_image_file, pick_series

__all__ = ["DEFAULT_FPS", "IMAGE_EXTENSIONS", "MAX_FPS", "STREAM_SCHEMES", "STREAM_TIMEOUT_MS",
           "CameraSource", "Frame", "ImageSource", "Pacer", "Reconnect", "Source", "StreamSource",
           "VideoSource", "is_image_file", "normalize_image", "open_source", "quiet_opencv",
           "reopen_with_backoff"]


def _is_camera(spec) -> TypeGuard[int | str]:
    return isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit())

_GLOB_CHARS = re.compile(r"[*?\[]")



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
        return ImageSource(pick_series(path), str(path), image_fps, realtime, strict)
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
