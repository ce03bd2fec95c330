"""Tests for bgsub.evaluate: the CDnet scoring rule, dataset loading, running and reporting."""

import json
import math

import cv2
import numpy as np
import pytest

from bgsub import evaluate as ev
from bgsub.evaluate.report import PALETTE
from bgsub.errors import ConfigError, SinkError, SourceError

# A 4x5 frame covering every label and prediction case. Counted by hand (row, col):
#   TP: (0,4) (1,1) (2,2) (3,4)                         -> 4
#   FP: (0,0) (0,1) (0,2)* (2,0)** (2,1)*               -> 5   (* on shadow 50, ** 200 > 127)
#   FN: (1,0) (2,3)***                                  -> 2   (*** predicted shadow 127)
#   TN: (0,3)*** (1,4)*** (3,1) (3,2)***                -> 4
#   not scored: 85 at (1,2) (3,0), 170 at (1,3) (2,4), ROI 0 at (3,3) (a TP if it were scored)
GT = np.array([[0, 0, 50, 50, 255],
               [255, 255, 85, 170, 0],
               [0, 50, 255, 255, 170],
               [85, 0, 0, 255, 255]], np.uint8)
PRED = np.array([[255, 255, 255, 127, 255],
                 [0, 255, 255, 255, 127],
                 [200, 255, 255, 127, 255],
                 [255, 0, 127, 255, 255]], np.uint8)
ROI = np.ones((4, 5), bool)
ROI[3, 3] = False


# ------------------------------------------------------------------------------------ scoring

def test_confusion_counts_follow_the_cdnet_rule():
    assert ev.confusion_counts(PRED, GT, ROI) == ev.ConfusionCounts(tp=4, fp=5, fn=2, tn=4)


def test_confusion_counts_without_roi_scores_every_labelled_pixel():
    assert ev.confusion_counts(PRED, GT) == ev.ConfusionCounts(tp=5, fp=5, fn=2, tn=4)


def test_confusion_counts_reject_a_mask_of_another_size():
    with pytest.raises(SourceError, match="differs"):
        ev.confusion_counts(PRED[:, :4], GT, ROI)


def test_counts_add_up():
    total = ev.ConfusionCounts(1, 2, 3, 4) + ev.ConfusionCounts(10, 20, 30, 40)
    assert total == ev.ConfusionCounts(tp=11, fp=22, fn=33, tn=44)


def test_score_formulas():
    m = ev.score(ev.ConfusionCounts(tp=4, fp=5, fn=2, tn=4))
    assert m["Re"] == pytest.approx(4 / 6)
    assert m["Sp"] == pytest.approx(4 / 9)
    assert m["FPR"] == pytest.approx(5 / 9)
    assert m["FNR"] == pytest.approx(2 / 6)
    assert m["PWC"] == pytest.approx(100 * 7 / 15)
    assert m["Pr"] == pytest.approx(4 / 9)
    assert m["F"] == pytest.approx(8 / 15)  # 2·(4/9)·(4/6) / (4/9 + 4/6)


def test_score_zero_denominators():
    no_foreground = ev.score(ev.ConfusionCounts(tp=0, fp=0, fn=0, tn=10))
    assert math.isnan(no_foreground["Re"]) and math.isnan(no_foreground["Pr"])
    assert math.isnan(no_foreground["F"])
    assert no_foreground["Sp"] == 1.0 and no_foreground["PWC"] == 0.0
    all_wrong = ev.score(ev.ConfusionCounts(tp=0, fp=3, fn=2, tn=5))
    assert all_wrong["Re"] == 0.0 and all_wrong["Pr"] == 0.0 and all_wrong["F"] == 0.0


# ------------------------------------------------------------------------------ fixtures

def write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def grey_bgr(values):
    return cv2.cvtColor(np.asarray(values, np.uint8), cv2.COLOR_GRAY2BGR)


@pytest.fixture
def cdnet(tmp_path):
    """Six 4x5 frames, scored 3..5, ROI excluding (3,3). Input frames are the predictions an
    identity subtractor returns (PNG, so exact)."""
    seq = tmp_path / "tiny"
    full = np.full((4, 5), 255, np.uint8)
    empty = np.zeros((4, 5), np.uint8)
    frames = {1: full, 2: full, 3: full, 4: PRED, 5: empty, 6: full}
    gts = {1: full, 2: full, 3: empty, 4: GT, 5: full, 6: full}
    for n in frames:
        write(seq / "input" / f"in{n:06d}.png", grey_bgr(frames[n]))
        write(seq / "groundtruth" / f"gt{n:06d}.png", gts[n])
    write(seq / "ROI.bmp", ROI.astype(np.uint8) * 255)
    (seq / "temporalROI.txt").write_text("3 5\n")
    return seq


# Frame 3: 19 FP; frame 4: the hand-counted frame; frame 5: 19 FN; frames 1, 2 and 6 would be
# 19 TP each but lie outside the temporal ROI.
CDNET_COUNTS = ev.ConfusionCounts(tp=4, fp=19 + 5, fn=2 + 19, tn=4)


class EchoSubtractor:
    """Returns the grey frame as the mask and records what it was fed."""

    def __init__(self, seen):
        self.seen = seen

    def apply(self, frame):
        self.seen.append(frame.copy())
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


# ------------------------------------------------------------------------------ loading

def test_load_cdnet(cdnet):
    seq = ev.load_sequence(cdnet)
    assert (seq.name, seq.layout) == ("tiny", "cdnet")
    assert seq.frame_numbers == (1, 2, 3, 4, 5, 6)
    assert [p.name for p in seq.frame_paths] == [f"in{n:06d}.png" for n in range(1, 7)]
    assert seq.scored == (3, 4, 5)
    np.testing.assert_array_equal(seq.roi, ROI)
    np.testing.assert_array_equal(seq.ground_truth(4), GT)


def test_load_cdnet_jpg_frames_without_roi_files(tmp_path):
    seq_dir = tmp_path / "plain"
    for n in (2, 1, 10):
        write(seq_dir / "input" / f"in{n:06d}.jpg", np.zeros((6, 8, 3), np.uint8))
        write(seq_dir / "groundtruth" / f"gt{n:06d}.png", np.zeros((6, 8), np.uint8))
    seq = ev.load_sequence(seq_dir)
    assert seq.frame_numbers == (1, 2, 10)
    assert seq.scored == (1, 2, 10)
    assert seq.roi.shape == (6, 8) and seq.roi.all()


def test_load_wallflower(tmp_path):
    seq_dir = tmp_path / "Trees"
    for n in range(5):
        write(seq_dir / f"b{n:05d}.bmp", np.full((4, 5, 3), n, np.uint8))
    hand = np.array([[255, 0, 200, 60, 0]] * 4, np.uint8)  # 200 / 60: not quite white / black
    write(seq_dir / "hand_segmented_00003.BMP", grey_bgr(hand))
    (seq_dir / "script.txt").write_text("00003 Evaluate\n")
    seq = ev.load_sequence(seq_dir)
    assert (seq.name, seq.layout) == ("Trees", "wallflower")
    assert seq.frame_numbers == (0, 1, 2, 3, 4)
    assert seq.scored == (3,)
    assert seq.roi.shape == (4, 5) and seq.roi.all()
    np.testing.assert_array_equal(seq.ground_truth(3), [[255, 0, 255, 0, 0]] * 4)
    assert [int(frame[0, 0, 0]) for _, frame in seq.frames()] == [0, 1, 2, 3, 4]


def test_load_errors(tmp_path, cdnet):
    with pytest.raises(SourceError, match="not found"):
        ev.load_sequence(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="not a CDnet"):
        ev.load_sequence(tmp_path / "empty")
    (cdnet / "temporalROI.txt").write_text("three five")
    with pytest.raises(SourceError, match="temporalROI"):
        ev.load_sequence(cdnet)
    for gt in (cdnet / "groundtruth").iterdir():
        gt.unlink()
    with pytest.raises(SourceError, match="groundtruth"):
        ev.load_sequence(cdnet)


def test_wallflower_ground_truth_without_its_frame(tmp_path):
    write(tmp_path / "w" / "b00000.bmp", np.zeros((4, 5, 3), np.uint8))
    write(tmp_path / "w" / "hand_segmented_00007.BMP", np.zeros((4, 5), np.uint8))
    with pytest.raises(SourceError, match="b00007.bmp"):
        ev.load_sequence(tmp_path / "w")


# ------------------------------------------------------------------------------ running

def test_evaluate_feeds_every_frame_and_scores_only_the_temporal_roi(cdnet, tmp_path):
    seen = []
    result = ev.evaluate(ev.load_sequence(cdnet), lambda: EchoSubtractor(seen), name="echo",
                         save_masks_dir=tmp_path / "masks")
    assert result.counts == CDNET_COUNTS
    assert (result.sequence, result.method, result.frames, result.scored_frames) == ("tiny", "echo", 6, 3)
    assert result.fps > 0
    assert len(seen) == 6
    np.testing.assert_array_equal(seen[3][..., 0], PRED)  # the 4th frame fed is frame 4
    saved = sorted(p.name for p in (tmp_path / "masks" / "tiny").iterdir())
    assert saved == [f"bin{n:06d}.png" for n in range(1, 7)]
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "masks" / "tiny" / "bin000004.png"), 0), PRED)


def test_evaluate_uses_a_fresh_subtractor_per_call(cdnet):
    made = []

    def factory():
        made.append(EchoSubtractor([]))
        return made[-1]

    seq = ev.load_sequence(cdnet)
    ev.evaluate(seq, factory, name="a")
    ev.evaluate(seq, factory, name="b")
    assert len(made) == 2 and all(len(s.seen) == 6 for s in made)


def test_evaluate_masks_reads_any_names_with_the_frame_number_last(cdnet, tmp_path):
    masks = tmp_path / "elsewhere"
    for n, image in ((3, np.full((4, 5), 255)), (4, PRED), (5, np.zeros((4, 5)))):
        write(masks / f"result_v2_{n}.png", np.asarray(image, np.uint8))
    result = ev.evaluate_masks(ev.load_sequence(cdnet), masks)
    assert result.counts == CDNET_COUNTS
    assert result.method == "elsewhere" and math.isnan(result.fps)
    assert ev.evaluate_masks(ev.load_sequence(cdnet), masks, name="x").method == "x"


def test_evaluate_masks_round_trips_saved_masks(cdnet, tmp_path):
    seq = ev.load_sequence(cdnet)
    ev.evaluate(seq, lambda: EchoSubtractor([]), name="echo", save_masks_dir=tmp_path / "out")
    # Both the directory holding <sequence>/ and the sequence's own directory work.
    assert ev.evaluate_masks(seq, tmp_path / "out").counts == CDNET_COUNTS
    assert ev.evaluate_masks(seq, tmp_path / "out" / "tiny").counts == CDNET_COUNTS


def test_evaluate_masks_missing_mask_names_the_file(cdnet, tmp_path):
    masks = tmp_path / "m"
    write(masks / "bin000003.png", np.zeros((4, 5), np.uint8))
    with pytest.raises(SourceError) as err:
        ev.evaluate_masks(ev.load_sequence(cdnet), masks)
    assert "bin000004.png" in str(err.value) and "\n" not in str(err.value)


class InvertSubtractor:
    """Returns the inverted grey frame: every decision the echo makes, the other way round."""

    def apply(self, frame):
        return 255 - cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def test_methods_run_together_score_as_they_do_alone(cdnet):
    seq = ev.load_sequence(cdnet)
    seen = []
    together = ev.evaluate_together(seq, {"echo": lambda: EchoSubtractor(seen), "inv": InvertSubtractor})
    alone = [ev.evaluate(seq, lambda: EchoSubtractor([]), name="echo"),
             ev.evaluate(seq, InvertSubtractor, name="inv")]
    assert [r.method for r in together] == ["echo", "inv"]
    assert [r.counts for r in together] == [r.counts for r in alone]
    assert together[0].counts == CDNET_COUNTS and together[1].counts != CDNET_COUNTS
    assert all(r.fps > 0 and r.frames == 6 for r in together)
    assert len(seen) == 6  # each method sees every frame once, in order
    np.testing.assert_array_equal(seen[3][..., 0], PRED)


def test_evaluate_all_saves_per_method(cdnet, tmp_path):
    seq = ev.load_sequence(cdnet)
    lines = []
    results = ev.evaluate_all([seq], {"echo": lambda: EchoSubtractor([])},
                              masks_dirs=[], save_masks_dir=tmp_path / "s", progress=lines.append)
    assert [r.method for r in results] == ["echo"] and len(lines) == 1
    assert (tmp_path / "s" / "echo" / "tiny" / "bin000006.png").is_file()


# ------------------------------------------------------------------------------ OpenCV

@pytest.mark.parametrize("name", ev.OPENCV_METHODS)
def test_opencv_factory_makes_working_subtractors(name):
    subtractor = ev.opencv_factory(name)()
    mask = subtractor.apply(np.zeros((12, 16, 3), np.uint8))
    assert mask.shape == (12, 16) and mask.dtype == np.uint8


def test_opencv_factory_unknown_name_lists_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        ev.opencv_factory("vibe")
    assert "vibe" in str(err.value) and "mog2" in str(err.value) and "lsbp" in str(err.value)


# ------------------------------------------------------------------------------ reporting

def results_for_report():
    counts = ev.ConfusionCounts(tp=4, fp=5, fn=2, tn=4)  # F = 8/15
    perfect = ev.ConfusionCounts(tp=10, fp=0, fn=0, tn=10)  # F = 1
    empty = ev.ConfusionCounts(tp=0, fp=0, fn=0, tn=10)  # F undefined
    return [ev.Result("seqA", "m1", counts, 100.0, 6, 3), ev.Result("seqA", "m2", perfect, 50.0, 6, 3),
            ev.Result("seqB", "m1", perfect, 300.0, 6, 3), ev.Result("seqB", "m2", empty, math.nan, 6, 3)]


def test_format_table_rows_and_means():
    lines = ev.format_table(results_for_report()).splitlines()
    assert lines[0].split() == ["sequence", "method", "Re", "Sp", "FPR", "FNR", "PWC", "Pr", "F", "fps"]
    rows = [line.split() for line in lines[2:]]
    assert rows[0][:2] == ["seqA", "m1"] and rows[0][8:] == ["0.5333", "100.0"]
    assert rows[3][:2] == ["seqB", "m2"] and rows[3][8:] == ["-", "-"]
    # Mean rows: m1 F = (8/15 + 1) / 2, fps = 200; m2 leaves the undefined F out.
    assert rows[4][:4] == ["mean", "(2", "seq)", "m1"] and rows[4][10:] == ["0.7667", "200.0"]
    assert rows[5][3] == "m2" and rows[5][10:] == ["1.0000", "50.0"]


def test_to_json_has_counts_metrics_and_null_for_undefined():
    doc = json.loads(ev.to_json(results_for_report()))
    first = doc["results"][0]
    assert (first["tp"], first["fp"], first["fn"], first["tn"]) == (4, 5, 2, 4)
    assert first["F"] == pytest.approx(8 / 15)
    assert doc["results"][3]["F"] is None and doc["results"][3]["fps"] is None
    assert doc["mean"]["m1"]["F"] == pytest.approx((8 / 15 + 1) / 2)


def test_plot_results_draws_one_bar_per_defined_f(tmp_path):
    path = tmp_path / "f.png"
    ev.plot_results(results_for_report(), path)
    img = cv2.imread(str(path))
    assert img is not None and img.shape[0] > 100
    # The first two palette colours (m1, m2) appear as filled bars and legend boxes.
    for colour in PALETTE[:2]:
        assert np.all(img == colour, axis=2).sum() > 200


def test_plot_results_unwritable_path(tmp_path):
    with pytest.raises(SinkError):
        ev.plot_results(results_for_report(), tmp_path / "no_dir" / "f.png")
