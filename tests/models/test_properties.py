"""Numerical soundness of both models, through the public API, on any frames and learning rates.

After every frame: mixture weights are >= 0 and sum to 1, variances stay within
[var_min, var_max], means within the pixel range, nothing is NaN or infinite, masks are 0/255 and
labels 0/127/255; and the result does not depend on how many Numba threads ran the kernels.
"""

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import bgsub

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def variance_bounds(draw):
    # The parameters refuse a var_init outside the clamp range.
    var_min = draw(st.floats(0.01, 400.0))
    var_max = draw(st.floats(var_min, 5000.0))
    var_init = draw(st.floats(var_min, var_max))
    return {"var_min": var_min, "var_max": var_max, "var_init": var_init}


@st.composite
def model_params(draw, name):
    params = draw(variance_bounds())
    params["threshold"] = draw(st.floats(0.1, 10.0))
    params["history"] = draw(st.integers(1, 1000))
    params["learning_rate"] = draw(st.none() | st.floats(1e-4, 1.0))
    if name == "gmm":
        params.update(
            k=draw(st.integers(1, 8)),
            match_threshold=draw(st.floats(0.1, 10.0)),
            background_ratio=draw(st.floats(0.05, 1.0)),
            complexity_prior=draw(st.floats(0.0, 0.5)),
            shadow_tau=draw(st.sampled_from([0.0, 0.5, 0.9])),
        )
    return params


@st.composite
def frame_sequences(draw, max_side=5, max_frames=10):
    """Frames of one shape (gray or BGR) with a learning rate each (None = the schedule).

    Frames are drawn near a base image (plus some jumps), so components match and learn as well
    as being created and replaced.
    """
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    shape = (height, width) if draw(st.booleans()) else (height, width, 3)
    base = draw(arrays(np.uint8, shape))
    count = draw(st.integers(1, max_frames))
    frames, rates = [], []
    for _ in range(count):
        if draw(st.booleans()):
            frames.append(draw(arrays(np.uint8, shape)))
        else:
            noise = draw(arrays(np.int16, shape, elements=st.integers(-6, 6)))
            frames.append(np.clip(base.astype(np.int16) + noise, 0, 255).astype(np.uint8))
        rates.append(draw(st.none() | st.floats(0.0, 1.0) | st.sampled_from([0.0, 1.0])))
    return frames, rates


def check_outputs(model, frame, mask):
    assert mask.dtype == np.uint8 and mask.shape == frame.shape[:2]
    assert set(np.unique(mask)) <= {0, 255}
    assert set(np.unique(model.labels)) <= {0, 127, 255}
    assert np.array_equal(mask > 0, model.labels == 255)
    background = model.background_image()
    assert background.dtype == np.uint8 and background.shape == frame.shape


def check_gaussian_state(model):
    p = model.params
    means, variances = model.components()
    assert np.isfinite(means).all() and np.isfinite(variances).all()
    assert means.min() >= 0 and means.max() <= 255 + 1e-3
    # The kernel clamps in float32: compare with the bounds as it sees them.
    assert variances.min() >= np.float32(p.var_min) and variances.max() <= np.float32(p.var_max)


def check_mixture_state(model):
    p = model.params
    weights, variances, means, counts = model.components()
    assert ((counts >= 1) & (counts <= p.k)).all()
    live = np.arange(p.k)[None, :] < counts[:, None]
    w, v, m = weights[live], variances[live], means[live]
    assert np.isfinite(w).all() and np.isfinite(v).all() and np.isfinite(m).all()
    assert w.min() >= 0
    sums = np.where(live, weights, 0).sum(axis=1, dtype=np.float64)
    assert np.abs(sums - 1).max() <= 1e-4
    assert v.min() >= np.float32(p.var_min) and v.max() <= np.float32(p.var_max)


CHECK_STATE = {"gaussian": check_gaussian_state, "gmm": check_mixture_state}


@pytest.mark.parametrize("name", ["gaussian", "gmm"])
def test_state_stays_sound_after_any_frames_and_learning_rates(name):
    @FAST
    @given(params=model_params(name), sequence=frame_sequences())
    def run(params, sequence):
        model = bgsub.make_model(name, **params)
        for frame, rate in zip(*sequence):
            mask = model.apply(frame, learning_rate=rate)
            check_outputs(model, frame, mask)
            CHECK_STATE[name](model)

    run()


@pytest.mark.parametrize("name", ["gaussian", "gmm"])
def test_first_frame_initialises_whatever_the_learning_rate(name):
    frame = np.arange(24, dtype=np.uint8).reshape(2, 4, 3) * 10
    for rate in (0.0, 0.3, 1.0):
        model = bgsub.make_model(name)
        assert not model.apply(frame, learning_rate=rate).any()
        assert np.array_equal(model.background_image(), frame)
        CHECK_STATE[name](model)


def test_mixture_means_stay_within_the_pixel_range():
    # Found by the property test above: the component at (1, 0, 0) decays to a negative weight,
    # still matches black, and learned at rho = 0.5 / 0.42 = 1.2 (its red mean became -0.2)
    # until rho was capped at 1.
    model = bgsub.GaussianMixture(k=2, var_min=1.0, var_max=2.0, var_init=2.0, threshold=1.0,
                                  history=2, match_threshold=1.0, background_ratio=1.0,
                                  complexity_prior=0.5, shadow_tau=0.0)
    for value in ([1, 0, 0], [1, 1, 1], [0, 0, 0]):
        model.apply(np.array([[value]], np.uint8))
    weights, _, means, counts = model.components()
    assert means[0, :counts[0]].min() >= 0


def test_complexity_prior_is_refused_where_a_matched_weight_could_vanish():
    # With c_T = 1 and alpha = 1 a matched component's weight was 0 and rho divided by it.
    with pytest.raises(ValueError, match="complexity_prior"):
        bgsub.GaussianMixture(k=1, history=1, complexity_prior=1.0)


@pytest.mark.parametrize("name", ["gmm", "feedback"])
def test_a_denormal_learning_rate_leaves_no_nan_weight(name):
    # Found by the thread comparison below: at alpha = 1.4e-45 the pixel's only component was
    # replaced by a new one of weight alpha, and renormalising by 1 / alpha (inf) gave NaN.
    model = bgsub.make_model(name, k=1, var_min=1.0, var_max=1.0, var_init=1.0, threshold=1.0,
                             match_threshold=1.0, history=2, complexity_prior=0.0)
    model.apply(np.full((1, 1, 3), 1, np.uint8))
    model.apply(np.zeros((1, 1, 3), np.uint8), learning_rate=1.401298464324817e-45)
    model.apply(np.zeros((1, 1, 3), np.uint8))
    weights, variances, means, counts = model.components()
    assert counts[0] == 1 and weights[0, 0] == 1.0


def run_with_threads(threads, name, params, frames, rates):
    saved = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        model = bgsub.make_model(name, **params)
        masks = [model.apply(f, learning_rate=r).copy() for f, r in zip(frames, rates)]
        return masks, model.components(), model.background_image()
    finally:
        numba.set_num_threads(saved)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("name", ["gaussian", "gmm"])
def test_results_are_identical_with_one_and_two_threads(name):
    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(params=model_params(name), sequence=frame_sequences(max_side=24, max_frames=8))
    def run(params, sequence):
        one = run_with_threads(1, name, params, *sequence)
        two = run_with_threads(2, name, params, *sequence)
        assert all(np.array_equal(a, b) for a, b in zip(one[0], two[0]))
        assert all(np.array_equal(a, b) for a, b in zip(one[1], two[1]))
        assert np.array_equal(one[2], two[2])

    run()


def test_thread_comparison_covers_a_real_frame():
    """The same check on one 240x320 colour sequence, big enough to split across threads."""
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    frames = [np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
              for _ in range(6)]
    frames[3][50:120, 60:200] = 255
    rates = [None, None, 0.05, None, 0.5, 0.0]
    for name in ("gaussian", "gmm"):
        one = run_with_threads(1, name, {}, frames, rates)
        two = run_with_threads(min(2, numba.config.NUMBA_NUM_THREADS), name, {}, frames, rates)
        assert one[0][3].any()  # the block is detected, so both decisions are compared
        assert all(np.array_equal(a, b) for a, b in zip(one[0], two[0]))
        assert all(np.array_equal(a, b) for a, b in zip(one[1], two[1]))
