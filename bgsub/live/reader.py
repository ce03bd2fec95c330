"""The reader thread that hands a source's frames to the preview, and a rate meter."""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable

from bgsub.sources import Frame, Pacer, Source


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


class FrameReader:
    """Reads ``source`` on its own thread and hands frames to the display loop.

    The frames come from the source as ``bgsub run`` reads them (:meth:`Source.paced
    <bgsub.sources.Source.paced>`); this adds only what a preview needs on top: the hand-over to
    the display loop, dropping stale frames, and pausing.

    Args:
        source: an open :class:`~bgsub.sources.Source`; the reader closes it when it stops, on
            its own thread, so a capture is never released in the middle of a read.
        drop: keep only the newest frame; one not taken before the next arrives is dropped and
            counted in :attr:`dropped`. Without it every frame is handed over (the reader waits).
        pacer: releases the frames at the source's pace (real-time playback of files); its clock
            starts when the display loop takes the first frame and holds while paused.
        hold_on_pause: while paused, stop reading (files); otherwise frames keep being read and
            are discarded uncounted (cameras and streams cannot be paused).

    :attr:`read` counts the frames read from the source, :attr:`dropped` those thrown away stale.
    """

    def __init__(self, source: Source, *, drop: bool, pacer: Pacer | None = None,
                 hold_on_pause: bool = False):
        self._source = source
        self.drop = drop
        self.pacer = pacer
        self.hold_on_pause = hold_on_pause
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._stop = threading.Event()
        self._resumed = threading.Event()
        self._resumed.set()
        self._done = False
        self.error: BaseException | None = None
        self.dropped = 0
        self.read = 0
        self._thread = threading.Thread(target=self._run, name="bgsub-live-reader", daemon=True)

    @classmethod
    def playing(cls, source: Source, realtime: bool) -> FrameReader:
        """The reader a preview of ``source`` uses: cameras and live streams are drained for the
        newest frame and cannot be paused; a file (or image series) is played at its fps,
        dropping what the model cannot keep up with, when ``realtime``, else every frame is
        handed over as fast as the model takes them."""
        live = source.live  # an .mp4 over HTTP is a file: every frame, at its own pace
        return cls(source, drop=live or realtime,
                   pacer=Pacer(source.fps) if realtime and not live else None,
                   hold_on_pause=not live)

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

    def take(self, timeout: float) -> Frame | None:
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
        if self.pacer is not None:
            self.pacer.stop()
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

    def _held(self) -> contextlib.AbstractContextManager[None]:
        """Pacing holds its clock for the duration (time that is not playback time)."""
        return self.pacer.held() if self.pacer is not None else contextlib.nullcontext()

    def _read_all(self) -> None:
        frames = self._source.paced(self.pacer)
        first = True
        while not self._stop.is_set():
            if self.hold_on_pause and not self._resumed.is_set():
                with self._held():
                    self._resumed.wait()
                continue
            frame = next(frames, None)
            if frame is None:
                return
            self.read += 1
            if not self.hold_on_pause and not self._resumed.is_set():
                continue
            self._hand_over(frame)
            if first and self.pacer is not None:
                with self.pacer.held():  # start-up (the first model step, the window) is not
                    self._wait_taken()     # playback time
            first = False

    def _wait_taken(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._frame is None or self._stop.is_set())

    def _hand_over(self, frame: Frame) -> None:
        with self._cond:
            if self.drop:
                if self._frame is not None:
                    self.dropped += 1
            else:
                self._cond.wait_for(lambda: self._frame is None or self._stop.is_set())
            self._frame = frame
            self._cond.notify_all()
