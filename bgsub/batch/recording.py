"""One recording, in a worker process: processing it, its manifest (what makes a finished
recording skippable on the next run), and the messages it sends to the batch."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

from bgsub import atomic, pipeline
from bgsub.batch.jobs import is_glob
from bgsub.batch.spec import MANIFEST_NAME, MANIFEST_VERSION
from bgsub.errors import BgsubError, SinkError, SourceError
from bgsub.sinks import output_lock


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
    if is_glob(spec):
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
    return json.loads(json.dumps(config.to_dict()))


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


def result_record(rec, status, error="", stats=None, wall_s=0.0):
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


def one_line(err):
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


_worker_channel = None  # where run_recording reports in a worker process (set_worker_channel)


def set_worker_channel(channel):
    """Make ``channel`` (``send(message)``, ``should_stop()``, ``interval``) where
    :func:`run_recording` reports when it is given none: set once per worker process."""
    global _worker_channel
    _worker_channel = channel


def run_recording(rec, channel=None):
    """Process ``rec`` in this process: returns its result dict (status ``done``, ``failed`` or
    ``interrupted``), never raises for a bad input. Writes the manifest last, only on success."""
    channel = channel or _worker_channel or _NullChannel()
    if channel.should_stop():  # queued before a Ctrl-C: leave its folder as it is
        return result_record(rec, "interrupted", "")
    channel.send(("start", rec.index, os.getpid()))
    start = time.perf_counter()
    reporter = _Reporter(channel, rec.index, channel.interval)
    try:
        # Held from the first deletion to the manifest: another run's partial files are its own.
        with output_lock(rec.output):
            _forget_outputs(rec.output)
            if is_glob(rec.input) and not glob.glob(rec.input, recursive=True):
                raise SourceError(f"no files match: {rec.input}")
            fingerprint = input_fingerprint(rec.input)
            with _warnings_as_lines(rec.input):
                stats = process_recording(rec.input, rec.output, rec.config, progress=reporter,
                                          stop=lambda: reporter.stopped)
            if reporter.stopped or stats.interrupted:
                _remove_videos(stats.outputs)
                return result_record(rec, "interrupted", "", stats, time.perf_counter() - start)
            result = result_record(rec, "done", "", stats, time.perf_counter() - start)
            _write_manifest(rec, fingerprint, stats, result)
            return result
    except Exception as err:  # any failure belongs to this recording only
        return result_record(rec, "failed", one_line(err), None, time.perf_counter() - start)


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
