"""The loop every command shares: source -> model -> post-processing -> outputs.

Reading, the model and writing overlap on three threads joined by bounded queues: OpenCV's
decoder and encoders release the GIL and the Numba kernels are ``nogil``, so a slow encoder never
stalls the model and the model never waits on an idle decoder. The loop owns progress reporting
and a clean shutdown: on Ctrl-C every output is finalised with the frames processed so far; on
any other error partial outputs are removed.
"""

from __future__ import annotations

import logging
import contextlib
import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bgsub.errors import BgsubError
from bgsub.frames import FrameChain, FrameResult
from bgsub.interrupts import held_signals
from bgsub.memory import check_fits
from bgsub.models.base import Model
from bgsub.outputs import Output, build_outputs, masks_folder
from bgsub.sinks import output_lock

if TYPE_CHECKING:
    from bgsub.progress import Progress
    from bgsub.sources import Frame


log = logging.getLogger(__name__)

_QUEUE_DEPTH = 8
_READER_JOIN_S = 15.0  # longer than a stream's read timeout (sources.STREAM_TIMEOUT_MS)
_DONE = object()


@dataclass
class RunStats:
    """Totals of a finished (or interrupted) run."""

    frames: int = 0
    seconds: float = 0.0
    foreground_sum: float = 0.0
    interrupted: bool = False
    outputs: list = field(default_factory=list)
    skipped: int = 0  # unreadable input frames left out
    input_end: str | None = None  # how the input ended, when that is news (Source.ended)
    cut_short: bool = False  # the input file ended before its last frame

    @property
    def fps(self):
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def mean_foreground(self):
        """Mean share of foreground pixels per frame, in percent."""
        return 100.0 * self.foreground_sum / self.frames if self.frames else 0.0

    def summary(self):
        """The one-line summary printed at the end of a run."""
        state = "interrupted after" if self.interrupted else "done:"
        notes = [f"input: {self.input_end}"] if self.input_end else []
        if self.skipped:
            notes.append(f"{self.skipped} unreadable frame{'s' if self.skipped > 1 else ''} skipped")
        return (
            f"{state} {self.frames} frames in {self.seconds:.1f} s ({self.fps:.1f} fps), "
            f"mean foreground {self.mean_foreground:.2f}%" + "".join(f", {n}" for n in notes)
        )


class _Worker(threading.Thread):
    """A daemon thread that remembers the exception that ended it."""

    def __init__(self, target, name):
        super().__init__(target=self._guard, name=name, daemon=True)
        self._target_fn = target
        self.error = None

    def _guard(self):
        try:
            self._target_fn()
        except BaseException as err:  # handed to the main thread, which re-raises it
            self.error = err


def _put(q, item, stop):
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def run(source: Iterable[Frame], model: Model, postprocess: Callable[[np.ndarray], np.ndarray],
        outputs: Iterable[Output] = (), *, gray: bool = False, max_frames: int | None = None,
        progress: Progress | None = None, on_result: Callable[[FrameResult], None] | None = None,
        need_background: bool | None = None) -> RunStats:
    """Drive ``source`` through ``model`` and ``postprocess`` into ``outputs``.

    Args:
        source: an open :class:`~bgsub.sources.Source` (or any iterable of frames).
        model: a bgsub model (:class:`~bgsub.models.base.Model`).
        postprocess: callable mask -> mask (e.g. :class:`~bgsub.postprocess.PostProcessor`).
        outputs: :class:`~bgsub.outputs.Output` objects (each frame's result to ``write``).
        gray: convert colour frames to gray before the model.
        max_frames: stop after this many frames.
        progress: a :class:`Progress` or None.
        on_result: called with each :class:`FrameResult` on the writer thread.
        need_background: compute ``model.background_image()`` every frame (default: when an
            output is the background video).

    Returns:
        :class:`RunStats`. On Ctrl-C the outputs are closed (kept, playable) and the stats say
        ``interrupted``; any other error aborts the outputs and propagates.
    """
    outputs = list(outputs)
    if need_background is None:
        need_background = any(o.needs_background for o in outputs)
    chain = FrameChain(model, postprocess, gray=gray, need_background=need_background,
                       need_scores=any(o.needs_scores for o in outputs))
    stats = RunStats(outputs=[o.path for o in outputs if o.path])
    stop = threading.Event()
    frames_q: queue.Queue[Any] = queue.Queue(_QUEUE_DEPTH)  # frames, then _DONE
    results_q: queue.Queue[Any] = queue.Queue(_QUEUE_DEPTH)  # results, then _DONE

    def read():
        try:
            for index, frame in enumerate(source):
                if max_frames is not None and index >= max_frames:
                    break
                if not _put(frames_q, frame, stop):
                    return
        finally:
            _put(frames_q, _DONE, stop)

    def write():
        while True:
            result = results_q.get()
            if result is _DONE:
                return
            chain.finish(result)
            stats.foreground_sum += float(np.count_nonzero(result.mask)) / result.mask.size
            for output in outputs:
                output.write(result)
            # Counted here, where the frame is in every output: a Ctrl-C between the model
            # handing a frame over and counting it must not make the summary disagree with files.
            stats.frames += 1
            if on_result is not None:
                on_result(result)

    reader = _Worker(read, "bgsub-reader")
    writer = _Worker(write, "bgsub-writer")
    start = time.perf_counter()
    try:
        with held_signals() as deliver:
            try:
                reader.start()
                writer.start()
                _model_frames(frames_q, results_q, reader, writer, chain, deliver, progress)
                _put_checked(results_q, _DONE, writer, deliver)
                writer.join()
                deliver()
                _raise_from(reader, writer)
            except KeyboardInterrupt:
                stats.interrupted = True
                _drain_after_interrupt(results_q, writer, stop)
            except BaseException:
                stop.set()
                for output in outputs:
                    output.abort()
                raise
            finally:
                stop.set()
                stats.seconds = time.perf_counter() - start
                # The caller closes the source next: a read still running on the reader thread
                # would then use a released decoder (FFmpeg aborts the process). One read is all
                # it waits for.
                if reader.is_alive():
                    reader.join(timeout=_READER_JOIN_S)
    except KeyboardInterrupt:  # held until after the last frame: every output is complete
        stats.interrupted = True
    if progress is not None:
        progress.finish(stats.frames)
    _close_all(outputs)
    return stats


def _model_frames(frames_q, results_q, reader, writer, chain, deliver, progress):
    """The main thread's part of :func:`run`: each frame through the chain's model step to the
    writer, which post-processes it.
    ``deliver`` (:func:`bgsub.interrupts.held_signals`) is called between frames and while
    waiting, so Ctrl-C stops the loop where a frame is either in the outputs' queue or not
    learned at all."""
    modelled = 0
    while True:
        deliver()
        frame = _get(frames_q, reader, deliver)
        if frame is _DONE:
            return
        if not _put_checked(results_q, chain.model_step(frame), writer, deliver):
            return
        modelled += 1
        if progress is not None:
            progress.update(modelled)


def _get(q, producer, deliver):
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            deliver()
            if producer.error is not None:
                raise producer.error
            if not producer.is_alive() and q.empty():
                return _DONE


def _put_checked(q, item, consumer, deliver):
    while True:
        if consumer.error is not None:
            raise consumer.error
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            deliver()
            if not consumer.is_alive():
                return False


def _raise_from(*workers):
    for worker in workers:
        if worker.error is not None:
            raise worker.error


def _drain_after_interrupt(results_q, writer, stop):
    """Let the writer finish the frames already modelled so the outputs end cleanly."""
    stop.set()
    try:
        results_q.put(_DONE, timeout=5)
        writer.join(timeout=30)
    except (queue.Full, KeyboardInterrupt):
        pass


def _close_all(outputs):
    errors = []
    for output in outputs:
        try:
            output.close()
        except Exception as err:  # close every output before reporting the first failure
            errors.append(err)
    if errors:
        raise errors[0]


def process(input_spec, outdir, config, *, model=None, fps=None, max_frames=None, progress=None,
            stop=None, quiet_log=None, strict=False):
    """One recording, as ``bgsub run`` and each batch job do it: open ``input_spec``, build the
    outputs ``config`` asks for under ``outdir`` (events included) and run the loop.

    Args:
        config: a resolved config (:func:`bgsub.config.resolve`).
        model: a model to use instead of the config's (the config's is ``model.load``, a
            checkpoint, when given, else a new one), or a callable ``model(source)`` returning
            ``(model, gray)`` once the source is open (e.g. a checked checkpoint). With
            ``model.init_frames`` N > 0 in ``config`` it is first fitted to the first N frames
            by EM (:func:`bgsub.train.fit_head`), and then processes every frame from the first.
        progress: callable ``progress(total_frames_or_None)`` returning a :class:`Progress`.
        stop: callable checked before each frame is read; when it returns True reading ends
            there and the run finishes with the frames read so far.
        quiet_log: a context manager factory wrapped around the loop (e.g. silencing OpenCV).
        strict: an unreadable image in a series stops the run (else it is skipped and counted).

    Returns:
        ``(stats, events)``: the :class:`RunStats` and the events output (None without events).
    """
    from bgsub.events import events_output_from
    from bgsub.postprocess import PostProcessor
    from bgsub.sources import open_source

    with open_source(input_spec, fps=fps, strict=strict) as source:
        if callable(model) and not hasattr(model, "apply"):
            model, gray = model(source)
        elif model is None:
            model, gray = model_for(config, source)
        else:
            gray = config.model.gray
        colour = not gray and len(model.shape or (0, 0, 3)) == 3
        check_fits(model, source.size, 3 if colour else 1, _QUEUE_DEPTH,
                   background=config.outputs.background_video)
        total = source.frame_count
        if max_frames is not None:
            total = min(total, max_frames) if total else max_frames
        with output_lock(outdir), _lock_outside(masks_folder(outdir, config.outputs), outdir):
            outputs = build_outputs(outdir, config.outputs, source.fps, model.params.threshold,
                                    config.events.min_area)
            events = events_output_from(config, fps=source.fps, source=str(input_spec),
                                        video=input_spec if source.kind == "video" else None)
            if events is not None:
                outputs.insert(0, events)  # first: the overlay's burn-in reads its blobs
            frames = _until(source, stop) if stop else source
            if config.model.init_frames:
                frames = _fitted(model, frames, config.model.init_frames, gray)
            with quiet_log() if quiet_log else contextlib.nullcontext():
                stats = run(frames, model, PostProcessor(config.postprocess), outputs,
                            gray=gray, max_frames=max_frames,
                            progress=progress(total) if progress else None)
        stats.skipped = getattr(source, "skipped", 0)
        stats.input_end, stats.cut_short = source.ended, source.cut_short
    return stats, events


def _lock_outside(folder, outdir):
    """The lock of ``folder`` too when it lies outside ``outdir`` (a ``--masks-dir`` elsewhere)."""
    if folder is None or Path(folder).resolve().is_relative_to(Path(outdir).resolve()):
        return contextlib.nullcontext()
    return output_lock(folder)


def model_for(config, source):
    """``(model, gray)`` a config starts ``source`` with: the checkpoint its ``model.load``
    names (checked against the source's frame size), or a new model as it describes."""
    from bgsub.config import make_model_from

    if config.model.load:
        return load_for(config.model.load, source, config.model.downscale)
    return make_model_from(config), config.model.gray


def load_for(path, source, downscale=1):
    """``(model, gray)``: the checkpoint at ``path`` (behind ``downscale``, see
    :func:`bgsub.config.downscaled`), refused with one line when it was learned on frames of
    another size than ``source``'s reduced by ``downscale``."""
    from bgsub.config import downscaled
    from bgsub.models import load_model
    from bgsub.models.downscaled import factor_for, reduced_size

    model = load_model(path)
    if model.shape is None:
        return downscaled(model, downscale), False
    height, width = model.shape[:2]
    factor = factor_for(downscale, source.size[0])
    expected = reduced_size(source.size, factor)
    if (width, height) != expected:
        reduced = f" ({expected[0]}x{expected[1]} at downscale {factor})" if factor > 1 else ""
        raise BgsubError(f"{path}: the checkpoint was learned on {width}x{height} frames, "
                         f"the input is {source.size[0]}x{source.size[1]}{reduced}")
    return downscaled(model, downscale), len(model.shape) == 2


def _fitted(model, frames, count, gray):
    """Fit ``model`` to the first ``count`` frames by EM; the frames, all of them, to process."""
    from bgsub.train import fit_head

    head, rest = fit_head(model, frames, count, gray)
    return itertools.chain(head, rest)


def _until(frames, stop):
    # Ending the source, rather than raising, lets the reader thread finish its read before
    # the source is closed.
    for frame in frames:
        if stop():
            return
        yield frame
