"""What a batch is: its recordings, the report of a run, and the keys a batch file takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from pathlib import Path

from bgsub.config import DEFAULTS, Config
from bgsub.errors import BgsubError


MANIFEST_NAME = ".bgsub-manifest.json"
MANIFEST_VERSION = 1
SUMMARY_FIELDS = ("input", "output", "status", "frames", "fps", "foreground_pct", "wall_s", "error")
BATCH_KEYS = ("defaults", "workers", "executor", "scheduler", "summary_dir", "jobs")
JOB_KEYS = ("input", "output", *DEFAULTS)
EXECUTORS = ("local", "dask")
# A recording whose worker died this many times in a shared pool is then run in a pool of its own.
SHARED_POOL_TRIES = 2
POLL_S = 0.2


class BatchFailed(BgsubError):
    """Some recordings failed; the others were processed (exit code 1)."""

    exit_code = 1


@dataclass(frozen=True)
class Recording:
    """One input to process: ``input`` (a video, an image folder or an image glob), the
    ``output`` folder and the resolved ``config``; ``index`` is its place in the batch."""

    index: int
    job: int
    input: str
    output: str
    config: Config


@dataclass
class Batch:
    """A validated batch file: its recordings and how to run them."""

    file: str
    recordings: list
    workers: int
    executor: str
    scheduler: str | None
    summary_dir: Path


@dataclass
class BatchReport:
    """What :func:`run_batch` did: one result dict per recording (keys :data:`SUMMARY_FIELDS`),
    in batch order, and where the summary files went."""

    results: list
    summary_json: Path | None = None
    summary_csv: Path | None = None
    interrupted: bool = False
    wall_s: float = 0.0

    def count(self, status):
        return sum(1 for r in self.results if r["status"] == status)

    @property
    def failed(self):
        return self.count("failed")


class Executor(Protocol):
    """Where a batch's recordings run (:class:`~bgsub.batch.local_executor.LocalExecutor`,
    :class:`~bgsub.batch.dask_executor.DaskExecutor`); results and progress go to the ``events``
    given to its constructor (``finished(rec, result)``, ``message(message)``, ``note(text)``)."""

    def run(self, recordings: list[Recording]) -> None:
        """Run every recording, handing each result to the events as it comes."""

    def cancel(self) -> None:
        """Ctrl-C: make running recordings abort and collect their results."""

    def kill(self) -> None:
        """A second Ctrl-C: stop the running recordings now."""

    def close(self) -> None:
        """Release what :meth:`run` started (always called, once, at the end)."""
