"""Batch processing: many recordings from one YAML file, on local worker processes or Dask.

A batch file names ``jobs`` (an input and an output folder each) and ``defaults`` that every job
inherits (the same schema as ``bgsub run --config``). :func:`load_batch` validates the whole
file before anything runs and expands each job into :class:`Recording` objects; :func:`run_batch`
processes them, one recording per worker process, and returns a :class:`BatchReport`.

Completeness and resume: every finished recording gets ``OUTDIR/.bgsub-manifest.json``, written
atomically *after* all its outputs are closed. It records the input's fingerprint (the size and
modification time of every file it reads) and the resolved parameters. A recording whose manifest
matches, and whose listed outputs are all present with their recorded sizes, is skipped; anything
else is processed again, starting by deleting the old manifest, so a run killed at any point never
leaves a manifest beside outputs that are not complete.

Modules: ``spec`` (the batch, its recordings and report, the keys a file takes), ``jobs``
(loading and validation), ``recording`` (one recording in a worker, its manifest),
``local_executor`` and ``dask_executor`` (where recordings run), ``progress`` (bars and lines);
this one runs a batch and writes its summary.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import time

from bgsub.batch.dask_executor import DaskExecutor
from bgsub.batch.jobs import load_batch
from bgsub.batch.local_executor import LocalExecutor
from bgsub.batch.progress import BatchProgress, Results, shown_path
from bgsub.batch.recording import (
    input_fingerprint,
    process_recording,
    read_manifest,
    result_record,
    run_recording,
    write_atomic,
)
from bgsub.batch.spec import (
    BATCH_KEYS,
    EXECUTORS,
    JOB_KEYS,
    MANIFEST_NAME,
    SUMMARY_FIELDS,
    Batch,
    BatchFailed,
    BatchReport,
    Executor,
    Recording,
)
from bgsub.errors import BgsubError
from bgsub.sinks import prepare_folder


def run_batch(batch, *, force=False, progress=None):
    """Process ``batch``'s recordings; returns a :class:`BatchReport` (summary files written).

    Recordings with a matching manifest are skipped unless ``force``. ``progress`` receives
    ``message``/``finished``/``note``/``close`` calls (default: a :class:`BatchProgress` on
    stderr). On Ctrl-C running recordings are aborted (a second Ctrl-C kills the workers), the
    summary is written with the unfinished ones marked ``interrupted`` and the report says
    ``interrupted``.
    """
    start = time.perf_counter()
    if batch.executor == "dask" and batch.scheduler:
        check_scheduler(batch.scheduler)
    prepare_folder(batch.summary_dir)  # fail now rather than after hours of processing
    progress = progress or BatchProgress(len(batch.recordings))
    results = Results(progress)
    todo = []
    for rec in batch.recordings:
        manifest = None if force else read_manifest(rec)
        if manifest is None:
            todo.append(rec)
        else:
            results.finished(rec, {**result_record(rec, "skipped"), **manifest["stats"], "wall_s": 0.0})
    interrupted = _execute(batch, todo, results) if todo else False
    progress.close()
    rows = [results.by_index.get(rec.index) or result_record(rec, "interrupted", "")
            for rec in batch.recordings]
    report = BatchReport(rows, interrupted=interrupted, wall_s=time.perf_counter() - start)
    report.summary_json, report.summary_csv = write_summary(batch, report)
    return report


def check_scheduler(address, timeout=2.0):
    """Refuse, in about a second, a Dask scheduler that nothing answers at: a TCP connection to
    its host and port (dask's own client waits its whole timeout before saying so)."""
    protocol, _, rest = address.rpartition("://")
    host, _, port = rest.rpartition(":")
    if protocol not in ("", "tcp", "tls") or not port.isdigit():
        return  # another transport: dask's client reports it
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise BgsubError(f"cannot reach the dask scheduler {address}: {reason.lower()}") from None


def _execute(batch: Batch, recordings: list[Recording], events: Results) -> bool:
    """Run ``recordings`` on the batch's executor; True when interrupted by Ctrl-C."""
    executor: Executor
    if batch.executor == "dask":
        executor = DaskExecutor(batch.workers, batch.scheduler, events)
    else:
        executor = LocalExecutor(batch.workers, events)
    try:
        executor.run(recordings)
        return False
    except KeyboardInterrupt:
        events.note("interrupted: stopping the running recordings (Ctrl-C again to kill them)")
        try:
            executor.cancel()
        except KeyboardInterrupt:
            executor.kill()
        return True
    finally:
        executor.close()


def write_summary(batch, report):
    """Write ``summary.json`` and ``summary.csv`` into ``batch.summary_dir`` atomically."""
    folder = batch.summary_dir
    counts = {s: report.count(s) for s in ("done", "skipped", "failed", "interrupted")}
    document = {
        "batch_file": os.path.abspath(batch.file),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_s": round(report.wall_s, 3),
        "counts": counts,
        "recordings": report.results,
    }
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(report.results)
    json_path, csv_path = folder / "summary.json", folder / "summary.csv"
    write_atomic(json_path, json.dumps(document, indent=2) + "\n")
    write_atomic(csv_path, text.getvalue())
    return json_path, csv_path


def format_summary(report):
    """The end-of-run table printed on stdout."""
    lines = [f"{'status':<11} {'frames':>7} {'fps':>8} {'fg %':>6} {'wall s':>7}  input"]
    for r in report.results:
        lines.append(f"{r['status']:<11} {r['frames']:>7} {r['fps']:>8.1f} "
                     f"{r['foreground_pct']:>6.2f} {r['wall_s']:>7.1f}  {shown_path(r['input'])}")
        if r["error"] and r["status"] != "skipped":
            lines.append(f"{'':<11} {r['error']}")
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("done", "skipped", "failed", "interrupted")
                       if report.count(s) or s == "done")
    lines.append(f"{len(report.results)} recordings: {counts} in {report.wall_s:.1f} s; "
                 f"summary: {shown_path(str(report.summary_json))}")
    return "\n".join(lines)


__all__ = [
    "BATCH_KEYS",
    "EXECUTORS",
    "JOB_KEYS",
    "MANIFEST_NAME",
    "SUMMARY_FIELDS",
    "Batch",
    "BatchFailed",
    "BatchProgress",
    "BatchReport",
    "Recording",
    "check_scheduler",
    "format_summary",
    "input_fingerprint",
    "load_batch",
    "process_recording",
    "read_manifest",
    "run_batch",
    "run_recording",
    "write_atomic",
    "write_summary",
]
