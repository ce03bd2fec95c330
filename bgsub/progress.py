"""Progress bars on stderr: tqdm with bgsub's words (frames, frames per second, time left)."""

import sys

from tqdm import tqdm

# tqdm's bar with bgsub's words: frames done, frames per second, time left.
BAR_FORMAT = ("{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} frames "
              "[{elapsed}, {rate_fmt}, ETA {remaining}{postfix}]")
COUNT_FORMAT = "{desc}{n_fmt} frames [{elapsed}, {rate_fmt}{postfix}]"  # the total unknown


def frame_bar(total=None, stream=None, enabled=None, *, interval=0.25, **kwargs):
    """A tqdm bar counting frames on ``stream`` (stderr), shown only when it is a terminal
    (``enabled`` None) or when ``enabled``; ``kwargs`` go to tqdm (``desc``, ``position``)."""
    stream = stream or sys.stderr
    enabled = stream.isatty() if enabled is None else enabled
    return tqdm(total=total or None, file=stream, disable=not enabled, mininterval=interval,
                unit=" frames", dynamic_ncols=True,
                bar_format=BAR_FORMAT if total else COUNT_FORMAT, **kwargs)


class Progress:
    """The progress of one run on stderr (a :func:`frame_bar`): ``update(frames)`` with the
    count so far, ``finish(frames)`` at the end."""

    def __init__(self, total=None, stream=None, enabled=None, interval=0.25):
        self._bar = frame_bar(total, stream, enabled, interval=interval)

    def update(self, frames, force=False):
        self._bar.update(frames - self._bar.n)
        if force:
            self._bar.refresh()

    def finish(self, frames):
        self.update(frames)
        self._bar.close()
