"""The score map (bgsub.models.scores): each pixel's distance in sigmas to its nearest background
component, against a float64 oracle written from the definition, and against the mask."""

import cv2
import numpy as np
import pytest

import bgsub
from bgsub.models import scores

from conftest import make_scene


def oracle(frame, mixture, n_components, background_ratio):
    """min over background components of sqrt(|x - mu|^2 / var * 3 / C), in float64, pixel by
    pixel (the threshold is stated for three channels)."""
    pixels = frame.reshape(len(n_components), -1).astype(np.float64)
    out = np.empty(len(pixels))
    for i, x in enumerate(pixels):
        best, above = np.inf, 0.0
        for w, var, *mu in mixture[i, :n_components[i]].astype(np.float64):
            if above >= background_ratio:
                break
            best = min(best, np.sum((x - np.array(mu)) ** 2) / var)
            above += w
        out[i] = np.sqrt(best * 3 / pixels.shape[1])
    return out


@pytest.mark.parametrize("model_class", [bgsub.GaussianMixture, bgsub.FeedbackMixture])
@pytest.mark.parametrize("gray", [False, True])
def test_scores_match_the_float64_oracle_and_the_mask(model_class, gray):
    frames, _ = make_scene(12)
    if gray:
        frames = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    # The score kernel alone: no stage changes the frame it compares with the oracle's.
    model = model_class(k=3, exposure_compensation=False, jitter_compensation=False)
    assert model.scores is None
    for frame in frames[:10]:
        model.apply(frame)
    model.compute_scores = True
    for frame in frames[10:]:
        before = model.mixture.copy(), model.n_components.copy()
        # Rate 0: the update's weights are the stored ones, so the mask is the score's test.
        mask = model.apply(frame, learning_rate=0)
        expected = oracle(frame, *before, model.params.background_ratio)
        got = model.scores
        assert got.shape == frame.shape[:2] and got.dtype == np.float32
        np.testing.assert_allclose(got.reshape(-1), expected, rtol=1e-5)
        # The feedback model scales each pixel's threshold (unchanged by an update at rate 0).
        scale = (model.threshold_scale().reshape(-1) if model_class is bgsub.FeedbackMixture
                 else 1.0)
        threshold = model.params.threshold * scale
        clear = np.abs(expected - threshold) > 1e-3
        np.testing.assert_array_equal((mask.reshape(-1) > 0)[clear], (expected > threshold)[clear])
        assert np.count_nonzero(got > model.params.threshold) > 0  # the square is scored
    model.compute_scores = False
    model.apply(frames[0])
    assert model.scores is None


def test_heat_map_has_a_fixed_scale_and_marks_the_threshold():
    values = np.array([[0.0, 6.0, 12.0, 40.0]], np.float32)
    image = scores.heat_map(values, threshold=6.0)
    assert image.shape == (1 + scores.LEGEND_ROWS, 4, 3)
    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[None], scores.COLORMAP)[0]
    expected = lut[[0, 127, 255, 255]]
    np.testing.assert_array_equal(image[0], expected)
    tick = round(6.0 / scores.SCALE_MAX * 3)
    assert np.all(image[1:, tick] == 255)
