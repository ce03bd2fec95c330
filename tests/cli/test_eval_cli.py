"""Tests for the ``bgsub eval`` command on a tiny synthetic CDnet sequence."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from bgsub.cli.eval import eval_command, run_eval
from bgsub.errors import ConfigError, SourceError

H, W, N, FIRST_SCORED = 24, 32, 40, 21


@pytest.fixture
def sequence(tmp_path):
    """A white 6x6 square moving over a flat grey background; frames 21..40 scored."""
    seq = tmp_path / "square"
    (seq / "input").mkdir(parents=True)
    (seq / "groundtruth").mkdir()
    for n in range(1, N + 1):
        frame = np.full((H, W, 3), 90, np.uint8)
        gt = np.zeros((H, W), np.uint8)
        if n >= FIRST_SCORED:
            x = (n - FIRST_SCORED) % (W - 6)
            frame[9:15, x:x + 6] = 250
            gt[9:15, x:x + 6] = 255
        cv2.imwrite(str(seq / "input" / f"in{n:06d}.png"), frame)
        cv2.imwrite(str(seq / "groundtruth" / f"gt{n:06d}.png"), gt)
    (seq / "temporalROI.txt").write_text(f"{FIRST_SCORED} {N}")
    return seq


def invoke(*args):
    return CliRunner().invoke(eval_command, [str(a) for a in args])


def test_compare_mog2_prints_table_and_writes_json(sequence, tmp_path):
    out = tmp_path / "r.json"
    result = invoke(sequence, "--compare", "mog2", "--no-bgsub", "--json", out)
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0][:2] == ["sequence", "method"]
    assert rows[2][:2] == ["square", "mog2"]
    assert rows[3][:4] == ["mean", "(1", "seq)", "mog2"]
    doc = json.loads(out.read_text())
    (r,) = doc["results"]
    assert (r["sequence"], r["method"], r["frames"], r["scored_frames"]) == ("square", "mog2", N, N - FIRST_SCORED + 1)
    assert r["tp"] + r["fp"] + r["fn"] + r["tn"] == (N - FIRST_SCORED + 1) * H * W
    assert r["tp"] + r["fn"] == (N - FIRST_SCORED + 1) * 36  # the square's pixels
    assert r["F"] > 0.5  # MOG2 finds a bright square on a flat background
    assert float(rows[2][8]) == pytest.approx(r["F"], abs=1e-4)


def test_saved_masks_score_the_same_when_read_back(sequence, tmp_path):
    first = invoke(sequence, "--compare", "mog2", "--no-bgsub", "--save-masks", tmp_path / "m",
                   "--json", tmp_path / "a.json", "--plot", tmp_path / "f.png")
    assert first.exit_code == 0, first.output
    assert len(list((tmp_path / "m" / "mog2" / "square").glob("bin*.png"))) == N
    assert cv2.imread(str(tmp_path / "f.png")) is not None
    again = invoke(sequence, "--no-bgsub", "--masks", tmp_path / "m" / "mog2", "--json", tmp_path / "b.json")
    assert again.exit_code == 0, again.output
    a, b = (json.loads((tmp_path / n).read_text())["results"][0] for n in ("a.json", "b.json"))
    assert b["method"] == "mog2" and b["fps"] is None
    assert [a[k] for k in ("tp", "fp", "fn", "tn")] == [b[k] for k in ("tp", "fp", "fn", "tn")]


class Threshold:
    def apply(self, frame):
        return np.where(frame[..., 0] > 128, 255, 0).astype(np.uint8)


def test_run_eval_takes_a_model_factory(sequence, capsys):
    (result,) = run_eval([str(sequence)], model_factory=Threshold, model_label="thresh")
    assert result.method == "thresh"
    assert (result.counts.tp, result.counts.fp, result.counts.fn) == ((N - FIRST_SCORED + 1) * 36, 0, 0)
    assert "thresh" in capsys.readouterr().out


@pytest.mark.parametrize("args, error, text", [
    (["--compare", "vibe", "--no-bgsub"], ConfigError, "unknown OpenCV method 'vibe'"),
    (["--no-bgsub"], ConfigError, "nothing to evaluate"),
])
def test_option_errors_are_one_line(sequence, args, error, text):
    result = invoke(sequence, *args)
    assert isinstance(result.exception, error)
    assert text in str(result.exception) and "\n" not in str(result.exception)


def test_missing_sequence_is_one_line(tmp_path):
    result = invoke(tmp_path / "absent", "--compare", "mog2", "--no-bgsub")
    assert isinstance(result.exception, SourceError)
    assert "absent" in str(result.exception) and "\n" not in str(result.exception)


# -- the bgsub row: shared model options on the shipped CDnet highway excerpt -------------------

def _scores(path):
    doc = json.loads(path.read_text())
    return {r["method"]: r for r in doc["results"]}, doc.get("config")


def _expected_counts(sequence_path, config):
    """What the bgsub row must count: model, then post-processing, frame by frame."""
    from bgsub import evaluate as ev
    from bgsub.config import make_model_from
    from bgsub.postprocess import PostProcessor

    seq = ev.load_sequence(sequence_path)
    model, post = make_model_from(config), PostProcessor(config.postprocess)
    counts = ev.ConfusionCounts()
    for number, frame in seq.frames():
        if config.model.gray:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        counts += ev.confusion_counts(post(model.apply(frame)), seq.ground_truth(number), seq.roi)
    return counts


@pytest.mark.parametrize("args, settings", [
    ([], {}),
    (["--median", "0", "--param", "threshold=3", "--gray"],
     {"model": {"threshold": 3, "gray": True}, "postprocess": {"median": 0}}),
    (["--model", "gaussian", "--min-area", "20"], {"model": {"name": "gaussian"}, "postprocess": {"min_area": 20}}),
])
def test_bgsub_row_scores_what_bgsub_run_would_write(highway_excerpt, tmp_path, args, settings):
    from bgsub.config import resolve

    out = tmp_path / "r.json"
    result = invoke(highway_excerpt, *args, "--json", out)
    assert result.exit_code == 0, result.output
    rows, config = _scores(out)
    expected = resolve(settings)
    (label,) = rows
    assert label == f"bgsub-{expected.model.name}"
    r = rows[label]
    counts = _expected_counts(highway_excerpt, expected)
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (counts.tp, counts.fp, counts.fn, counts.tn)
    assert r["frames"] == r["scored_frames"] == 15
    assert config["postprocess"] == expected.postprocess.to_dict()
    assert config["model"]["gray"] is expected.model.gray
    assert config["model"]["var_min"] > 0  # every parameter is spelled out, defaults included


def test_options_change_the_scores(highway_excerpt, tmp_path):
    for name, args in (("raw", ["--median", "0"]), ("filtered", ["--median", "7"])):
        assert invoke(highway_excerpt, *args, "--json", tmp_path / f"{name}.json").exit_code == 0
    raw, _ = _scores(tmp_path / "raw.json")
    filtered, _ = _scores(tmp_path / "filtered.json")
    # the median filter removes isolated false positives, so the filtered mask has fewer
    assert filtered["bgsub-feedback"]["fp"] < raw["bgsub-feedback"]["fp"]


def test_config_file_is_used_and_flags_override_it(highway_excerpt, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  threshold: 5.0\n  k: 3\npostprocess:\n  median: 3\n")
    result = invoke(highway_excerpt, "--config", path, "--median", "0", "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    _, config = _scores(tmp_path / "r.json")
    assert (config["model"]["threshold"], config["model"]["k"], config["postprocess"]["median"]) == (5.0, 3, 0)


@pytest.mark.parametrize("args, text", [
    (["--param", "bogus=1"], "model.bogus: unknown key"),
    (["--median", "4"], "postprocess.median: must be odd"),
])
def test_bad_model_options_are_one_line(highway_excerpt, args, text):
    result = invoke(highway_excerpt, *args)
    assert isinstance(result.exception, ConfigError)
    assert text in str(result.exception) and "\n" not in str(result.exception)


def test_bad_config_file_names_its_line(highway_excerpt, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: gmm\n  k: 12\n")
    result = invoke(highway_excerpt, "--config", path)
    assert isinstance(result.exception, ConfigError)
    assert f"{path}:3: model.k: must be in [1, 8]" in str(result.exception)


def test_warm_up_leaves_no_learned_state(highway_excerpt):
    from bgsub import evaluate as ev
    from bgsub.config import resolve

    config = resolve({})
    warmed, fresh = ev.bgsub_factory(config)(), ev.BgsubSubtractor(config)
    assert warmed.model.frames_seen == 0 and warmed.model.shape is None
    for _, frame in list(ev.load_sequence(highway_excerpt).frames())[:5]:
        np.testing.assert_array_equal(warmed.apply(frame), fresh.apply(frame))


@pytest.mark.parametrize("args, yaml_text, label, model", [
    (["--preset", "fast"], None, "bgsub-fast", "gaussian"),
    ([], "preset: fast\n", "bgsub-fast", "gaussian"),
    (["--preset", "fast", "--model", "feedback"], None, "bgsub-fast-feedback", "feedback"),
])
def test_fast_preset_resolves(highway_excerpt, tmp_path, args, yaml_text, label, model):
    from bgsub.config import resolve

    if yaml_text is not None:
        (tmp_path / "c.yaml").write_text(yaml_text)
        args = [*args, "--config", tmp_path / "c.yaml"]
    result = invoke(highway_excerpt, *args, "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    rows, config = _scores(tmp_path / "r.json")
    assert list(rows) == [label]
    assert config["preset"] == "fast" and config["model"]["name"] == model
    assert config["postprocess"] == resolve({}).postprocess.to_dict()  # the preset changes the model only
    if model == "feedback":
        assert config["model"]["stationary_frames"] > 0  # the feedback parameters are listed



def test_init_frames_scores_what_bgsub_run_writes(sequence, tmp_path):
    result = invoke(sequence, "--init-frames", 30, "--save-masks", tmp_path / "m",
                    "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["config"]["model"]["init_frames"] == 30
    ran = subprocess.run([sys.executable, "-m", "bgsub", "run", str(sequence / "input"),
                          "--init-frames", "30", "--masks-dir", str(tmp_path / "run"),
                          "--no-mask-video", "-o", str(tmp_path / "out"), "-q"],
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    for n in range(1, N + 1):
        evaluated = cv2.imread(str(tmp_path / "m" / "bgsub-feedback" / "square" / f"bin{n:06d}.png"), 0)
        written = cv2.imread(str(tmp_path / "run" / f"bin{n:06d}.png"), 0)
        np.testing.assert_array_equal(evaluated, written)
