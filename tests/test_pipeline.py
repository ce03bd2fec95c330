"""The threaded pipeline: order, stats, Ctrl-C keeps outputs, errors remove them."""

from pathlib import Path

import cv2
import numpy as np
import pytest

import bgsub
from bgsub import pipeline
from bgsub.config import resolve
from bgsub.outputs import build_outputs, overlay
from bgsub.postprocess import PostProcessor
from bgsub.progress import Progress
from bgsub.sources import Frame, open_source


def frames_of(images, interrupt_at=None, fail_at=None):
    for i, image in enumerate(images):
        if i == interrupt_at:
            raise KeyboardInterrupt
        if i == fail_at:
            raise RuntimeError("decoder exploded")
        yield Frame(i + 1, i / 25.0, image)


def outputs_for(tmp_path, **wanted):
    settings = resolve({"outputs": {"mask_video": True, **wanted}}).outputs
    return build_outputs(tmp_path, settings, 25.0)


def test_masks_match_a_direct_model_run_in_order(tmp_path, scene):
    images = scene[0]
    seen = []
    stats = pipeline.run(frames_of(images), bgsub.GaussianMixture(), lambda m: m,
                         outputs_for(tmp_path, masks_dir=True), on_result=seen.append)
    direct = bgsub.GaussianMixture()
    expected = [direct.apply(image) for image in images]
    assert [r.frame.number for r in seen] == list(range(1, 21))
    for result, mask in zip(seen, expected):
        np.testing.assert_array_equal(result.mask, mask)
    written = cv2.imread(str(tmp_path / "masks" / "bin000020.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(written, expected[-1])
    assert stats.frames == 20 and not stats.interrupted
    share = np.mean([m.mean() / 255 for m in expected])
    assert stats.mean_foreground == pytest.approx(100 * share)


def test_outputs_from_a_plain_dict_of_some_keys(tmp_path):
    made = build_outputs(tmp_path, {"overlay_video": True}, 25.0)
    assert sorted(Path(output.path).name for output in made) == ["mask.mov", "overlay.mp4"]
    for output in made:
        output.abort()


def test_ctrl_c_keeps_playable_outputs_with_frames_so_far(tmp_path, scene):
    stats = pipeline.run(frames_of(scene[0], interrupt_at=12), bgsub.SingleGaussian(),
                         lambda m: m, outputs_for(tmp_path))
    assert stats.interrupted and stats.frames == 12
    capture = cv2.VideoCapture(str(tmp_path / "mask.mov"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12


def test_other_errors_leave_no_output(tmp_path, scene):
    with pytest.raises(RuntimeError, match="decoder exploded"):
        pipeline.run(frames_of(scene[0], fail_at=5), bgsub.SingleGaussian(), lambda m: m,
                     outputs_for(tmp_path, overlay_video=True))
    assert list(tmp_path.iterdir()) == []


def test_gray_option_and_postprocess_and_max_frames(tmp_path, video_file):
    post = PostProcessor(resolve({"postprocess": {"median": 5, "min_area": 30}}).postprocess)
    seen = []
    with open_source(video_file) as source:
        stats = pipeline.run(source, bgsub.GaussianMixture(), post, [], gray=True, max_frames=7,
                             on_result=seen.append)
    assert stats.frames == 7 and len(seen) == 7
    assert seen[0].labels.ndim == 2
    for result in seen:
        count, _, area, _ = cv2.connectedComponentsWithStats(result.mask)
        assert all(a >= 30 for a in area[1:count, cv2.CC_STAT_AREA])


def test_overlay_tints_only_the_foreground():
    image = np.full((4, 4, 3), 100, np.uint8)
    mask = np.zeros((4, 4), np.uint8)
    mask[1, 2] = 255
    out = overlay(image, mask)
    assert (out[1, 2] != 100).any()
    out[1, 2] = 100
    assert (out == 100).all()


def test_progress_line(capsys):
    import io

    stream = io.StringIO()
    progress = Progress(total=10, stream=stream, enabled=True, interval=0)
    progress.update(5)
    progress.finish(10)
    text = stream.getvalue()
    assert "5/10 frames" in text and "10/10 frames" in text and "ETA" in text
    assert " frames/s" in text  # the rate
    quiet = io.StringIO()  # no terminal: no bar
    progress = Progress(total=10, stream=quiet)
    progress.finish(10)
    assert quiet.getvalue() == ""
