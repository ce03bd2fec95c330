"""EM per pixel (bgsub.models.em): the Numba kernels against their NumPy twin
(tests/models/reference_em.py), the maths against scikit-learn, and the fit's hand-over to the
online mixtures."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnMixture

import bgsub
from bgsub.errors import ConfigError
from bgsub.models import em, kernels
import reference_em


def mixture_samples(rng, n_frames, n_pixels, shares, centres, sigmas, channels=3):
    """uint8 (N, P, C) samples: each pixel's values drawn from the mixture of spherical
    Gaussians ``(shares, centres, sigmas)``, centres jittered per pixel."""
    choice = rng.choice(len(shares), size=(n_frames, n_pixels), p=shares)
    jitter = rng.uniform(-10, 10, size=(n_pixels, len(shares), channels))
    centre = np.asarray(centres, float)[None, :, None] + jitter  # (P, K, C)
    mean = np.take_along_axis(centre[None], choice[:, :, None, None], axis=2)[:, :, 0, :]
    noise = rng.normal(size=(n_frames, n_pixels, channels)) * np.asarray(sigmas)[choice][..., None]
    return np.clip(np.rint(mean + noise), 0, 255).astype(np.uint8)


@pytest.fixture
def samples():
    rng = np.random.default_rng(7)
    return mixture_samples(rng, 120, 12, [0.5, 0.3, 0.2], [60, 130, 210], [3, 6, 9])


def kernel_initialisation(x, k, var_min, var_max):
    n_frames, n_pixels, channels = x.shape
    weights = np.zeros((n_pixels, k))
    means = np.zeros((n_pixels, k, channels))
    variances = np.ones((n_pixels, k))
    em.initialise(x, k, var_min, var_max, weights, means, variances)
    return weights, means, variances


@pytest.mark.parametrize("channels", [1, 3])
def test_initialisation_matches_the_reference(channels):
    rng = np.random.default_rng(3)
    x = mixture_samples(rng, 37, 20, [0.6, 0.4], [90, 100], [2, 8], channels)
    x[:, :3] = 77  # still pixels: one component
    weights, means, variances = kernel_initialisation(x, 3, 10.0, 75.0)
    for p in range(x.shape[1]):
        w, mu, var = reference_em.initialise(x[:, p].astype(float), 3, 10.0, 75.0)
        count = len(w)
        np.testing.assert_allclose(weights[p, :count], w, rtol=1e-12)
        np.testing.assert_allclose(means[p, :count], mu, rtol=1e-12)
        np.testing.assert_allclose(variances[p, :count], var, rtol=1e-12)
        assert np.all(weights[p, count:] == 0)
    assert np.all((weights[:3] > 0).sum(axis=1) == 1)


def test_kernel_matches_the_numpy_reference(samples):
    weights, means, variances, n_iterations, trace = em.fit_pixels(
        samples, 3, 10.0, 75.0, iterations=15, tolerance=1e-4, trace_length=15)
    for p in range(samples.shape[1]):
        w0, mu0, var0 = reference_em.initialise(samples[:, p].astype(float), 3, 10.0, 75.0)
        w, mu, var, ref_trace = reference_em.expectation_maximisation(
            samples[:, p], w0, mu0, var0, 15, 1e-4, 10.0, 75.0)
        count = len(w0)
        np.testing.assert_allclose(weights[p, :count], w, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(means[p, :count], mu, rtol=1e-9)
        np.testing.assert_allclose(variances[p, :count], var, rtol=1e-9)
        assert n_iterations[p] == len(ref_trace)
        np.testing.assert_allclose(trace[p, :n_iterations[p]], ref_trace, rtol=1e-12)


def test_fit_matches_scikit_learn_given_the_same_initialisation(samples):
    """Same data, same starting point, same number of iterations: the parameters agree to 1e-6
    (relative). var_min is set below any fitted variance so that bgsub's floor, a clamp, never
    acts; scikit-learn's reg_covar (added to every variance) is 0 to match."""
    k, iterations = 3, 25
    weights, means, variances = kernel_initialisation(samples, k, 1e-3, 1e4)
    start = weights.copy(), means.copy(), variances.copy()
    n_iterations = np.zeros(samples.shape[1], np.int32)
    em.expectation_maximisation(samples, weights, means, variances, iterations, 0.0, 1e-3, 1e4,
                                n_iterations, np.empty((samples.shape[1], 0)))
    assert np.all(n_iterations == iterations)
    for p in range(samples.shape[1]):
        assert np.all(start[0][p] > 0), "the synthetic pixels should start with three components"
        reference = SklearnMixture(
            n_components=k, covariance_type="spherical", tol=0.0, reg_covar=0.0,
            max_iter=iterations, weights_init=start[0][p], means_init=start[1][p],
            precisions_init=1.0 / start[2][p])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reference.fit(samples[:, p].astype(np.float64))
        assert reference.n_iter_ == iterations
        np.testing.assert_allclose(weights[p], reference.weights_, rtol=1e-6)
        np.testing.assert_allclose(means[p], reference.means_, rtol=1e-6)
        np.testing.assert_allclose(variances[p], reference.covariances_, rtol=1e-6)
    # And the fit finds the mixture the samples came from.
    order = np.argsort(means[:, :, 0], axis=1)
    shares = np.take_along_axis(weights, order, axis=1).mean(axis=0)
    np.testing.assert_allclose(shares, [0.5, 0.3, 0.2], atol=0.05)
    sigmas = np.sqrt(np.take_along_axis(variances, order, axis=1)).mean(axis=0)
    np.testing.assert_allclose(sigmas, [3, 6, 9], rtol=0.15)


def test_log_likelihood_never_decreases():
    rng = np.random.default_rng(11)
    # Overlapping components, variances at the floor and pixels with a stray frame or two.
    x = mixture_samples(rng, 80, 40, [0.45, 0.45, 0.1], [100, 110, 180], [1, 4, 20])
    x[:2, ::5] = 255
    iterations = 40
    *_, n_iterations, trace = em.fit_pixels(x, 4, 10.0, 75.0, iterations, 0.0,
                                            trace_length=iterations)
    assert np.all(n_iterations == iterations)
    steps = np.diff(trace, axis=1)
    assert steps.min() >= -1e-9 * np.abs(trace).max()
    assert np.all(trace[:, -1] > trace[:, 0])


def frames_of(values, height=4, width=5):
    """Colour frames in which every pixel has the value of ``values[n]`` (gray levels)."""
    return [np.full((height, width, 3), v, np.uint8) for v in values]


def road_and_person(rng, n=200, person_frames=66):
    """A road pixel (gray 90 +- 3) with a still person (gray 200 +- 3) over it for
    ``person_frames`` of the ``n`` frames (33% by default)."""
    person = np.zeros(n, bool)
    person[50:50 + person_frames] = True
    return np.where(person, 200, 90) + np.rint(rng.normal(0, 3, n))


@pytest.mark.parametrize("model_class", [bgsub.GaussianMixture, bgsub.FeedbackMixture])
def test_a_still_person_is_not_kept_as_background(model_class):
    """The road (weight 0.67, ranked first) stays; the person who stood still (0.33) is one
    visit, short of the 20 that recurrence 0.1 asks of a 200-frame clip: dropped, foreground
    online, even with keep_ratio 1. With recurrence 0 as well, the person's component is kept
    and is background for the online test (background_ratio 0.9: the road's 0.67 above it is
    below 0.9)."""
    frames = frames_of(road_and_person(np.random.default_rng(5)))
    for keep_ratio, recurrence, person_label in ((em.KEEP_RATIO, em.RECURRENCE, 255),
                                                 (1.0, em.RECURRENCE, 255), (1.0, 0.0, 0)):
        model = model_class(k=3).fit(frames, keep_ratio=keep_ratio, recurrence=recurrence)
        weights, _, means, counts = model.components()
        if person_label:
            assert counts[0] == 1 and weights[0, 0] == 1
        else:
            assert counts[0] == 2
            np.testing.assert_allclose(weights[0, :2], [0.67, 0.33], atol=1e-6)
        np.testing.assert_allclose(means[0, :counts[0], 0], [90, 200][:counts[0]], atol=1.0)
        assert model.apply(frames_of([200])[0], learning_rate=0)[0, 0] == person_label
        assert model.apply(frames_of([90])[0], learning_rate=0)[0, 0] == 0
        assert model.apply(frames_of([150])[0], learning_rate=0)[0, 0] == 255


@pytest.mark.parametrize("alternating, kept", [(True, 2), (False, 1)])
def test_swaying_leaves_stay_background(alternating, kept):
    """Two colours 55/45 (leaves and the sky between them). Alternating, as swaying leaves do,
    the pixel visits both many times: the first's 0.55 is below the keep ratio 0.6, so both
    stay, and both are background online. The same samples in two long runs (a still object
    over the pixel for the second half) keep only the first-ranked colour."""
    rng = np.random.default_rng(6)
    dark = np.arange(200) < 110
    if alternating:
        dark = rng.permutation(dark)
    leaves = np.where(dark, 60, 170) + np.rint(rng.normal(0, 3, 200))
    model = bgsub.GaussianMixture(k=3).fit(frames_of(leaves))
    weights, _, means, counts = model.components()
    assert counts[0] == kept  # EM's split of the darker colour merged back
    if alternating:
        np.testing.assert_allclose(np.sort(weights[0, :2]), [0.45, 0.55], atol=1e-6)
    for value, label in ((60, 0), (170, 0 if alternating else 255)):
        assert model.apply(frames_of([value])[0], learning_rate=0)[0, 0] == label


def test_visits_match_the_numpy_reference(samples):
    """The kernel's run count per ranked component against the twin's vectorised count."""
    weights, means, variances, *_ = em.fit_pixels(samples, 3, 10.0, 75.0, 10, 1e-3)
    assert weights.min() > 0  # all three live: every pixel exercises the assignment
    order = np.argsort(-(weights**2 / variances), axis=1)
    visits = np.zeros(3, np.int64)
    for p in range(samples.shape[1]):
        em._count_visits(samples, p, weights[p], means[p], variances[p], order[p], 3,
                         np.empty(3), visits)
        expected = reference_em.visits(samples[:, p], weights[p], means[p], variances[p])
        np.testing.assert_array_equal(visits, expected[order[p]])
        assert visits.sum() >= 3 and visits.sum() <= samples.shape[0]


def test_a_component_the_pixel_never_returns_to_is_dropped():
    """Ranked (w/sigma) road 0.5, sky 0.3, car 0.2, all inside the keep ratio 1: the sky
    alternates with the road (many visits) and stays; the car is one run and goes, whatever
    its weight; the first-ranked road stays however few its visits. Weights renormalise."""
    n = 100
    values = np.full(n, 10.0)
    values[:60:2] = 100.0  # sky: 30 visits
    values[80:] = 200.0  # car: one visit
    frames = values.astype(np.uint8).reshape(n, 1, 1)
    weights = np.array([[0.5, 0.3, 0.2]])
    means = np.array([[[10.0], [100.0], [200.0]]])
    variances = np.full((1, 3), 10.0)
    planes = np.zeros((3, 1, 3), np.float32)
    counts = np.zeros(1, np.uint8)
    em.to_mixture(frames, weights, means, variances, 1e-3, 1.0, em.min_visits(n), 0.0, 1.0,
                  100.0, planes, counts)
    assert em.min_visits(n) == 10 and counts[0] == 2
    np.testing.assert_allclose(planes[:2, 0].tolist(), [[0.5 / 0.8, 10, 10], [0.3 / 0.8, 10, 100]],
                               rtol=1e-6)
    values[:60:2] = 10.0  # the sky gone, the road is one visit before the car: still first
    em.to_mixture(values.astype(np.uint8).reshape(n, 1, 1), weights, means, variances, 1e-3,
                  1.0, 10, 0.0, 1.0, 100.0, planes, counts)
    assert counts[0] == 1 and planes[0, 0, 0] == 1 and planes[0, 0, 2] == 10


def test_state_is_ranked_and_normalised(samples):
    weights, means, variances, *_ = em.fit_pixels(samples, 3, 10.0, 75.0, 10, 1e-3)
    weights[0, 2] = 1e-4  # below min_weight: dropped
    planes = np.zeros((3, samples.shape[1], 5), np.float32)
    counts = np.zeros(samples.shape[1], np.uint8)
    em.to_mixture(samples, weights, means, variances, 1e-3, 1.0, 0, 0.0, 10.0, 75.0, planes,
                  counts)
    assert counts[0] == 2 and np.all(counts[1:] == 3)
    w, var = planes[:, :, kernels.WEIGHT], planes[:, :, kernels.VARIANCE]
    for p, count in enumerate(counts):
        np.testing.assert_allclose(w[:count, p].sum(), 1.0, rtol=1e-6)
        keys = w[:count, p] ** 2 / var[:count, p]
        assert np.all(np.diff(keys) <= 0)
        assert np.all(planes[count:, p] == 0)


def test_the_keep_ratio_cuts_the_ranked_components():
    weights = np.array([[0.5, 0.3, 0.2], [0.75, 0.25, 0.0]])
    means = np.array([[[10.0], [100.0], [200.0]], [[10.0], [100.0], [0.0]]])
    variances = np.full((2, 3), 10.0)
    planes = np.zeros((3, 2, 3), np.float32)
    counts = np.zeros(2, np.uint8)
    em.to_mixture(np.zeros((1, 2, 1), np.uint8), weights, means, variances, 1e-3, 0.7, 0, 0.0,
                  1.0, 100.0, planes, counts)
    assert counts.tolist() == [2, 1]  # 0.5 + 0.3 above the third reach 0.7; 0.75 alone does
    np.testing.assert_allclose(planes[:2, 0, 0], [0.5 / 0.8, 0.3 / 0.8], rtol=1e-6)
    assert planes[0, 1, 0] == 1


def test_components_within_the_match_threshold_merge_by_moments():
    weights = np.array([[0.5, 0.3, 0.2]])
    means = np.array([[[100.0], [104.0], [200.0]]])
    variances = np.array([[10.0, 20.0, 10.0]])
    planes = np.zeros((3, 1, 3), np.float32)
    counts = np.zeros(1, np.uint8)
    em.to_mixture(np.zeros((1, 1, 1), np.uint8), weights, means, variances, 1e-3, 1.0, 0,
                  4.5**2, 1.0, 100.0, planes, counts)
    assert counts[0] == 2
    x = np.concatenate([np.full(5, 100.0), np.full(3, 104.0)])  # the pair's means, their weights
    merged_var = (0.5 * 10 + 0.3 * 20) / 0.8 + x.var()
    np.testing.assert_allclose(planes[:, 0, :].tolist()[0], [0.8, merged_var, x.mean()], rtol=1e-6)
    np.testing.assert_allclose(planes[1, 0], [0.2, 10.0, 200.0], rtol=1e-6)


def test_fit_then_apply_continues_online(tmp_path):
    rng = np.random.default_rng(9)
    values = road_and_person(rng, 40)
    gray = [frame[:, :, 0] for frame in frames_of(values)]
    model = bgsub.GaussianMixture(history=100)
    assert model.fit(iter(gray)) is model
    assert model.frames_seen == 40 and model.shape == (4, 5)
    assert model.learning_rate_at(model.frames_seen + 1) == pytest.approx(1 / 41)
    model.apply(gray[0])
    assert model.frames_seen == 41
    path = tmp_path / "fitted.npz"
    model.save(path)
    restored = bgsub.load_model(path)
    np.testing.assert_array_equal(restored.mixture, model.mixture)
    assert restored.frames_seen == 41


def test_fit_refuses_no_frames_and_mixed_shapes():
    with pytest.raises(ConfigError, match="no frames"):
        bgsub.GaussianMixture().fit([])
    with pytest.raises(ConfigError, match="frame 2 has shape"):
        bgsub.GaussianMixture().fit([np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8)])
