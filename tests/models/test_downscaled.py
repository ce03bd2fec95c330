"""Downscaled models: the model sees area-reduced frames; every output comes back at full size."""

import cv2
import numpy as np
import pytest

from conftest import make_scene

from bgsub import FeedbackMixture, GaussianMixture, SingleGaussian
from bgsub.config import make_model_from, resolve
from bgsub.models.downscaled import Downscaled, factor_for, reduced_size


def _blocks(image, n):
    """Each pixel repeated as an n x n block: nearest-neighbour enlargement by a whole factor."""
    return np.repeat(np.repeat(image, n, axis=0), n, axis=1)


@pytest.mark.parametrize("width, factor", [(1920, 3), (1280, 2), (960, 2), (640, 1), (320, 1),
                                           (3840, 6), (8, 1)])
def test_auto_brings_the_width_near_640(width, factor):
    assert factor_for("auto", width) == factor
    assert factor_for(4, width) == 4


def test_reduced_size_rounds_down_and_keeps_a_pixel():
    assert reduced_size((1920, 1080), 3) == (640, 360)
    assert reduced_size((65, 49), 2) == (32, 24)
    assert reduced_size((3, 2), 4) == (1, 1)


def test_masks_are_the_models_on_area_reduced_frames_enlarged():
    frames, _ = make_scene(30, width=96, height=72)
    wrapped, plain = Downscaled(FeedbackMixture(), 2), FeedbackMixture()
    for frame in frames:
        mask = wrapped.apply(frame)
        small = plain.apply(cv2.resize(frame, (48, 36), interpolation=cv2.INTER_AREA))
        assert mask.shape == (72, 96)
        assert np.array_equal(mask, _blocks(small, 2))
        assert np.array_equal(wrapped.labels, _blocks(plain.labels, 2))
    assert wrapped.factor == 2 and wrapped.shape == (72, 96, 3)
    assert wrapped.model.shape == (36, 48, 3)
    assert wrapped.frames_seen == 30  # the model's own attribute
    assert np.count_nonzero(mask) > 0  # the moving square is found


def test_odd_sizes_come_back_at_the_input_size():
    frames, _ = make_scene(5, width=65, height=49)
    model = Downscaled(GaussianMixture(), 2)
    model.compute_scores = True
    for frame in frames:
        assert model.apply(frame).shape == (49, 65)
    assert model.model.shape == (24, 32, 3)
    assert model.labels.shape == (49, 65)
    assert model.scores.shape == (49, 65)
    assert model.background_image().shape == (49, 65, 3)


def test_background_and_threshold_scale_are_enlarged_from_the_models():
    frames, _ = make_scene(10)
    model = Downscaled(FeedbackMixture(), 3)
    for frame in frames:
        model.apply(frame)
    expected = cv2.resize(model.model.background_image(), (96, 72), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(model.background_image(), expected)
    assert np.array_equal(model.threshold_scale(), _blocks(model.model.threshold_scale(), 3))


def test_with_params_and_reset_keep_the_downscale():
    frames, _ = make_scene(12)
    model = Downscaled(FeedbackMixture(), "auto")
    for frame in frames[:6]:
        model.apply(frame)
    assert model.factor == 1  # 96 pixels wide: nothing to reduce
    tuned = Downscaled(FeedbackMixture(), 2)
    for frame in frames[:6]:
        tuned.apply(frame)
    tuned = tuned.with_params(threshold=4.0)
    assert isinstance(tuned, Downscaled) and tuned.params.threshold == 4.0
    assert tuned.apply(frames[6]).shape == (72, 96)
    assert tuned.model.shape == (36, 48, 3) and tuned.frames_seen == 7  # carried on, not reset
    tuned.reset()
    assert tuned.shape is None and tuned.labels is None and tuned.frames_seen == 0


def test_fit_learns_from_reduced_frames():
    frames, _ = make_scene(20)
    model = Downscaled(GaussianMixture(), 2).fit(frames)
    plain = GaussianMixture().fit([cv2.resize(f, (48, 36), interpolation=cv2.INTER_AREA)
                                   for f in frames])
    assert np.array_equal(model.model.mixture, plain.mixture)
    assert model.apply(frames[0]).shape == (72, 96)


def test_what_the_model_lacks_the_wrapper_lacks():
    # The commands ask hasattr(model, "fit") / "compute_scores" to refuse a model with one line.
    wrapped = Downscaled(SingleGaussian(), 2)
    assert not hasattr(wrapped, "fit") and not hasattr(wrapped, "compute_scores")
    assert not hasattr(wrapped, "scores") and not hasattr(wrapped, "threshold_scale")
    mixture = Downscaled(GaussianMixture(), 2)
    assert hasattr(mixture, "fit") and hasattr(mixture, "compute_scores")
    assert not hasattr(mixture, "threshold_scale")  # the feedback model's only


def test_the_config_wraps_only_when_asked():
    assert isinstance(make_model_from(resolve({})), FeedbackMixture)
    model = make_model_from(resolve({"model": {"downscale": "auto", "name": "gmm"}}))
    assert isinstance(model, Downscaled) and isinstance(model.model, GaussianMixture)
    assert model.setting == "auto"
