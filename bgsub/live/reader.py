"""The reader thread that drains a source for the preview, and a rate meter."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable


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
