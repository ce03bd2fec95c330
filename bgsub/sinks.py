"""Output sinks: mask/overlay videos and numbered image files, written so that no output that
looks complete can be a partial one.

Contract shared by every sink (:class:`Sink`): ``write(number, image)``; ``close()`` commits;
``abort()`` removes what is partial. As a context manager a sink commits on success and on
``KeyboardInterrupt`` (so Ctrl-C keeps the frames written so far, playable) and aborts on any
other exception.

:class:`VideoSink` writes ``out/mask.mov`` as the hidden ``out/.mask.partial.mov`` (the extension
is kept so that FFmpeg picks the container) and renames it on ``close()``; a killed process
leaves only the partial name. Default codecs, checked by reading back with OpenCV 4.12:
PNG in ``.mov`` (lossless; ~0.7 ms of CPU for a 1080p mask at one bit a pixel, see
:class:`PngVideoWriter`), FFV1 in ``.mkv``/``.avi`` (lossless, pixel-exact for gray and BGR,
~11 ms for a 1080p mask) and MPEG-4 Part 2 (``mp4v``, lossy) in ``.mp4``/``.m4v`` — the pip
OpenCV build has no H.264 encoder.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import tempfile
import threading
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from bgsub.atomic import write_atomic
from bgsub.errors import SinkError
from bgsub.sources import quiet_opencv

log = logging.getLogger(__name__)

PNG = "png "  # the FourCC of PNG-coded frames, written by PngVideoWriter rather than OpenCV
DEFAULT_CODECS = {".mov": PNG, ".mkv": "FFV1", ".avi": "FFV1", ".mp4": "mp4v", ".m4v": "mp4v"}
# How often (frames) to check that the output still has room: OpenCV's writer reports no errors.
_SPACE_CHECK_EVERY = 10


def prepare_folder(folder: Path) -> None:
    """Create ``folder`` with its parents and check that a file can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise SinkError(f"cannot write to folder {folder}: {err.strerror or err}") from None


LOCK_NAME = ".bgsub.lock"
_held_locks: dict[Path, int] = {}  # folder -> the thread that holds it


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike):
    """Hold ``folder`` (created if needed) for this process while writing outputs into it.

    Two runs writing the same hidden partial files would corrupt each other, so a second
    writer is refused with one :class:`SinkError` line naming the holder's pid. The lock is an
    ``flock`` on ``FOLDER/.bgsub.lock``: the system releases it when its process dies, so the
    file a killed run leaves behind is simply taken over. Re-entrant within one process. When
    the block fails, the folders this call created are removed again where they stayed empty
    (an output that could not be created leaves no empty output folder behind).
    """
    folder = Path(folder).resolve()
    me = threading.get_ident()
    holder = _held_locks.get(folder)
    if holder == me:  # the outermost hold releases it
        yield
        return
    if holder is not None:  # another thread of this process (a Dask worker's)
        raise _in_use(folder, os.getpid())
    created = [path for path in (folder, *folder.parents) if not path.exists()]  # innermost first
    prepare_folder(folder)
    fd = _acquire(folder / LOCK_NAME)
    _held_locks[folder] = me
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        del _held_locks[folder]
        with contextlib.suppress(OSError):
            os.unlink(folder / LOCK_NAME)
        os.close(fd)
        if failed:
            _remove_empty(created)


def _remove_empty(folders):
    """Remove ``folders``, innermost first, up to the first that is not empty."""
    for path in folders:
        try:
            path.rmdir()
        except OSError:
            return


def _in_use(folder, holder):
    return SinkError(f"output folder {folder} is in use by another bgsub run (pid {holder}); "
                     "wait for it or choose another folder")


def _acquire(path: Path) -> int:
    """A descriptor of ``path`` holding its exclusive flock, with this process's pid in it."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise SinkError(f"cannot write to folder {path.parent}: {err.strerror or err}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise _in_use(path.parent, holder) from None
        # The holder before us may have removed the file between our open and our lock: then
        # we locked a file nobody else will see, so start again on the current one.
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        os.close(fd)


def write_image(path: Path, image: np.ndarray) -> None:
    """Encode ``image`` by ``path``'s suffix and write it atomically: under a hidden partial
    name first, so that a reader never sees a half-written file (:class:`SinkError` on failure)."""
    try:
        ok, encoded = cv2.imencode(path.suffix, image)
    except cv2.error:  # an extension OpenCV has no encoder for
        ok = False
    if not ok:
        raise SinkError(f"cannot encode an image as {path.suffix}: {path}")
    write_atomic(path, encoded.tobytes())


def _out_of_space(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free == 0
    except OSError:
        return False


class Sink(Protocol):
    """What every sink is (see the module doc): :meth:`write` frame by number, then
    :meth:`close` to commit or :meth:`abort` to remove what is partial; a context manager that
    commits on success and on Ctrl-C and aborts on any other error. The sinks here subclass it
    for that policy; the type checker holds anything used as a sink to the rest.
    """

    path: Path  # the file or folder written
    fixed_size: bool  # every frame must have the first one's size (a video)
    frames_written: int

    def write(self, number: int, image: np.ndarray) -> None:
        """Write frame ``number``."""

    def close(self) -> None:
        """Commit what was written."""

    def abort(self) -> None:
        """Remove what is partial."""

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if exc_type is None or issubclass(exc_type, KeyboardInterrupt):
            self.close()
        else:
            self.abort()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return len(data).to_bytes(4, "big") + kind + data + crc.to_bytes(4, "big")


def bilevel_png(mask: np.ndarray) -> bytes:
    """``mask`` (H x W uint8) as a PNG of one bit per pixel: 1 where it is nonzero, which
    readers expand to 255. The rows are packed by NumPy and deflated by zlib with run-length
    matching (level 1, no row filter, as a mask's long runs want); OpenCV's encoder, asked for
    the same kind of file, takes nearly three times as long (1.9 against 0.7 ms at 1080p)."""
    height, width = mask.shape
    rows = np.zeros((height, 1 + (width + 7) // 8), dtype=np.uint8)  # a filter byte (0) each
    rows[:, 1:] = np.packbits(mask, axis=1)
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    header = b"".join(v.to_bytes(4, "big") for v in (width, height)) + bytes([1, 0, 0, 0, 0])
    return b"".join((b"\x89PNG\r\n\x1a\n", _png_chunk(b"IHDR", header),  # 1-bit gray
                     _png_chunk(b"IDAT", deflate.compress(rows.data) + deflate.flush()),
                     _png_chunk(b"IEND", b"")))


class PngVideoWriter:
    """A QuickTime video of PNG-coded frames: lossless, and cheap for masks.

    OpenCV encodes each frame (no row filter, run-length zlib at level 1: a mask is long runs of
    one value, and choosing a filter per row is most of what a default PNG encoding costs) and
    PyAV muxes the encoded frames as they are; FFmpeg's own PNG encoder, which OpenCV's writer
    would use, has no such settings. With ``binary`` (gray frames that are masks) each pixel
    is one bit, nonzero read back as 255 (:func:`bilevel_png`): a 1080p mask takes ~0.7 ms of
    CPU against ~3.7 at eight bits and ~10 as FFV1 (``benchmarks/mask_writing.py``). OpenCV and
    FFmpeg (and the players built on it) read either. The interface is the part of
    ``cv2.VideoWriter`` that :class:`VideoSink` uses; failures raise ``OSError``.
    """

    OPTIONS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY,
               cv2.IMWRITE_PNG_STRATEGY_RLE, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]

    def __init__(self, path, fps, size, is_color, binary=False):
        import av  # only writers of PNG videos pay for loading PyAV

        self._av = av
        # 29.97 is 30000/1001: a time base that counts whole frames keeps every timestamp exact
        self._rate = Fraction(fps).limit_denominator(1001)
        self._container = av.open(str(path), "w", format="mov")
        try:
            stream = self._container.add_stream("png", rate=self._rate)
            stream.width, stream.height = size
            binary = binary and not is_color
            stream.pix_fmt = "rgb24" if is_color else "monob" if binary else "gray"
        except Exception:
            self._container.close()
            raise
        self._stream = stream
        self._binary = binary
        self._count = 0

    def isOpened(self):  # noqa: N802  (cv2.VideoWriter's name)
        return True

    def write(self, image):
        """Append one frame (uint8, gray or BGR as the video)."""
        if self._binary:
            encoded = bilevel_png(image)
        else:
            ok, encoded = cv2.imencode(".png", image, self.OPTIONS)
            if not ok:
                raise OSError("PNG encoding failed")
        packet = self._av.Packet(encoded)
        packet.pts = packet.dts = self._count
        packet.time_base = 1 / self._rate
        packet.stream = self._stream
        packet.is_keyframe = True
        self._container.mux(packet)
        self._count += 1

    def release(self):
        """Write the index and close the file."""
        self._container.close()


class VideoSink(Sink):
    """A video file; frame size and colour come from the first ``write``.

    ``codec`` is a FourCC (default from the extension, see module doc); ``is_color`` forces a
    colour (True) or gray (False) video, else it follows the first frame. Every later frame must
    have the first one's size (open a new sink for a new size); gray and BGR frames are converted
    to the video's colour. ``binary`` says the frames are masks, 0 or not: a gray PNG video
    then keeps one bit per pixel and reads back 0 and 255 (other codecs ignore it).
    """

    fixed_size = True

    def __init__(self, path: str | os.PathLike, fps: float, *, codec: str | None = None,
                 is_color: bool | None = None, binary: bool = False):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if codec is None:
            if suffix not in DEFAULT_CODECS:
                raise SinkError(f"unsupported video extension '{suffix}' (use .mkv, .avi or "
                                f".mp4, or give a codec): {self.path}")
            codec = DEFAULT_CODECS[suffix]
        if len(codec) != 4:
            raise SinkError(f"codec must be a four-character code such as FFV1, got '{codec}'")
        if not 0 < fps < float("inf"):  # also refuses NaN; infinity hangs FFmpeg's writer
            raise SinkError(f"fps must be a positive finite number, got {fps}: {self.path}")
        self.fps = float(fps)
        self.codec = codec
        self.is_color = is_color
        self.binary = binary
        self.frames_written = 0
        self.partial_path = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._done = False
        prepare_folder(self.path.parent)

    def _open(self, image: np.ndarray) -> None:
        height, width = image.shape[:2]
        if self.is_color is None:
            self.is_color = image.ndim == 3
        if self.codec == PNG:
            try:
                writer = PngVideoWriter(self.partial_path, self.fps, (width, height),
                                        self.is_color, self.binary)
            except (OSError, ValueError) as err:
                self._remove_partial()
                raise SinkError(f"cannot open a PNG video writer for {self.path}: {err}") from None
        else:
            with quiet_opencv():
                writer = cv2.VideoWriter(str(self.partial_path), cv2.CAP_FFMPEG,
                                         cv2.VideoWriter_fourcc(*self.codec), self.fps,
                                         (width, height), self.is_color)
        if not writer.isOpened():
            self._remove_partial()
            raise SinkError(f"cannot open a {self.codec} video writer for {self.path}")
        self._writer = writer
        self._size = (width, height)

    def _conform(self, number: int, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        assert self._size is not None  # set by _open, before the first frame
        if (width, height) != self._size:
            raise SinkError(f"frame {number} is {width}x{height} but the video is "
                            f"{self._size[0]}x{self._size[1]}: {self.path}")
        if self.is_color and image.ndim == 2:
            return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if not self.is_color and image.ndim == 3:
            return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return image

    def write(self, number: int, image: np.ndarray) -> None:
        """Append ``image`` (uint8 gray or BGR) to the video; ``number`` is used in errors."""
        if self._done:
            raise SinkError(f"write after close: {self.path}")
        if image.dtype != np.uint8:
            raise SinkError(f"frame {number} is {image.dtype}, need uint8: {self.path}")
        if self._writer is None:
            self._open(image)
        assert self._writer is not None
        try:
            self._writer.write(self._conform(number, image))
        except OSError as err:  # PngVideoWriter's; OpenCV's writer reports nothing
            raise SinkError(f"cannot write frame {number} to {self.path}: "
                            f"{err.strerror or err}") from None
        self.frames_written += 1
        if self.frames_written % _SPACE_CHECK_EVERY == 0:
            self._check_still_writing()

    def _check_still_writing(self) -> None:
        if not self.partial_path.exists():
            raise SinkError(f"output file disappeared while writing: {self.partial_path}")
        if _out_of_space(self.path.parent):
            raise SinkError(f"no space left on device writing {self.path}")

    def close(self) -> None:
        """Finish the file and give it its final name; without frames no file is made."""
        if self._done:
            return
        self._done = True
        if self._writer is None:
            log.warning("no frames were written, %s not created", self.path)
            return
        try:
            self._writer.release()
        except OSError as err:
            self._writer = None
            self._remove_partial()
            raise SinkError(f"cannot finish {self.path}: {err.strerror or err}") from None
        self._writer = None
        if _out_of_space(self.path.parent):
            self._remove_partial()
            raise SinkError(f"no space left on device writing {self.path}")
        try:
            os.replace(self.partial_path, self.path)
        except OSError as err:
            self._remove_partial()
            raise SinkError(f"cannot finish {self.path}: {err.strerror or err}") from None

    def abort(self) -> None:
        """Stop writing and delete the partial file."""
        if self._done:
            return
        self._done = True
        if self._writer is not None:
            with contextlib.suppress(OSError):  # the file goes anyway
                self._writer.release()
            self._writer = None
        self._remove_partial()

    def _remove_partial(self) -> None:
        try:
            self.partial_path.unlink(missing_ok=True)
        except OSError as err:
            log.warning("could not remove %s: %s", self.partial_path, err.strerror or err)


class ImageSequenceSink(Sink):
    """One image file per frame, ``{prefix}{number:0{digits}d}{ext}`` (CDnet: ``bin000470.png``).

    Each file is encoded in memory, written under a hidden temporary name and renamed, so no
    half-written image ever has a final name. Every finished file is complete, so ``abort()``
    keeps them.
    """

    fixed_size = False

    def __init__(self, directory: str | os.PathLike, *, prefix: str = "bin", ext: str = ".png",
                 digits: int = 6):
        self.path = self.directory = Path(directory)
        self.ext = ext if ext.startswith(".") else f".{ext}"
        if not cv2.haveImageWriter(f"x{self.ext}"):
            raise SinkError(f"cannot write images of type '{self.ext}': {self.directory}")
        self.prefix = prefix
        self.digits = digits
        self.frames_written = 0
        prepare_folder(self.directory)

    def clear(self) -> int:
        """Remove the files this sink would name (an earlier run's, say a longer one whose last
        masks this run would not overwrite); other files stay. Returns how many were removed."""
        owned = re.compile(rf"{re.escape(self.prefix)}\d{{{self.digits},}}{re.escape(self.ext)}")
        removed = 0
        try:
            for entry in os.scandir(self.directory):
                if owned.fullmatch(entry.name) and entry.is_file():
                    os.unlink(entry.path)
                    removed += 1
        except OSError as err:
            raise SinkError(f"cannot clear {self.directory}: {err.strerror or err}") from None
        return removed

    def path_for(self, number: int) -> Path:
        """The file that frame ``number`` is written to."""
        return self.directory / f"{self.prefix}{number:0{self.digits}d}{self.ext}"

    def write(self, number: int, image: np.ndarray) -> None:
        """Write frame ``number`` as its own image file, atomically."""
        write_image(self.path_for(number), image)
        self.frames_written += 1

    def close(self) -> None:
        """Nothing to commit: each file was committed when written."""

    def abort(self) -> None:
        """Keep the finished files: each one is complete."""
