"""The local executor: recordings in a pool of worker processes on this machine."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from bgsub.batch.recording import result_record, run_recording, set_worker_channel
from bgsub.batch.spec import POLL_S, SHARED_POOL_TRIES


class _LocalChannel:
    """Worker side of the local executor's progress queue and stop flag."""

    interval = 0.25

    def __init__(self, queue, stop):
        self.queue = queue
        self.stop = stop

    def send(self, message):
        self.queue.put(message)

    def should_stop(self):
        parent = multiprocessing.parent_process()
        return self.stop.is_set() or (parent is not None and not parent.is_alive())



@contextlib.contextmanager
def _sigint_ignored():
    """Ignore Ctrl-C for the duration, in the main thread (elsewhere signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _worker_context():
    """Processes for the pool: forked from a single-threaded server that has already imported
    this module (fast to start; never a fork of this threaded process), else spawned."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def _init_local_worker(queue, stop, threads):
    """Pool initializer: Ctrl-C is the parent's to handle; share the cores between workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_worker_channel(_LocalChannel(queue, stop))
    import cv2
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    cv2.setNumThreads(threads)


class LocalExecutor:
    """Runs recordings on a :class:`ProcessPoolExecutor` (processes from :func:`_worker_context`).

    A worker that dies (a crashing decoder, the OOM killer) breaks the whole pool; the
    recordings it interrupted are then run again one pool each, so only the one that kills its
    worker is marked failed, and the others carry on in a fresh pool.
    """

    def __init__(self, workers, events):
        self.workers = workers
        self.events = events
        self.ctx = _worker_context()
        self.queue = self.ctx.Queue()
        self.stop = self.ctx.Event()
        self._pool = None
        self._workers = []
        self._futures = {}
        self._started = set()
        self._lost = []

    def run(self, recordings):
        tries = {rec.index: 0 for rec in recordings}
        shared, alone = list(recordings), []
        while shared or alone:
            if shared:
                batch, shared = shared, []
            else:
                batch = [alone.pop(0)]
            lost, started = self._round(batch)
            for rec in lost:
                tries[rec.index] += 1
                if len(batch) == 1:  # it ran alone, so it is what killed its worker
                    self.events.finished(rec, result_record(
                        rec, "failed", "the worker process died while processing it (crash or kill)"))
                elif rec.index in started or tries[rec.index] >= SHARED_POOL_TRIES:
                    alone.append(rec)
                else:
                    shared.append(rec)
            if len(batch) > 1 and lost:
                self.events.note(f"a worker process died; retrying {len(lost)} recording(s)")

    def _round(self, recordings):
        """Run ``recordings`` in one pool; returns those lost to a broken pool and the indices
        of the recordings a worker had started."""
        workers = min(self.workers, len(recordings))
        threads = max(1, (os.cpu_count() or 1) // workers)
        self._started, self._lost = set(), []
        self._pool = ProcessPoolExecutor(workers, mp_context=self.ctx, initializer=_init_local_worker,
                                         initargs=(self.queue, self.stop, threads))
        try:
            with _sigint_ignored():  # spawned workers start here and inherit it
                self._futures = {self._pool.submit(run_recording, rec): rec for rec in recordings}
            # The pool forgets its processes on shutdown; a cancel still needs to watch them.
            self._workers = multiprocessing.active_children()
            self._collect()
        except BaseException:
            self._pool.shutdown(wait=False, cancel_futures=True)
            raise
        self._pool.shutdown(wait=True)
        return self._lost, self._started

    def _collect(self, deadline=None):
        """Hand each result to the events as it comes, until no future is left (or, with a
        ``deadline``, until it passes or no worker is left alive)."""
        while self._futures:
            if deadline is not None and (time.monotonic() > deadline or not self._alive()):
                break
            done, _ = wait(self._futures, timeout=POLL_S, return_when=FIRST_COMPLETED)
            self._drain()
            for future in done:
                rec = self._futures.pop(future)
                if future.cancelled():
                    continue
                try:
                    self.events.finished(rec, future.result())
                except BrokenProcessPool:
                    self._lost.append(rec)
        self._drain()

    def _drain(self):
        while True:
            try:
                message = self.queue.get_nowait()
            except Exception:  # queue.Empty; also a message cut short by a dying worker
                return
            if message[0] == "start":
                self._started.add(message[1])
            self.events.message(message)

    def cancel(self):
        """Ctrl-C: make the running recordings abort (outputs removed, no manifest) and collect
        their results; the queued ones were cancelled."""
        self.stop.set()
        self._collect(deadline=time.monotonic() + 30)
        if self._futures:
            self.kill()

    def _alive(self):
        return any(process.is_alive() for process in self._workers)

    def kill(self):
        """A second Ctrl-C: end the worker processes now."""
        for process in self._workers:
            process.kill()

    def close(self):
        """Release the pool of the last round, if a Ctrl-C left one."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
