"""Live preview: the model's view of a camera, stream or file in one window, tunable while it runs.

The window (OpenCV highgui; the pip build uses Qt on X11) shows tiled panes — input, mask,
overlay with blob boxes and, on request, the learned background — over a status strip with the
frame rate, foreground share, dropped frames and the model's parameters. Keys and trackbars change
the model while it runs (:data:`bgsub.live.controls.KEYS`).

Threads: a :class:`FrameReader` drains the source on its own thread so a camera or stream never
waits on the model (it reads the frames as ``bgsub run`` does, through the source's own
iteration and pacer, adding only the hand-over, dropping and pausing); the main thread (the only
one a GUI toolkit accepts) runs the model, draws and polls the keyboard. When the model is slower
than the source, stale frames are dropped, never queued, so the picture does not lag behind
reality.

The pure parts are plain functions, and :class:`LiveSession` holds everything but the window, so
they can be tested without a display. Modules: ``controls`` (keys, help, trackbar scales),
``view`` (tiling, status strip, help overlay, blob boxes), ``reader`` (the reader thread, the rate
meter), ``session`` (:class:`LiveSession`), ``window`` (the highgui window and the display check);
this one runs the loop (:func:`run_live`).
"""

from __future__ import annotations

from collections.abc import Callable

from bgsub.interrupts import held_signals
from bgsub.live.controls import action_for_key
from bgsub.live.reader import FrameReader
from bgsub.live.session import LiveSession
from bgsub.live.window import WINDOW, Window, apply_trackbars, check_display
from bgsub.sources import Source

__all__ = ["LiveSession", "run_live", "check_display", "Window", "WINDOW", "apply_trackbars"]


def run_live(source: Source, session: LiveSession, *, realtime: bool = True,
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
    reader = FrameReader.playing(source, realtime)
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
