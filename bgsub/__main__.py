"""``python -m bgsub`` and the ``bgsub`` console script.

Ctrl-C while Python is still importing NumPy, OpenCV and Numba (the first second) would print a
KeyboardInterrupt traceback from whichever module was loading. Until the command line takes over
(:func:`bgsub.cli.main`), Ctrl-C exits at once with 130: nothing has been written yet.
"""

import os
import signal


def _interrupted_while_starting(signum, frame):
    os.write(2, b"bgsub: interrupted\n")
    os._exit(130)


# bgsub.cli.main recognises and replaces it
_interrupted_while_starting.startup_guard = True  # type: ignore[attr-defined]


def main():
    """Guard start-up against Ctrl-C, then run the command line."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when ignored (nohup)
        signal.signal(signal.SIGINT, _interrupted_while_starting)
    from bgsub.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
