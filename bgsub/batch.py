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
"""

from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import io
import itertools
import json
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bgsub import atomic, pipeline
from bgsub.config import (MODEL_KEYS, DEFAULTS, canonical, fail, load_yaml, merge, model_params,
                          resolve, unknown_key)
from bgsub.errors import BgsubError, SinkError, SourceError
from bgsub.models import MODELS
from bgsub.sinks import output_lock, prepare_folder
from bgsub.sources import IMAGE_EXTENSIONS

MANIFEST_NAME = ".bgsub-manifest.json"
MANIFEST_VERSION = 1
SUMMARY_FIELDS = ("input", "output", "status", "frames", "fps", "foreground_pct", "wall_s", "error")
BATCH_KEYS = ("defaults", "workers", "executor", "scheduler", "summary_dir", "jobs")
JOB_KEYS = ("input", "output", *DEFAULTS)
EXECUTORS = ("local", "dask")
# A recording whose worker died this many times in a shared pool is then run in a pool of its own.
_SHARED_POOL_TRIES = 2
_POLL_S = 0.2


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
    config: dict


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


# ---------------------------------------------------------------------------------------------
# Loading and validation


class _JobLocator:
    """Points an error in ``jobs[i]``'s merged settings at the line where the value was written:
    the job's own key if it has it, else the key in ``defaults``."""

    def __init__(self, locator, job, defaults, index):
        self._locator = locator
        self._job = job
        self._defaults = defaults
        self._index = index
        self.file = locator.file

    def at(self, path):
        path = tuple(path)
        rest = path[2:]
        if path[:2] == ("jobs", self._index) and rest:
            if not _has_path(self._job, rest) and _has_path(self._defaults, rest):
                return self._locator.at(("defaults", *rest))
        return self._locator.at(path)


def _has_path(data, path):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True


def _expect(locator, path, value, ok, what):
    if not ok:
        fail(locator, path, f"must be {what}, got {value!r}")


def load_batch(path, *, workers=None, executor=None, scheduler=None, summary_dir=None):
    """Read and validate the batch file at ``path``; returns a :class:`Batch`.

    Keyword arguments override the file's top-level options (command-line flags). Any error in
    the file is one :class:`~bgsub.errors.ConfigError` naming the file, line and key path. Relative
    paths in the file resolve against the file's folder; ``summary_dir`` given here resolves
    against the current directory.
    """
    data, locator = load_yaml(path, "job file")
    base = Path(path).resolve().parent
    for key in data:
        if key not in BATCH_KEYS:
            fail(locator, (key,), unknown_key(key, BATCH_KEYS))
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        fail(locator, ("defaults",), "must be a mapping of config sections")
    _check_file(locator, ("defaults",), resolve(defaults, locator=locator, path=("defaults",)), base,
                "postprocess", "roi", "ROI image")

    options = _file_options(locator, data, base)
    workers = workers or options["workers"] or os.cpu_count() or 1
    if scheduler is not None:
        executor = executor or "dask"  # a scheduler given on the command line asks for dask
    else:
        scheduler = options["scheduler"]
    executor = executor or options["executor"] or ("dask" if scheduler else "local")
    if scheduler and executor != "dask":
        fail(locator, ("scheduler",), "needs executor: dask")
    if executor == "dask":
        _require_dask()
    summary_dir = summary_dir if summary_dir is not None else options["summary_dir"]

    jobs = _validate_jobs(locator, data, defaults, base)
    outputs = [out for _, _, out in jobs]
    recordings = []
    for job_index, (spec, config, out) in enumerate(jobs):
        for input_spec, rec_out in _expand(spec, out, outputs):
            recordings.append(Recording(len(recordings), job_index, input_spec, str(rec_out),
                                        _localise(config, rec_out)))
    _check_distinct_outputs(locator, recordings)
    if summary_dir is None:
        summary_dir = Path(os.path.commonpath([str(o) for o in outputs]))
    return Batch(str(path), recordings, workers, executor, scheduler, Path(summary_dir).resolve())


def _file_options(locator, data, base):
    """The file's top-level options, checked; None where not given."""
    workers, executor = data.get("workers"), data.get("executor")
    scheduler, summary_dir = data.get("scheduler"), data.get("summary_dir")
    if workers is not None:
        _expect(locator, ("workers",), workers,
                isinstance(workers, int) and not isinstance(workers, bool) and workers >= 1,
                "an integer of at least 1")
    if executor is not None and executor not in EXECUTORS:
        fail(locator, ("executor",), f"must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if scheduler is not None:
        _expect(locator, ("scheduler",), scheduler, isinstance(scheduler, str) and scheduler,
                "a scheduler address such as tcp://host:8786")
    if summary_dir is not None:
        _expect(locator, ("summary_dir",), summary_dir, isinstance(summary_dir, str) and summary_dir,
                "a folder path")
        summary_dir = _under(base, summary_dir)
    return {"workers": workers, "executor": executor, "scheduler": scheduler,
            "summary_dir": summary_dir}


def _validate_jobs(locator, data, defaults, base):
    """``[(input path, resolved config, output folder)]`` for every job."""
    jobs = data.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        fail(locator, ("jobs",), "must be a list of jobs, each with an input and an output")
    checked = []
    for index, job in enumerate(jobs):
        where = ("jobs", index)
        if not isinstance(job, dict):
            fail(locator, where, "must be a mapping with input and output")
        for key in job:
            if key not in JOB_KEYS:
                fail(locator, where + (key,), unknown_key(key, JOB_KEYS))
        for key in ("input", "output"):
            if key not in job:
                fail(locator, where, f"missing key '{key}'")
            _expect(locator, where + (key,), job[key], isinstance(job[key], str) and job[key],
                    "a path")
        if "://" in job["input"]:
            fail(locator, where + ("input",), "must be a file, folder or glob (streams and "
                                              "cameras are for bgsub run and bgsub live)")
        input_spec, output = _under(base, job["input"]), _under(base, job["output"])
        _check_output_outside_input(locator, where, input_spec, output)
        # Other names (events.quiet) become their keys first, so a job's overrides the defaults'.
        own = canonical({k: v for k, v in job.items() if k not in ("input", "output")}, locator,
                        where)
        settings = merge(canonical(defaults, locator, ("defaults",)), own)
        job_locator = _JobLocator(locator, job, defaults, index)
        config = resolve(settings, locator=job_locator, path=where)
        config = _check_file(job_locator, where, config, base, "postprocess", "roi", "ROI image")
        config = _check_file(job_locator, where, config, base, "model", "load", "checkpoint")
        checked.append((input_spec, config, Path(output)))
    return checked


def _check_output_outside_input(locator, where, input_spec, output):
    """Outputs written into an input folder change its fingerprint: the job would be redone on
    every run (and its masks taken for frames)."""
    if os.path.isdir(input_spec) and _inside_any(output, [os.path.abspath(input_spec)]):
        fail(locator, where + ("output",), f"must not be the input folder or inside it: {output}")


def _under(base, text):
    return os.path.normpath(os.path.join(base, os.path.expanduser(text)))


def _check_file(locator, path, config, base, section, key, what):
    """Resolve the file path at ``config[section][key]`` (when one is given) against ``base``;
    a missing file is a config error naming ``what`` it is."""
    value = config[section][key]
    if isinstance(value, str):
        value = _under(base, value)
        if not os.path.isfile(value):
            fail(locator, path + (section, key), f"no such {what}: {value}")
        config[section][key] = value
    return config


def _localise(config, outdir):
    """The recording's config: relative ``masks_dir``, ``events.file`` and ``events.clips`` go
    under ``outdir``."""
    config = merge(config, {})
    masks_dir = config["outputs"]["masks_dir"]
    if isinstance(masks_dir, str):
        config["outputs"]["masks_dir"] = str(Path(outdir) / os.path.expanduser(masks_dir))
    for key in ("file", "clips"):
        if isinstance(config["events"][key], str):
            config["events"][key] = str(Path(outdir) / os.path.expanduser(config["events"][key]))
    return config


def _check_distinct_outputs(locator, recordings):
    owner = {}
    for rec in recordings:
        if rec.output in owner and owner[rec.output] != rec.job:
            fail(locator, ("jobs", rec.job, "output"),
                 f"same output folder as jobs[{owner[rec.output]}]: {rec.output}")
        owner.setdefault(rec.output, rec.job)


def _is_glob(text):
    return glob.has_magic(text)


def _is_image_file(path):
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS and os.path.isfile(path)


def _expand(spec, out, all_outputs):
    """``[(input, output folder)]`` for one job (see docs/batch.md for the rules).

    A plain path is one recording written to ``out``, found or not (a missing input fails at run
    time). A glob whose matches are all images is one image sequence written to ``out``;
    otherwise every matching folder and non-image file is one recording in a subfolder of
    ``out`` named after its path below the glob's fixed part. Matches inside any job's output
    folder are ignored, so outputs are never taken for inputs.
    """
    if not _is_glob(spec):
        return [(spec, out)]
    matches = sorted(m for m in glob.glob(spec, recursive=True) if not _inside_any(m, all_outputs))
    if matches and all(_is_image_file(m) for m in matches):
        return [(spec, out)]
    chosen = [m for m in matches if os.path.isdir(m) or not _is_image_file(m)]
    if not chosen:
        return [(spec, out)]  # fails when run: nothing matches
    root = _fixed_part(spec)
    names = [_subfolder(m, root) for m in chosen]
    taken = {n for n in names if names.count(n) > 1}
    return [(m, out / (_subfolder(m, root, keep_suffix=True) if n in taken else n))
            for m, n in zip(chosen, names)]


def _fixed_part(pattern):
    parts = []
    for part in Path(pattern).parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _subfolder(match, root, keep_suffix=False):
    rel = Path(match).relative_to(root)
    if os.path.isdir(match) or not rel.suffix:
        return rel
    if keep_suffix:
        return rel.with_name(rel.stem + "_" + rel.suffix.lstrip("."))
    return rel.with_suffix("")


def _inside_any(path, folders):
    path = os.path.abspath(path)
    return any(path == str(f) or path.startswith(str(f) + os.sep) for f in folders)


def _require_dask():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise BgsubError("the dask executor needs dask.distributed: pip install 'bgsub[dask]'") from None


# ---------------------------------------------------------------------------------------------
# One recording (runs in a worker process)


def process_recording(input_spec, outdir, config, *, fps=None, max_frames=None, progress=None,
                      stop=None):
    """Process one input into ``outdir`` as ``bgsub run`` does; returns :class:`pipeline.RunStats`.

    See :func:`bgsub.pipeline.process` for the arguments. Raises
    :class:`~bgsub.errors.BgsubError` for user errors.
    """
    stats, _ = pipeline.process(input_spec, outdir, config, fps=fps, max_frames=max_frames,
                                progress=progress, stop=stop)
    return stats


def input_fingerprint(spec):
    """Size and modification time of every file ``spec`` reads, hashed; None if it reads none.

    A folder counts all its visible files (ground truth beside the frames included), a glob its
    matches. Cheap on network storage: nothing is read, only listed.
    """
    if _is_glob(spec):
        files = [f for f in glob.glob(spec, recursive=True) if os.path.isfile(f)]
    elif os.path.isdir(spec):
        files = [e.path for e in os.scandir(spec) if e.is_file() and not e.name.startswith(".")]
    elif os.path.isfile(spec):
        files = [spec]
    else:
        return None
    if not files:
        return None
    digest = hashlib.sha256()
    total = 0
    for name in sorted(files):
        st = os.stat(name)
        total += st.st_size
        digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"files": len(files), "bytes": total, "sha256": digest.hexdigest()}


def _manifest_path(outdir):
    return Path(outdir) / MANIFEST_NAME


def _parameters(config):
    """What a manifest records of ``config``: every model parameter spelled out (so a changed
    default is a changed parameter), as JSON gives it back (tuples become lists)."""
    config = merge(config, {})
    model = config["model"]
    params = MODELS[model["name"]].params_class(**model_params(model)).to_dict()
    config["model"] = {**{key: model[key] for key in MODEL_KEYS}, **params}
    return json.loads(json.dumps(config))


def read_manifest(rec):
    """The manifest of ``rec``'s output folder if it proves the outputs complete and current
    (same input, same input fingerprint, same parameters, every output present), else None."""
    try:
        with open(_manifest_path(rec.output), encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
        return None
    if (manifest.get("input") != rec.input or manifest.get("config") != _parameters(rec.config)
            or manifest.get("fingerprint") != input_fingerprint(rec.input)):
        return None
    for item in manifest.get("outputs", []):
        path = Path(rec.output) / item["path"]
        if item.get("dir") and not path.is_dir():
            return None
        if not item.get("dir") and (not path.is_file() or path.stat().st_size != item["size"]):
            return None
    return manifest


def _write_manifest(rec, fingerprint, stats, result):
    outputs = []
    for out in stats.outputs:
        out = Path(out)
        rel = os.path.relpath(out, rec.output)
        if out.is_dir():
            outputs.append({"path": rel, "dir": True})
        elif out.is_file():
            _fsync(out)
            outputs.append({"path": rel, "size": out.stat().st_size})
    manifest = {
        "version": MANIFEST_VERSION,
        "input": rec.input,
        "fingerprint": fingerprint,
        "config": _parameters(rec.config),
        "outputs": outputs,
        "stats": {k: result[k] for k in ("frames", "fps", "foreground_pct", "wall_s")},
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_atomic(_manifest_path(rec.output), json.dumps(manifest, indent=2) + "\n")


def _fsync(path):
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename, so
    readers see the old file or the whole new one, never a part."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SinkError(f"cannot write {path}: {err.strerror or err}") from None
    atomic.write_atomic(path, text, sync=True)


def _forget_outputs(outdir):
    """Before (re)processing: drop the manifest first, then what a killed run left half-written."""
    outdir = Path(outdir)
    try:
        _manifest_path(outdir).unlink(missing_ok=True)
        if outdir.is_dir():
            for partial in outdir.glob(".*.partial*"):
                partial.unlink(missing_ok=True)
    except OSError as err:
        raise SinkError(f"cannot write to folder {outdir}: {err.strerror or err}") from None


def _result(rec, status, error="", stats=None, wall_s=0.0):
    return {
        "input": rec.input,
        "output": rec.output,
        "status": status,
        "frames": stats.frames if stats else 0,
        "fps": round(stats.fps, 2) if stats else 0.0,
        "foreground_pct": round(stats.mean_foreground, 4) if stats else 0.0,
        "wall_s": round(wall_s, 3),
        "error": error,
    }


def _one_line(err):
    text = " ".join(str(err).split())
    return text if isinstance(err, BgsubError) else f"{type(err).__name__}: {text}"


class _Reporter:
    """The ``progress`` of a worker's pipeline: sends frame counts to the parent at most every
    ``interval`` seconds and, at the same pace, asks the channel whether to stop."""

    def __init__(self, channel, index, interval):
        self.channel = channel
        self.index = index
        self.interval = interval
        self.stopped = False
        self._sent = 0
        self._last = 0.0

    def __call__(self, total):
        self.channel.send(("open", self.index, total))
        return self

    def update(self, frames, force=False):
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self._flush(frames)
        self.stopped = self.stopped or self.channel.should_stop()

    def finish(self, frames):
        self._flush(frames)

    def _flush(self, frames):
        if frames > self._sent:
            self.channel.send(("frames", self.index, frames - self._sent))
            self._sent = frames


class _NullChannel:
    interval = 1.0

    def send(self, message):
        pass

    def should_stop(self):
        return False


def run_recording(rec, channel=None):
    """Process ``rec`` in this process: returns its result dict (status ``done``, ``failed`` or
    ``interrupted``), never raises for a bad input. Writes the manifest last, only on success."""
    channel = channel or _LOCAL_CHANNEL or _NullChannel()
    if channel.should_stop():  # queued before a Ctrl-C: leave its folder as it is
        return _result(rec, "interrupted", "")
    channel.send(("start", rec.index, os.getpid()))
    start = time.perf_counter()
    reporter = _Reporter(channel, rec.index, channel.interval)
    try:
        # Held from the first deletion to the manifest: another run's partial files are its own.
        with output_lock(rec.output):
            _forget_outputs(rec.output)
            if _is_glob(rec.input) and not glob.glob(rec.input, recursive=True):
                raise SourceError(f"no files match: {rec.input}")
            fingerprint = input_fingerprint(rec.input)
            with _warnings_as_lines(rec.input):
                stats = process_recording(rec.input, rec.output, rec.config, progress=reporter,
                                          stop=lambda: reporter.stopped)
            if reporter.stopped or stats.interrupted:
                _remove_videos(stats.outputs)
                return _result(rec, "interrupted", "", stats, time.perf_counter() - start)
            result = _result(rec, "done", "", stats, time.perf_counter() - start)
            _write_manifest(rec, fingerprint, stats, result)
            return result
    except Exception as err:  # any failure belongs to this recording only
        return _result(rec, "failed", _one_line(err), None, time.perf_counter() - start)


@contextlib.contextmanager
def _warnings_as_lines(name):
    """Show Python warnings (e.g. a resolution change) as one stderr line naming the input."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"bgsub: warning: {name}: {message}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _remove_videos(paths):
    """Delete the videos of a recording stopped half-way: they hold only part of it (the mask
    images of ``masks_dir`` are each complete and stay)."""
    for path in map(Path, paths):
        if path.is_file():
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Local executor: a pool of worker processes


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


_LOCAL_CHANNEL = None


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
    global _LOCAL_CHANNEL
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _LOCAL_CHANNEL = _LocalChannel(queue, stop)
    import cv2
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    cv2.setNumThreads(threads)


class _LocalExecutor:
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
                    self.events.finished(rec, _result(
                        rec, "failed", "the worker process died while processing it (crash or kill)"))
                elif rec.index in started or tries[rec.index] >= _SHARED_POOL_TRIES:
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
            self._workers = list(self._pool._processes.values())
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
            done, _ = wait(self._futures, timeout=_POLL_S, return_when=FIRST_COMPLETED)
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


# ---------------------------------------------------------------------------------------------
# Dask executor


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


class _DaskExecutor:
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
                             f"{_one_line(err)}") from None
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
            time.sleep(_POLL_S)
            self._drain()
            for future in [f for f in self.futures if f.done()]:
                rec = self.futures.pop(future)
                try:
                    result = future.result()
                except Exception as err:  # a worker lost, a task cancelled
                    result = _result(rec, "failed", _one_line(err))
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
        """A second Ctrl-C: stop waiting (closing our own LocalCluster ends its workers)."""

    def close(self):
        for thing in (self.client, self.cluster):
            if thing is not None:
                thing.close()


# ---------------------------------------------------------------------------------------------
# Running a batch


class BatchProgress:
    """Progress on stderr: one line per finished recording and, when stderr is a terminal, tqdm
    bars: the recordings done (with the frames and fps of the whole batch), and a line per
    running recording (its frames, fps and ETA). ``names`` maps recording indices to their
    inputs, which name the running recordings' bars."""

    def __init__(self, total, stream=None, bar=None, lines=True, names=None):
        self.total = total
        self.stream = stream or sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        self.lines = lines
        self.names = names or {}
        self.finished_count = 0
        self.failed = 0
        self.frames = 0
        self.frame_totals = {}
        self._start = time.perf_counter()
        self._overall = tqdm(total=total, file=self.stream, disable=not self.bar, position=0,
                             dynamic_ncols=True, mininterval=0.2,
                             bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} recordings{postfix} "
                                        "[{elapsed}]")
        self._jobs = {}  # index -> the bar of a running recording

    def message(self, message):
        kind, index, value = message
        if kind == "open":
            self.frame_totals[index] = value
            self._job_bar(index, value)
        elif kind == "frames":
            self.frames += value
            if index in self._jobs:
                self._jobs[index].update(value)
        self.draw()

    def _job_bar(self, index, total):
        if not self.bar:
            return
        if index in self._jobs:  # a retry after a worker died: the recording starts again
            self._jobs.pop(index).close()
        taken = {bar.pos for bar in self._jobs.values()}
        position = next(p for p in itertools.count(1) if p not in taken and -p not in taken)
        self._jobs[index] = pipeline.frame_bar(total, self.stream, True, interval=0.2,
                                               position=position, leave=False,
                                               desc=f"{_show(self.names.get(index, f'#{index}'))}: ")

    def note(self, text):
        self._print(text)

    def finished(self, rec, result):
        self.finished_count += 1
        self.failed += result["status"] == "failed"
        if rec.index in self._jobs:
            self._jobs.pop(rec.index).close()
        if self.lines:
            self._print(self._line(rec, result))
        self._overall.update(1)
        self.draw(force=True)

    def _line(self, rec, result):
        head = f"{result['status']:<8} {self.finished_count}/{self.total}  {_show(rec.input)}"
        if result["status"] == "done":
            return (f"{head} -> {_show(rec.output)}: {result['frames']} frames, "
                    f"{result['fps']:.1f} fps, foreground {result['foreground_pct']:.2f}%, "
                    f"{result['wall_s']:.1f} s")
        if result["status"] == "skipped":
            return f"{head}: up to date in {_show(rec.output)}"
        return f"{head}: {result['error']}" if result["error"] else head

    def _print(self, text):
        if self.bar:
            tqdm.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def draw(self, force=False):
        """Refresh the overall bar's figures (tqdm limits how often it redraws)."""
        if not self.bar:
            return
        elapsed = time.perf_counter() - self._start
        known = sum(v for v in self.frame_totals.values() if v)
        frames = f"{self.frames}/{known}" if known else str(self.frames)
        failed = f"{self.failed} failed | " if self.failed else ""
        fps = self.frames / elapsed if elapsed > 0 else 0.0
        self._overall.set_postfix_str(f"{failed}{frames} frames | {fps:.0f} fps", refresh=force)

    def close(self):
        for bar in self._jobs.values():
            bar.close()
        self._jobs.clear()
        self._overall.close()


def _show(path):
    """``path`` relative to the current folder when it is below it, else as is."""
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return path if rel.startswith("..") else rel


class _Results:
    """Collects results by recording and forwards every event to the progress display."""

    def __init__(self, progress):
        self.progress = progress
        self.by_index = {}

    def message(self, message):
        self.progress.message(message)

    def note(self, text):
        self.progress.note(text)

    def finished(self, rec, result):
        self.by_index[rec.index] = result
        self.progress.finished(rec, result)


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
    results = _Results(progress)
    todo = []
    for rec in batch.recordings:
        manifest = None if force else read_manifest(rec)
        if manifest is None:
            todo.append(rec)
        else:
            results.finished(rec, {**_result(rec, "skipped"), **manifest["stats"], "wall_s": 0.0})
    interrupted = _execute(batch, todo, results) if todo else False
    progress.close()
    rows = [results.by_index.get(rec.index) or _result(rec, "interrupted", "")
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


def _execute(batch, recordings, events):
    """Run ``recordings`` on the batch's executor; True when interrupted by Ctrl-C."""
    if batch.executor == "dask":
        executor = _DaskExecutor(batch.workers, batch.scheduler, events)
    else:
        executor = _LocalExecutor(batch.workers, events)
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
        if isinstance(executor, _DaskExecutor):
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
                     f"{r['foreground_pct']:>6.2f} {r['wall_s']:>7.1f}  {_show(r['input'])}")
        if r["error"] and r["status"] != "skipped":
            lines.append(f"{'':<11} {r['error']}")
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("done", "skipped", "failed", "interrupted")
                       if report.count(s) or s == "done")
    lines.append(f"{len(report.results)} recordings: {counts} in {report.wall_s:.1f} s; "
                 f"summary: {_show(str(report.summary_json))}")
    return "\n".join(lines)


__all__ = [
    "Batch",
    "BatchFailed",
    "BatchProgress",
    "BatchReport",
    "Recording",
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
