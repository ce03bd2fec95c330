"""``bgsub run --score-video``: the heat map video, as a real process on real files."""

import subprocess
import sys

import cv2
import numpy as np

from conftest import read_video

from bgsub.models import FeedbackParams, scores


def test_score_video_is_readable_and_uses_the_fixed_scale(tmp_path, video_file, scene):
    result = subprocess.run([sys.executable, "-m", "bgsub", "run", str(video_file), "-o",
                             str(tmp_path / "out"), "--score-video", "-q"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    video = read_video(tmp_path / "out" / "score.mkv")
    frames, masks = scene
    assert len(video) == len(frames)
    height, width = masks[0].shape
    assert video[0].shape == (height + scores.LEGEND_ROWS, width, 3)
    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[None], scores.COLORMAP)[0]
    # Lossless: the first frame initialises (distance 0 everywhere), the square is far out of
    # scale where it arrives on the background later.
    assert np.all(video[0][:height] == lut[0])
    last, square = video[-1][:height], masks[-1] > 0
    assert np.mean(np.all(last[square] == lut[255], axis=1)) > 0.5
    assert np.mean(np.all(last[~square] == lut[255], axis=1)) < 0.01
    tick = round(FeedbackParams().threshold / scores.SCALE_MAX * (width - 1))  # the default
    assert np.all(video[0][height:, tick] == 255)


def test_score_video_needs_a_mixture(tmp_path, video_file):
    result = subprocess.run([sys.executable, "-m", "bgsub", "run", str(video_file), "-o",
                             str(tmp_path / "out"), "--score-video", "--model", "gaussian"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "bgsub: error: score_video: model 'gaussian' has no score map; use gmm or feedback"]
