"""Tests for the ``bgsub eval`` command on a tiny synthetic CDnet sequence."""

import json

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
