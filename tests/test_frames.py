"""The frame chain every command runs (bgsub.frames): its halves and its lean mask path give what
the model and post-processing give when called by hand, on a real model and real frames."""

import numpy as np
import pytest

import bgsub
from bgsub.config import resolve
from bgsub.errors import ConfigError
from bgsub.frames import FrameChain, model_input
from bgsub.postprocess import PostProcessor
from bgsub.sources import Frame

from conftest import make_scene


def frames_and_chain():
    images, _ = make_scene(12)
    post = PostProcessor(resolve().postprocess)
    return [Frame(i + 1, i / 25, im) for i, im in enumerate(images)], post


@pytest.mark.parametrize("gray", [False, True])
def test_the_chain_is_model_input_then_the_model_then_post_processing(gray):
    frames, post = frames_and_chain()
    chain = FrameChain(bgsub.FeedbackMixture(), post, gray=gray, need_background=True,
                       need_scores=True)
    by_hand = bgsub.FeedbackMixture()
    lean = FrameChain(bgsub.FeedbackMixture(), post, gray=gray)
    for frame in frames:
        result = chain(frame)
        raw = by_hand.apply(model_input(frame.image, by_hand, gray))
        np.testing.assert_array_equal(result.mask, post(raw))
        np.testing.assert_array_equal(result.labels, by_hand.labels)
        np.testing.assert_array_equal(result.background, by_hand.background_image())
        assert result.scores.shape == frame.image.shape[:2] and result.frame is frame
        np.testing.assert_array_equal(lean.mask(frame.image), result.mask)
        assert result.mask.ndim == 2 and (result.labels.ndim == 2)


def test_halves_and_a_replaced_model():
    """model_step leaves the raw mask for finish (run does them on two threads); a model set
    between frames (the live window's retuning) is the one the next frame goes through."""
    frames, post = frames_and_chain()
    chain = FrameChain(bgsub.GaussianMixture(), post)
    for frame in frames[:6]:
        chain(frame)
    step = chain.model_step(frames[6])
    raw = step.mask.copy()
    assert chain.finish(step) is step
    np.testing.assert_array_equal(step.mask, post(raw))
    assert step.background is None and step.scores is None
    before = chain.model
    chain.model = before.with_params(threshold=50.0)
    chain(frames[7])
    assert chain.model.frames_seen == 8 and before.frames_seen == 7


def test_a_score_map_is_refused_for_a_model_without_one():
    with pytest.raises(ConfigError, match="no score map"):
        FrameChain(bgsub.SingleGaussian(), lambda mask: mask, need_scores=True)
