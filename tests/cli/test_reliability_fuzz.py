"""Fuzzing what users hand bgsub: generated YAML configs (well-formed settings with hostile
values, and raw YAML text) through the whole ``bgsub run`` command, and generated checkpoint
metadata through ``bgsub.load_model``. Whatever comes in: exit 0 or 2, one ``bgsub: error:``
line on error, never a traceback or another exception, never a hang (an alarm per case), and no
mask video unless the run completed.

The command runs in this process (``bgsub.cli.main``) so that a case costs milliseconds, not a
Python start-up; tests/cli/test_reliability.py runs the same cases as separate processes.
"""

import contextlib
import json
import signal
import warnings

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import make_scene, write_video

import bgsub
from bgsub.cli import main
from bgsub.config import DEFAULTS
from bgsub.errors import BgsubError
from bgsub.models import FeedbackParams

# The first case compiles nothing (the Numba cache is warm after the other tests) but may load
# the kernels from it: generous, and still far from a hang.
CASE_SECONDS = 30
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Hang(BaseException):
    """A case ran past its time: not an Exception, so nothing in bgsub can swallow it."""


@contextlib.contextmanager
def time_limit(seconds):
    def expire(signum, frame):
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_bgsub(argv, capsys):
    """``bgsub ARGV`` in this process: ``(exit code, stderr)``; any escaping exception fails."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    shown = warnings.showwarning
    try:
        with time_limit(CASE_SECONDS), pytest.raises(SystemExit) as exited:
            main([str(a) for a in argv])
    finally:
        warnings.showwarning = shown
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    return exited.value.code, capsys.readouterr().err


def check_outcome(code, stderr, out):
    assert code in (0, 2), stderr
    assert "Traceback" not in stderr
    if code == 2:
        errors = [line for line in stderr.splitlines() if line.startswith("bgsub: error: ")]
        assert len(errors) == 1 and len(stderr.strip().splitlines()) == 1, stderr
        assert not (out / "mask.mov").exists()
    else:
        assert stderr.splitlines()[-1].startswith("done: 3 frames"), stderr


# --- configs ------------------------------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers(-3, 12), st.integers(-10**30, 10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 10),
)
SCALARS = st.one_of(NUMBERS, st.none(), st.booleans(), st.text(max_size=6),
                    st.sampled_from(["gmm", "gaussian", "feedback", "fast", "default"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=12)
MODEL_KEYS = ["name", "gray", *FeedbackParams.names()]


# Values most settings accept, so that some cases get past validation and run, and the two
# that no setting accepts.
PLAUSIBLE = st.sampled_from([0, 1, 3, 5, 0.05, 0.5, 0.9, 1.5, 4.0, True, False, None,
                             float("nan"), float("inf")])


def section(keys):
    return st.dictionaries(st.sampled_from(keys), st.one_of(PLAUSIBLE, VALUES), max_size=4)


CONFIGS = st.fixed_dictionaries({}, optional={
    "preset": SCALARS,
    "model": section(MODEL_KEYS),
    # No output settings: a generated masks_dir or events path would write outside tmp_path.
    "postprocess": section(list(DEFAULTS["postprocess"])),
    "events": section([key for key in DEFAULTS["events"] if key != "file"]),
})
YAML_TEXT = st.text(alphabet="&*ab:[]{}-, \n.0123456789naiNf!<>|'\"#", max_size=60)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 3-frame 32x24 video: every case that passes validation runs it to the end."""
    folder = tmp_path_factory.mktemp("clip")
    return write_video(folder / "clip.mkv", make_scene(3, width=32, height=24, side=6)[0])


def run_config(text, tmp_path, clip, capsys):
    """Run the clip with ``text`` as ``--config``; returns the exit code."""
    case = tmp_path / f"case{len(list(tmp_path.glob('case*')))}"
    case.mkdir()
    config = case / "c.yaml"
    config.write_text(text)
    code, stderr = run_bgsub(["run", "-q", clip, "-o", case / "out", "--config", config], capsys)
    check_outcome(code, stderr, case / "out")
    return code


def non_finite(value):
    if isinstance(value, float):
        return not np.isfinite(value)
    if isinstance(value, dict):
        return any(non_finite(v) for v in value.values())
    return isinstance(value, list) and any(non_finite(v) for v in value)


@FUZZ
@given(settings_=CONFIGS)
def test_generated_configs_run_or_fail_in_one_line(settings_, tmp_path, clip, capsys):
    code = run_config(yaml.safe_dump(settings_, allow_unicode=True), tmp_path, clip, capsys)
    if non_finite(settings_):  # no setting takes NaN or infinity
        assert code == 2
    event(f"exit {code}")


SETTINGS = ([("model", key) for key in MODEL_KEYS if key != "name"]
            + [("postprocess", key) for key in DEFAULTS["postprocess"]]
            + [("events", key) for key in DEFAULTS["events"] if key != "file"])
HOSTILE = st.one_of(st.sampled_from([float("nan"), float("inf"), float("-inf"), 10**30, -1, [],
                                     {}, "", "1", [[0, 0], [float("nan"), 1], [2, 2]]]),
                    VALUES)


@FUZZ
@given(setting=st.sampled_from(SETTINGS), value=HOSTILE)
def test_one_hostile_value_in_the_feedback_model_config(setting, value, tmp_path, clip, capsys):
    section_, key = setting
    text = yaml.safe_dump({"model": {"name": "feedback"}, section_: {key: value}}
                          if section_ != "model" else {"model": {"name": "feedback", key: value}})
    code = run_config(text, tmp_path, clip, capsys)
    if non_finite(value):
        assert code == 2


@FUZZ
@given(text=YAML_TEXT)
def test_generated_yaml_text_runs_or_fails_in_one_line(text, tmp_path, clip, capsys):
    run_config(text, tmp_path, clip, capsys)
    # The same text as a batch file: never a job list, so always one line and exit 2.
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(text)
    code, stderr = run_bgsub(["batch", "-q", jobs], capsys)
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("bgsub: error: ")


# --- checkpoint metadata ------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.text(max_size=6),
              st.floats(allow_nan=True, allow_infinity=True)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=10,
)
PARAM_VALUES = st.one_of(st.sampled_from([3, 0.5, 5.0, float("nan"), float("inf")]), JSON_VALUES)
META_CHANGES = st.dictionaries(
    st.sampled_from(["format", "model", "params", "frames_seen", "shape"]),
    st.one_of(JSON_VALUES, st.lists(st.integers(-2, 10**7), max_size=4),
              st.dictionaries(st.sampled_from(FeedbackParams.names()), PARAM_VALUES, max_size=3)),
    max_size=3,
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """``(meta, arrays)`` of a feedback model saved after 3 frames of 12x16."""
    path = tmp_path_factory.mktemp("checkpoint") / "m.npz"
    model = bgsub.FeedbackMixture(k=3)
    rng = np.random.default_rng(0)
    for _ in range(3):
        model.apply(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8))
    model.save(path)
    with np.load(path) as data:
        return json.loads(str(data["meta"])), {k: data[k] for k in data.files if k != "meta"}


@FUZZ
@given(changes=META_CHANGES, drop=st.lists(st.sampled_from(["params", "shape", "frames_seen"]),
                                           max_size=1))
def test_generated_checkpoint_metadata_loads_or_fails_in_one_line(changes, drop, tmp_path,
                                                                   checkpoint):
    meta, arrays = checkpoint
    meta = {**meta, **changes}
    for key in drop:
        meta.pop(key, None)
    path = tmp_path / "m.npz"
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    try:
        with time_limit(CASE_SECONDS):
            model = bgsub.load_model(path)
    except BgsubError as err:
        assert "\n" not in str(err) and str(err)
    else:
        assert model.frames_seen >= 0
        assert all(np.isfinite(v) for v in model.params.to_dict().values() if v is not None)
        if model.shape is not None:
            assert model.apply(np.zeros(model.shape, np.uint8)).shape == model.shape[:2]
