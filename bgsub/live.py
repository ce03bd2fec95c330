"""Live preview: the model's view of a camera, stream or file in one window, tunable while it runs.

The window (OpenCV highgui; the pip build uses Qt on X11) shows tiled panes — input, mask,
overlay with blob boxes and, on request, the learned background — over a status strip with the
frame rate, foreground share, dropped frames and the model's parameters. Keys and trackbars change
the model while it runs (:data:`KEYS`).

Threads: a :class:`FrameReader` drains the source on its own thread so a camera or stream never
waits on the model; the main thread (the only one a GUI toolkit accepts) runs the model, draws and
polls the keyboard. When the model is slower than the source, stale frames are dropped, never
queued, so the picture does not lag behind reality.

The pure parts — tiling, status text, key bindings, trackbar scales — are plain functions, and
:class:`LiveSession` holds everything but the window, so they can be tested without a display.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from bgsub.errors import BgsubError, SinkError
from bgsub.interrupts import held_signals
from bgsub.models.scores import heat_map
from bgsub.pipeline import FrameResult, model_input, overlay
from bgsub.postprocess import find_blobs
from bgsub.sinks import write_image

WINDOW = "bgsub live"
# The tiled view is scaled so it fits in this many pixels (width, height) ...
MAX_VIEW = (1280, 720)
# ... and small frames are enlarged until it is this wide, so the status text fits.
MIN_VIEW_WIDTH = 640
# Blob boxes are drawn around blobs of at least this many pixels (or --min-area, if larger).
BOX_MIN_AREA = 25
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

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TEXT_SCALE = 0.45
_LINE_HEIGHT = 18


# -- pure helpers ---------------------------------------------------------------------------------
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


def draw_blobs(image: np.ndarray, blobs) -> np.ndarray:
    """``image`` with a green box around each blob (drawn in place; returned for chaining)."""
    for blob in blobs:
        cv2.rectangle(image, (blob.x, blob.y), (blob.x + blob.w - 1, blob.y + blob.h - 1),
                      (0, 255, 0), 1)
    return image


class RateMeter:
    """Events per second over the last ``window`` seconds."""

    def __init__(self, window: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self._window = window
        self._clock = clock
        self._times: collections.deque[float] = collections.deque()

    def tick(self) -> None:
        """Record one event now."""
        now = self._clock()
        self._times.append(now)
        while now - self._times[0] > self._window:
            self._times.popleft()

    @property
    def rate(self) -> float:
        """Events per second over the window (0 until two events)."""
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


# -- the reader thread ---------------------------------------------------------------------------
class FrameReader:
    """Reads ``source`` on its own thread and hands frames to the display loop.

    Args:
        source: an open :class:`~bgsub.sources.Source`; the reader closes it when it stops, on
            its own thread, so a capture is never released in the middle of a read.
        drop: keep only the newest frame; one not taken before the next arrives is dropped and
            counted in :attr:`dropped`. Without it every frame is handed over (the reader waits).
        fps: release frame ``i`` no earlier than ``i / fps`` seconds after the first one was
            taken (real-time playback of files); paused time does not count.
        hold_on_pause: while paused, stop reading (files); otherwise frames keep being read and
            are discarded uncounted (cameras and streams cannot be paused).

    :attr:`read` counts the frames read from the source, :attr:`dropped` those thrown away stale.
    """

    def __init__(self, source, *, drop: bool, fps: float | None = None,
                 hold_on_pause: bool = False):
        self._source = source
        self._drop = drop
        self._period = 1.0 / fps if fps else None
        self._hold_on_pause = hold_on_pause
        self._cond = threading.Condition()
        self._frame = None
        self._stop = threading.Event()
        self._resumed = threading.Event()
        self._resumed.set()
        self._done = False
        self.error: BaseException | None = None
        self.dropped = 0
        self.read = 0
        self._thread = threading.Thread(target=self._run, name="bgsub-live-reader", daemon=True)

    def start(self) -> FrameReader:
        self._thread.start()
        return self

    def pause(self, paused: bool) -> None:
        """Pause or resume reading (see ``hold_on_pause``)."""
        if paused:
            self._resumed.clear()
        else:
            self._resumed.set()

    @property
    def done(self) -> bool:
        """True once the source has ended (or failed) and every frame has been taken."""
        with self._cond:
            return self._done and self._frame is None

    def take(self, timeout: float) -> object | None:
        """The next frame, waiting up to ``timeout`` seconds; None if there is none yet.

        Re-raises the error that stopped the reader once its frames are taken.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._done, timeout)
            frame, self._frame = self._frame, None
            self._cond.notify_all()
            if frame is None and self._done and self.error is not None:
                raise self.error
            return frame

    def close(self, timeout: float = 5.0) -> None:
        """Stop reading and wait (up to ``timeout``) for the thread to release the source."""
        self._stop.set()
        self._resumed.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._read_all()
        except BaseException as err:  # handed to the display loop by take()
            self.error = err
        finally:
            try:
                self._source.close()
            finally:
                with self._cond:
                    self._done = True
                    self._cond.notify_all()

    def _read_all(self) -> None:
        frames = iter(self._source)
        start = None  # when the first frame was taken: start-up time is not playback time
        index = 0
        while not self._stop.is_set():
            if self._hold_on_pause and not self._resumed.is_set():
                paused_at = time.monotonic()
                self._resumed.wait()
                if start is not None:
                    start += time.monotonic() - paused_at
                continue
            frame = next(frames, None)
            if frame is None:
                return
            self.read += 1
            if not self._hold_on_pause and not self._resumed.is_set():
                continue
            if self._period is not None and start is not None:
                index += 1
                self._stop.wait(start + index * self._period - time.monotonic())
            self._hand_over(frame)
            if self._period is not None and start is None:
                start = self._first_taken()

    def _first_taken(self) -> float:
        with self._cond:
            self._cond.wait_for(lambda: self._frame is None or self._stop.is_set())
        return time.monotonic()

    def _hand_over(self, frame) -> None:
        with self._cond:
            if self._drop:
                if self._frame is not None:
                    self.dropped += 1
            else:
                self._cond.wait_for(lambda: self._frame is None or self._stop.is_set())
            self._frame = frame
            self._cond.notify_all()


# -- the session: everything but the window ------------------------------------------------------
class LiveSession:
    """The preview's state and what each action does, independent of any window.

    Args:
        model: a bgsub model; replaced (learned state kept) when a parameter changes.
        postprocess: callable mask -> mask.
        gray: feed the model grayscale frames.
        outputs: recording outputs (``write(result)``, ``close()``, ``abort()``), e.g. from
            :func:`bgsub.pipeline.build_outputs`.
        snapshot_dir: where ``snapshot`` writes PNG files.
        show_background: start with the background pane shown.
        min_area: blobs smaller than this get no box (at least :data:`BOX_MIN_AREA`).
        source_fps: the source's frame rate, shown beside the measured one.
        need_background: compute the background every frame even when its pane is hidden (an
            output records it).
    """

    def __init__(self, model, postprocess, *, gray: bool = False, outputs: Sequence = (),
                 snapshot_dir: str | os.PathLike = "snapshots", show_background: bool = False,
                 min_area: int = 0, source_fps: float | None = None,
                 need_background: bool = False, show_scores: bool = False,
                 clock: Callable[[], float] = time.monotonic):
        self.model = model
        self.postprocess = postprocess
        self.gray = gray
        self.outputs = list(outputs)
        self.snapshot_dir = Path(snapshot_dir)
        self.show_background = show_background
        self.show_scores = show_scores
        self.box_min_area = max(min_area, BOX_MIN_AREA)
        self.source_fps = source_fps
        self.paused = False
        self.show_help = False
        self.frames = 0
        self.dropped = 0  # frames the reader dropped, shown in the status strip
        self.result: FrameResult | None = None
        self.blobs: list = []
        self.meter = RateMeter(clock=clock)
        self._clock = clock
        self.messages: list[str] = []
        self._notice: tuple[str, float] | None = None
        self._need_background = need_background

    # per frame
    def process(self, frame) -> FrameResult:
        """Run one frame through the model and post-processing, and record it."""
        if hasattr(self.model, "compute_scores"):  # set again: a retuned model is a new one
            self.model.compute_scores = self.show_scores
        mask = self.postprocess(self.model.apply(model_input(frame.image, self.model, self.gray)))
        background = (self.model.background_image()
                      if self.show_background or self._need_background else None)
        scores = getattr(self.model, "scores", None)
        self.result = FrameResult(frame, mask, self.model.labels.copy(), background,
                                  None if scores is None else scores.copy())
        self.blobs = find_blobs(mask, self.box_min_area)
        for output in self.outputs:
            output.write(self.result)
        self.frames += 1
        self.meter.tick()
        return self.result

    @property
    def foreground(self) -> float:
        """Share of foreground pixels in the last mask, in percent."""
        if self.result is None:
            return 0.0
        mask = self.result.mask
        return 100.0 * np.count_nonzero(mask) / mask.size

    # actions
    def handle(self, action: str) -> bool:
        """Carry out a key action; False means quit."""
        if action == "quit":
            return False
        if action == "pause":
            self.paused = not self.paused
            # the status strip says PAUSED itself: only the terminal needs telling
            self.messages.append("paused" if self.paused else "resumed")
        elif action == "reset":
            self.model.reset()
            self.notify("model reset")
        elif action == "snapshot":
            self.snapshot()
        elif action == "background":
            self.show_background = not self.show_background
            if self.show_background and self.result is not None:
                self.result.background = self.model.background_image()
            self.notify(f"background pane {'on' if self.show_background else 'off'}")
        elif action == "scores":
            self._toggle_scores()
        elif action == "threshold_up":
            self.set_threshold(self.model.params.threshold + THRESHOLD_STEP)
        elif action == "threshold_down":
            self.set_threshold(self.model.params.threshold - THRESHOLD_STEP)
        elif action == "help":
            self.show_help = not self.show_help
        return True

    def _toggle_scores(self) -> None:
        if not hasattr(self.model, "compute_scores"):
            self.notify(f"no score map for model {self.model.name!r}")
            return
        self.show_scores = not self.show_scores
        # Shown from the next frame on: the map is computed before the model learns a frame.
        self.notify(f"score pane {'on' if self.show_scores else 'off'}")

    def set_threshold(self, value: float) -> float:
        """Change the model's threshold (clamped to :data:`THRESHOLD_LIMITS`), keeping what it
        learned; returns the value set."""
        low, high = THRESHOLD_LIMITS
        value = round(min(max(value, low), high), 2)
        if value != self.model.params.threshold:
            self.model = self.model.with_params(threshold=value)
            self.notify(f"threshold {value:.2f}")
        return value

    def set_learning_rate(self, value: float | None) -> None:
        """Change the model's learning rate (None: automatic schedule), keeping what it learned."""
        if value != self.model.params.learning_rate:
            self.model = self.model.with_params(learning_rate=value)
            self.notify(f"learning rate {'auto' if value is None else f'{value:.2g}'}")

    def notify(self, text: str) -> None:
        """Show ``text`` in the status strip for a moment and queue it for the terminal."""
        self._notice = (text, self._clock() + NOTICE_SECONDS)
        self.messages.append(text)

    def take_messages(self) -> list[str]:
        """The terminal lines queued since the last call (what changed, files written)."""
        messages, self.messages = self.messages, []
        return messages

    def snapshot(self) -> list[Path]:
        """Write the current input, mask, overlay (and background, when shown) and the whole view
        as PNG files named ``<date>-<time>_f<frame>_<pane>.png``; returns their paths."""
        if self.result is None:
            return []
        stamp = time.strftime("%Y%m%d-%H%M%S")
        prefix = f"{stamp}_f{self.result.frame.number:06d}"
        images = {name: image for name, image in self.panes()}
        images["view"] = self.render()
        try:
            self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SinkError(f"cannot create snapshot folder {self.snapshot_dir}: "
                            f"{err.strerror or err}") from None
        paths = []
        for name, image in images.items():
            path = self.snapshot_dir / f"{prefix}_{name}.png"
            write_image(path, image)  # atomically: a watcher never reads half a file
            paths.append(path)
        self.notify(f"snapshot saved ({len(paths)} files)")
        self.messages.extend(f"snapshot: {path}" for path in paths)
        return paths

    # drawing
    def panes(self) -> list[tuple[str, np.ndarray]]:
        """The panes of the view at full resolution: input, mask, overlay, [background],
        [score]."""
        r = self.result
        assert r is not None  # drawn once a frame was shown
        boxed = draw_blobs(overlay(r.frame.image, r.mask), self.blobs)
        panes = [("input", as_bgr(r.frame.image)), ("mask", r.mask), ("overlay", boxed)]
        if self.show_background and r.background is not None:
            panes.append(("background", as_bgr(r.background)))
        if self.show_scores and r.scores is not None:
            panes.append(("score", heat_map(r.scores, self.model.params.threshold, inside=True)))
        return panes

    def flags(self) -> list[str]:
        """State words for the status strip (PAUSED, REC, a passing notice)."""
        words = ["PAUSED"] if self.paused else []
        if self.outputs:
            words.append("REC")
        if self._notice and self._clock() < self._notice[1]:
            words.append(self._notice[0])
        return words

    def render(self) -> np.ndarray:
        """The whole view: tiled panes, the status strip and, when on, the help box."""
        assert self.result is not None  # drawn once a frame was shown
        lines = status_lines(describe_model(self.model), self.meter.rate, self.source_fps,
                             self.foreground, len(self.blobs), self.dropped,
                             self.result.frame.number, self.flags())
        canvas = add_status(tile(self.panes()), lines)
        return draw_help(canvas) if self.show_help else canvas

    def close_outputs(self) -> None:
        """Finish the recording files (every output is closed before the first error is raised)."""
        errors = []
        for output in self.outputs:
            try:
                output.close()
            except Exception as err:  # close the others before reporting
                errors.append(err)
        if errors:
            raise errors[0]

    def abort_outputs(self) -> None:
        """Remove partial recording files after a failure."""
        for output in self.outputs:
            output.abort()


# -- the window ----------------------------------------------------------------------------------
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


def run_live(source, session: LiveSession, *, realtime: bool = True,
             max_frames: int | None = None, snapshot_after: int | None = None,
             say: Callable[[str], None] = lambda text: None) -> str:
    """Show ``source`` through ``session`` in a window until the user quits or the input ends.

    Cameras and streams, and files played in ``realtime``, drop stale frames; a file played
    as fast as possible hands every frame to the model. Takes over ``source`` (closes it) and
    finishes the session's recording however the loop ends (on an error other than Ctrl-C the
    partial files are removed). ``say`` receives one-line messages for the terminal.

    Returns why it stopped: ``"quit"`` (key), ``"closed"`` (window), ``"max-frames"`` or
    ``"ended"`` (input exhausted). Ctrl-C propagates as ``KeyboardInterrupt`` after the
    recording is finished.
    """
    live = source.live  # an .mp4 over HTTP is a file: every frame, at its own pace
    reader = FrameReader(source, drop=live or realtime,
                         fps=source.fps if realtime and not live else None,
                         hold_on_pause=not live)
    try:
        params = session.model.params
        window = Window(f"{WINDOW}: {source.description}", params.threshold,
                        params.learning_rate)
    except BaseException:
        source.close()
        session.abort_outputs()
        raise
    reader.start()
    try:
        with held_signals() as stop:
            reason = _loop(reader, session, window, max_frames, snapshot_after, say, stop)
    except KeyboardInterrupt:
        _stop(reader, window)
        session.close_outputs()
        say(f"interrupted: {session.frames} frames shown, {reader.dropped} dropped")
        raise
    except BaseException:
        _stop(reader, window)
        session.abort_outputs()
        raise
    _stop(reader, window)
    session.close_outputs()
    say(f"{reason}: {session.frames} frames shown, {reader.dropped} dropped")
    return reason


def _stop(reader: FrameReader, window: Window) -> None:
    reader.close()
    window.close()


def _loop(reader, session, window, max_frames, snapshot_after, say, stop=lambda: None) -> str:
    dirty = shown = False
    while True:
        stop()
        frame = None if session.paused else reader.take(timeout=0.005)
        if frame is not None:
            session.process(frame)
            dirty = True
            if snapshot_after is not None and session.frames == snapshot_after:
                session.snapshot()
        if dirty and session.result is not None:
            session.dropped = reader.dropped
            window.show(session.render())
            dirty = False
            shown = True
        action = action_for_key(window.key(30 if session.paused else 1))
        if action is not None:
            if not session.handle(action):
                return "quit"
            if action == "pause":
                reader.pause(session.paused)
            elif action.startswith("threshold"):
                window.show_threshold(session.model.params.threshold)
            dirty = True
        before = session.model
        apply_trackbars(window, session)
        dirty = dirty or session.model is not before
        for message in session.take_messages():
            say(message)
        if shown and not window.is_open():
            return "closed"
        if max_frames is not None and session.frames >= max_frames:
            return "max-frames"
        if frame is None and not session.paused and reader.done:
            reader.take(0)  # raises the reader's error, if any
            return "ended"

