"""Loading a batch file: validation of every job before anything runs, and the expansion of
each job into recordings (globs, folders of videos)."""

from __future__ import annotations

import glob
import importlib.util
import os
from pathlib import Path

from bgsub.batch.spec import BATCH_KEYS, EXECUTORS, JOB_KEYS, Batch, Recording
from bgsub.config import canonical, merge, resolve, unknown_key
from bgsub.errors import BgsubError
from bgsub.sources import is_image_file
from bgsub.yamlfile import fail, load_yaml


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
    """Resolve the file path at ``section.key`` of ``config`` (when one is given) against
    ``base``; a missing file is a config error naming ``what`` it is."""
    value = getattr(getattr(config, section), key)
    if isinstance(value, str):
        value = _under(base, value)
        if not os.path.isfile(value):
            fail(locator, path + (section, key), f"no such {what}: {value}")
        config = config.replace(section, **{key: value})
    return config


def _localise(config, outdir):
    """The recording's config: relative ``masks_dir``, ``events.file`` and ``events.clips`` go
    under ``outdir``."""
    def under(value):
        return str(Path(outdir) / os.path.expanduser(value)) if isinstance(value, str) else value

    config = config.replace("outputs", masks_dir=under(config.outputs.masks_dir))
    return config.replace("events", file=under(config.events.file),
                          clips=under(config.events.clips))


def _check_distinct_outputs(locator, recordings):
    owner = {}
    for rec in recordings:
        if rec.output in owner and owner[rec.output] != rec.job:
            fail(locator, ("jobs", rec.job, "output"),
                 f"same output folder as jobs[{owner[rec.output]}]: {rec.output}")
        owner.setdefault(rec.output, rec.job)


def is_glob(text):
    return glob.has_magic(text)


def _expand(spec, out, all_outputs):
    """``[(input, output folder)]`` for one job (see docs/batch.md for the rules).

    A plain path is one recording written to ``out``, found or not (a missing input fails at run
    time). A glob whose matches are all images is one image sequence written to ``out``;
    otherwise every matching folder and non-image file is one recording in a subfolder of
    ``out`` named after its path below the glob's fixed part. Matches inside any job's output
    folder are ignored, so outputs are never taken for inputs.
    """
    if not is_glob(spec):
        return [(spec, out)]
    matches = sorted(m for m in glob.glob(spec, recursive=True) if not _inside_any(m, all_outputs))
    if matches and all(is_image_file(m) for m in matches):
        return [(spec, out)]
    chosen = [m for m in matches if os.path.isdir(m) or not is_image_file(m)]
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
    if importlib.util.find_spec("distributed") is None:
        raise BgsubError("the dask executor needs dask.distributed: pip install 'bgsub[dask]'")
