"""Ctrl-C and SIGTERM taken between frames.

Raised at an arbitrary moment, a ``KeyboardInterrupt`` can land after the model learned a frame
but before the frame reached the outputs (a checkpoint then counts a frame that no mask shows),
between two outputs (a frame in one file and not in another), or inside a callback that swallows
it. The frame loops of :mod:`bgsub.pipeline` and :mod:`bgsub.live` therefore hold both signals
and take them where a frame is complete.
"""

import contextlib
import signal
import threading


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, raised by the command line's handlers (:func:`raise_interrupted`).

    A subclass, so that CPython does not count it as an unhandled Ctrl-C: when a plain
    ``KeyboardInterrupt`` leaves code run by ``exec`` or ``eval`` of a string (dataclasses,
    namedtuples and Numba all generate code that way while a command starts), ``python -m``
    later ends the process by SIGINT itself, exit status -2 in place of the 130 that bgsub
    chose after finalising its outputs. CPython compares the exception's type exactly."""


def raise_interrupted(signum, frame):
    """A signal handler that raises :class:`Interrupted`."""
    raise Interrupted


class _Held:
    def __init__(self):
        self.pending = []
        self.previous = {}
        self.delivered = False
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers (and only it receives signals)
        for signum in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(signum)
            if handler is not signal.SIG_IGN:  # batch workers leave Ctrl-C to their parent
                self.previous[signum] = handler
                signal.signal(signum, self._hold)

    def _hold(self, signum, frame):
        self.pending.append(signum)

    def deliver(self):
        """Stop here if a signal came: run its own handler (the CLI's SIGTERM handler records
        it), then raise KeyboardInterrupt. Only the first signal is delivered."""
        if self.pending and not self.delivered:
            self.delivered = True
            signum = self.pending[0]
            handler = self.previous[signum]
            if callable(handler) and handler is not signal.default_int_handler:
                handler(signum, None)
            raise KeyboardInterrupt

    def restore(self):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def held_signals():
    """Hold SIGINT and SIGTERM for the block; yields ``deliver``, which the loop calls where a
    frame is complete and which raises KeyboardInterrupt there when a signal came.

    A signal still held when the block ends without an exception is delivered as it ends. Once
    one signal was delivered, later ones (Ctrl-C pressed again while the outputs are finalised)
    change nothing. Off the main thread, and for an ignored signal, nothing is held.
    """
    held = _Held()
    try:
        yield held.deliver
    finally:
        held.restore()
    held.deliver()
