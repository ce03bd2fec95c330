"""The feedback mixture (the default model): its Numba kernel against the NumPy twin in
``reference.py``, and the behaviour the feedback is for."""

import numba
import numpy as np
import pytest

import bgsub
from bgsub.models import FeedbackMixture, load_model, make_model
from reference import KERNEL_ONLY, FeedbackReference, follow, ghost_scene


def _frames(shape, n, seed):
    """A noisy scene: the left half still, the right half a moving background (it flickers
    between two colours and wanders, like leaves); a bright band and a darker band sweep down
    over both halves."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, size=shape)
    alt = rng.integers(0, 256, size=shape)
    moving = np.arange(shape[1]) >= shape[1] // 2
    frames = []
    for t in range(n):
        img = base + rng.normal(0, 3, size=shape)
        img[:, moving] += rng.normal(0, 12, size=img[:, moving].shape)
        flicker = (rng.random(shape[:2]) < 0.35) & moving
        img[flicker] = alt[flicker] + rng.normal(0, 3, size=alt[flicker].shape)
        img[t % shape[0], :] = 255 - base[t % shape[0], :]  # a passing object
        img[(t + 3) % shape[0], :] = 0.6 * base[(t + 3) % shape[0], :]  # a shadow-like band
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


# Small thresholds so that every branch runs on a few pixels: matches, misses, new and dying
# components, feedback that saturates, quiet and busy neighbourhoods.
PARAMS = dict(threshold=2.5, match_threshold=2.0, dynamics_floor=1.0, dynamics_gain=0.5,
              max_threshold_scale=2.0, dynamics_rate=0.2)


@pytest.mark.parametrize("shape", [(9, 7), (9, 7, 3)], ids=["gray", "colour"])
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("alpha", [0.03, 0.3])
@pytest.mark.parametrize("stationary_frames, shadow_tau", [(20, 0.0), (0, 0.5), (1, 0.5)])
def test_feedback_kernel_matches_reference(shape, k, alpha, stationary_frames, shadow_tau):
    frames = _frames(shape, 30, seed=k)
    model = FeedbackMixture(k=k, stationary_frames=stationary_frames, shadow_tau=shadow_tau, **PARAMS,
                            **KERNEL_ONLY)
    model.apply(frames[0])
    labels_seen = follow(model, FeedbackReference(frames[0], model.params), frames, alpha)
    assert {0, 255} <= labels_seen
    assert model.dynamics.max() > PARAMS["dynamics_floor"]  # the feedback was exercised
    if shadow_tau and len(shape) == 3:
        assert 127 in labels_seen


@pytest.mark.parametrize("shape", [(6, 7), (6, 7, 3)], ids=["gray", "colour"])
def test_feedback_kernel_with_ghost_absorption_matches_reference(shape):
    frames = ghost_scene(shape, 40, seed=1)
    model = FeedbackMixture(k=3, **{**PARAMS, **KERNEL_ONLY, "ghost_frames": 2})
    model.apply(frames[0])
    ref = FeedbackReference(frames[0], model.params)
    follow(model, ref, frames, 0.01)
    assert ref.absorbed > 0  # the case exercised the absorption


def test_threshold_rises_where_the_background_moves_and_not_where_it_is_still():
    frames = _frames((24, 32, 3), 300, seed=7)
    model = FeedbackMixture()
    for frame in frames:
        model.apply(frame)
    scale = model.threshold_scale()
    assert scale.shape == (24, 32)
    still, moving = scale[:, :16], scale[:, 16:]
    assert np.median(still) == 1.0
    assert np.median(moving) > 1.3
    assert scale.max() <= model.params.max_threshold_scale


def _frames_until_absorbed(stationary_frames, limit=400):
    """Frames a grey square that stops on a textured scene stays foreground (at its centre)."""
    rng = np.random.default_rng(3)
    background = rng.integers(60, 190, size=(20, 20, 3)).astype(np.uint8)
    model = FeedbackMixture(stationary_frames=stationary_frames, history=100)
    for _ in range(150):
        model.apply(np.clip(background + rng.normal(0, 2, background.shape), 0, 255).astype(np.uint8))
    for n in range(limit):
        frame = np.clip(background + rng.normal(0, 2, background.shape), 0, 255).astype(np.uint8)
        frame[6:14, 6:14] = 240
        if model.apply(frame)[10, 10] == 0:
            return n
    return limit


@pytest.mark.parametrize("stationary_frames", [30, 120])
def test_a_stopped_object_is_absorbed_after_stationary_frames(stationary_frames):
    # Its component starts at the weight alpha and then grows at the foreground rate, so it
    # turns background a few frames before N, never after.
    n = _frames_until_absorbed(stationary_frames)
    assert 0.85 * stationary_frames <= n <= stationary_frames


def test_a_stopped_object_is_never_absorbed_with_stationary_frames_zero():
    assert _frames_until_absorbed(0) == 400


def test_learning_rate_zero_freezes_everything():
    frames = _frames((6, 7, 3), 20, seed=2)
    model = FeedbackMixture(**PARAMS)
    for frame in frames[:10]:
        model.apply(frame)
    before = model.components(), model.dynamics.copy()
    for frame in frames[10:]:
        model.apply(frame, learning_rate=0.0)
    after = model.components(), model.dynamics
    np.testing.assert_allclose(after[0][0], before[0][0], rtol=1e-6)  # renormalised: rounding only
    for x, y in zip(before[0][1:], after[0][1:]):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(before[1], after[1])


def test_checkpoint_keeps_the_feedback_state(tmp_path):
    frames = _frames((12, 16, 3), 40, seed=4)
    model = make_model("feedback", **PARAMS)
    for frame in frames[:30]:
        model.apply(frame)
    model.save(tmp_path / "m.npz")
    restored = load_model(tmp_path / "m.npz")
    assert isinstance(restored, bgsub.models.FeedbackMixture) and restored.params == model.params
    np.testing.assert_array_equal(restored.dynamics, model.dynamics)
    for frame in frames[30:]:
        np.testing.assert_array_equal(restored.apply(frame), model.apply(frame))


def test_result_does_not_depend_on_the_number_of_threads():
    # 160 x 120 spans two stripes, so two threads can split it.
    frames = _frames((120, 160, 3), 12, seed=5)
    runs = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            model = FeedbackMixture(**PARAMS)
            masks = [model.apply(frame) for frame in frames]
        finally:
            numba.set_num_threads(previous)
        runs.append((masks, model.mixture.copy(), model.dynamics.copy()))
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][2], runs[1][2])


def test_background_image_is_the_learned_scene():
    rng = np.random.default_rng(0)
    scene = rng.integers(30, 220, size=(10, 12, 3)).astype(np.uint8)
    model = FeedbackMixture()
    for _ in range(20):
        model.apply(scene)
    np.testing.assert_array_equal(model.background_image(), scene)


@pytest.mark.parametrize("key, value", [("stationary_frames", -1), ("max_threshold_scale", 0.5),
                                        ("dynamics_rate", -0.1)])
def test_bad_parameters_are_one_line_errors(key, value):
    with pytest.raises(bgsub.ConfigError, match=f"^{key}: must be in"):
        FeedbackMixture(**{key: value})
