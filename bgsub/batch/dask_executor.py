"""The Dask executor: recordings as tasks on a Dask cluster (a scheduler address, or local
workers)."""

from __future__ import annotations

import os
import time

from bgsub.batch.recording import one_line, result_record, run_recording
from bgsub.batch.spec import POLL_S
from bgsub.errors import BgsubError


class _DaskChannel:
    """Worker side of the Dask executor's progress queue and stop event (pickled by name)."""

    interval = 0.5

    def __init__(self, queue, stop):
        self.queue = queue
        self.stop = stop

    def send(self, message):
        try:
            self.queue.put(message)
        except Exception:  # progress is best effort; the result travels with the task
            pass

    def should_stop(self):
        try:
            return self.stop.is_set()
        except Exception:
            return False


class DaskExecutor:
    """Runs recordings as tasks on a dask.distributed cluster: the one at ``scheduler``, or a
    ``LocalCluster`` of ``workers`` single-threaded processes started for the batch."""

    def __init__(self, workers, scheduler, events):
        self.workers = workers
        self.scheduler = scheduler
        self.events = events
        self.client = None
        self.cluster = None
        self.queue = None
        self.stop = None
        self.futures = {}

    def run(self, recordings):
        from distributed import Client, Event, LocalCluster, Queue

        try:
            if self.scheduler:
                self.client = Client(self.scheduler, timeout="15s")
            else:
                self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                            processes=True, dashboard_address=None)
                self.client = Client(self.cluster)
        except Exception as err:  # refused, timed out, or what answered speaks no dask
            raise BgsubError(f"cannot reach the dask scheduler {self.scheduler}: "
                             f"{one_line(err)}") from None
        token = f"bgsub-batch-{os.getpid()}-{time.time_ns()}"
        self.queue = Queue(f"{token}-progress", client=self.client)
        self.stop = Event(f"{token}-stop", client=self.client)
        channel = _DaskChannel(self.queue, self.stop)
        self.futures = {
            self.client.submit(run_recording, rec, channel, key=f"{token}-{rec.index}", pure=False): rec
            for rec in recordings
        }
        self._collect()

    def _collect(self, deadline=None):
        while self.futures and (deadline is None or time.monotonic() < deadline):
            time.sleep(POLL_S)
            self._drain()
            for future in [f for f in self.futures if f.done()]:
                rec = self.futures.pop(future)
                try:
                    result = future.result()
                except Exception as err:  # a worker lost, a task cancelled
                    result = result_record(rec, "failed", one_line(err))
                self.events.finished(rec, result)
        self._drain()

    def _drain(self):
        for message in self.queue.get(batch=True):
            self.events.message(tuple(message))

    def cancel(self):
        """Ctrl-C: running recordings abort at their next progress report, queued ones as they
        start; whatever has not answered within 30 s is cancelled."""
        if self.stop is None:
            return
        self.stop.set()
        self._collect(deadline=time.monotonic() + 30)
        if self.futures:
            self.client.cancel(list(self.futures))

    def kill(self):
        """A second Ctrl-C: cancel what is left and stop waiting (:meth:`close` then ends our
        own LocalCluster's workers)."""
        if self.client is not None and self.futures:
            self.client.cancel(list(self.futures), force=True)
        self.futures = {}

    def close(self):
        """Close the client and, when the batch started one, its LocalCluster."""
        for thing in (self.client, self.cluster):
            if thing is not None:
                thing.close()
