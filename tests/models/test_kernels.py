"""The Numba kernels against their plain NumPy twins in ``reference.py`` (same equations)."""

import numpy as np
import pytest

import bgsub
from reference import (KERNEL_ONLY, GaussianReference, MixtureReference, bound2, follow,
                       ghost_scene)


def _frames(shape, n, seed):
    """A noisy static scene where some pixels jump between two colours and objects pass."""
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 220, size=shape)
    alt = rng.integers(0, 256, size=shape)
    flicker = rng.random(shape[:2]) < 0.3
    frames = []
    for t in range(n):
        img = base + rng.normal(0, 3, size=shape)
        use_alt = flicker & (rng.random(shape[:2]) < 0.4)
        img[use_alt] = alt[use_alt] + rng.normal(0, 3, size=alt[use_alt].shape)
        img[t % shape[0], :] = 255 - base[t % shape[0], :]  # a passing object
        img[(t + 3) % shape[0], :] = 0.6 * base[(t + 3) % shape[0], :]  # a shadow-like band
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


SHAPES = [(6, 7), (6, 7, 3)]


@pytest.mark.parametrize("shape", SHAPES, ids=["gray", "colour"])
@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.5])
def test_gaussian_kernel_matches_reference(shape, alpha):
    frames = _frames(shape, 25, seed=1)
    model = bgsub.SingleGaussian(threshold=2.5, var_min=2.0, var_max=60.0)
    p = model.params
    model.apply(frames[0])
    ref = GaussianReference(frames[0], p.var_init)
    for frame in frames[1:]:
        mask = model.apply(frame, learning_rate=alpha)
        expected = ref.apply(frame, alpha, bound2(p.threshold, ref.mean.shape[1]), p.var_min, p.var_max)
        np.testing.assert_array_equal(mask.reshape(-1), expected)
    mean, var = model.components()
    np.testing.assert_allclose(mean, ref.mean, rtol=1e-6)
    np.testing.assert_allclose(var, ref.var, rtol=1e-6)
    assert var.min() >= p.var_min and var.max() <= p.var_max


@pytest.mark.parametrize("shape", SHAPES, ids=["gray", "colour"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("alpha", [0.02, 0.2])
@pytest.mark.parametrize("shadow_tau", [0.0, 0.5])
# A match beyond the background threshold is foreground, and then (shadow_tau > 0) a shadow test.
@pytest.mark.parametrize("threshold, match_threshold", [(3.0, 2.5), (2.0, 3.5)],
                         ids=["match-inside", "match-beyond"])
def test_mixture_kernel_matches_reference(shape, k, alpha, shadow_tau, threshold, match_threshold):
    frames = _frames(shape, 30, seed=k)
    model = bgsub.GaussianMixture(k=k, shadow_tau=shadow_tau, threshold=threshold,
                                  match_threshold=match_threshold, **KERNEL_ONLY)
    model.apply(frames[0])
    labels_seen = follow(model, MixtureReference(frames[0], model.params), frames, alpha)
    # The inputs must exercise both decisions, or the comparison proves little.
    assert {0, 255} <= labels_seen
    if k > 1:
        assert model.n_components.max() > 1


@pytest.mark.parametrize("shape", SHAPES, ids=["gray", "colour"])
@pytest.mark.parametrize("k", [2, 3])
def test_mixture_kernel_with_ghost_absorption_matches_reference(shape, k):
    frames = ghost_scene(shape, 40, seed=k)
    params = {**KERNEL_ONLY, "ghost_frames": 2, "still_threshold": 3.0}
    model = bgsub.GaussianMixture(k=k, threshold=3.0, match_threshold=2.5, **params)
    model.apply(frames[0])
    ref = MixtureReference(frames[0], model.params)
    follow(model, ref, frames, 0.01)
    assert ref.absorbed > 0  # the case exercised the absorption


@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "colour"])
def test_a_matched_top_component_that_widens_moves_down_the_ranking(channels):
    # Pixel 0: its top component matches a value 8 levels off, so its variance grows until its
    # w / sigma falls below the second component's and the two must swap. Pixel 1: a lone
    # component that matches. Kernel and reference start from the same hand-set mixtures.
    shape = (1, 2, channels) if channels > 1 else (1, 2)
    model = bgsub.GaussianMixture(k=3, var_min=4.0, var_init=15.0, **KERNEL_ONLY)
    model.apply(np.full(shape, 100, np.uint8))
    ref = MixtureReference(np.full(shape, 100, np.uint8), model.params)
    start = [[(0.5, 10.0, 100.0), (0.5, 11.0, 160.0)], [(1.0, 10.0, 100.0)]]
    model.n_components[:] = [len(comps) for comps in start]
    for i, comps in enumerate(start):
        ref.pixels[i] = [[np.float32(w), np.float32(v), np.full(channels, mu, np.float32)]
                         for w, v, mu in comps]
        for m, (w, v, mu) in enumerate(comps):
            model.mixture[i, m] = [w, v] + [mu] * channels
    values = np.array([[108, 101]], np.uint8)
    frame = values if channels == 1 else np.repeat(values[..., None], channels, axis=2)
    model.apply(frame, learning_rate=0.1)
    expected = ref.apply(frame, 0.1)
    np.testing.assert_array_equal(model.labels.reshape(-1), expected)
    weights, variances, means, counts = model.components()
    rw, rv, rm, rc = ref.canonical()
    np.testing.assert_array_equal(counts, rc)
    np.testing.assert_allclose(weights[0, :2], rw[0, :2], rtol=1e-6)
    np.testing.assert_allclose(variances[0, :2], rv[0, :2], rtol=1e-6)
    np.testing.assert_allclose(means[0, :2], rm[0, :2], rtol=1e-6)
    assert means[0, 0, 0] == pytest.approx(160.0)  # the second component now ranks first
    assert variances[0, 1] > 15.0  # the widened one
    np.testing.assert_allclose(means[1, 0], rm[1, 0], rtol=1e-6)


def test_mixture_shadow_label_appears_on_darkened_background():
    rng = np.random.default_rng(0)
    base = rng.integers(100, 200, size=(8, 8, 3)).astype(np.uint8)
    # shadow detection on, whatever the default; the whole frame darkens, which exposure
    # compensation would undo
    model = bgsub.GaussianMixture(shadow_tau=0.5, exposure_compensation=False)
    for _ in range(30):
        model.apply(base)
    dark = (base * 0.7).astype(np.uint8)
    mask = model.apply(dark)
    assert (model.labels == 127).mean() > 0.9
    assert mask.max() == 0  # shadows are background in the mask


def test_learning_rate_zero_freezes_the_mixture():
    frames = _frames((5, 5, 3), 10, seed=3)
    model = bgsub.GaussianMixture()
    for frame in frames[:5]:
        model.apply(frame)
    before = model.components()
    for frame in frames[5:]:
        model.apply(frame, learning_rate=0.0)
    after = model.components()
    np.testing.assert_allclose(after[0], before[0], rtol=1e-6)  # renormalised: rounding only
    for x, y in zip(before[1:], after[1:]):
        np.testing.assert_array_equal(x, y)


def test_mixture_background_image_is_the_weighted_mean_of_background_components():
    frames = _frames((6, 7, 3), 30, seed=4)
    model = bgsub.GaussianMixture(k=4, threshold=3.0, match_threshold=2.5)
    for frame in frames:
        model.apply(frame, learning_rate=0.2)
    weights, _, means, counts = model.components()
    ratio = np.float32(model.params.background_ratio)
    expected = np.zeros((len(counts), 3), np.uint8)
    for i, count in enumerate(counts):
        total, used = np.float32(0.0), 0
        while used < count:
            total += weights[i, used]
            used += 1
            if total >= ratio:
                break
        mean = (weights[i, :used, None] * means[i, :used]).sum(axis=0) / total
        expected[i] = np.floor(mean + 0.5)
    assert counts.max() > 1  # several components, so the cut at the ratio matters
    np.testing.assert_allclose(model.background_image().reshape(-1, 3), expected, atol=1)


def test_gaussian_background_image_is_the_rounded_mean():
    frames = _frames((6, 7, 3), 10, seed=5)
    model = bgsub.SingleGaussian()
    for frame in frames:
        model.apply(frame, learning_rate=0.3)
    mean, _ = model.components()
    np.testing.assert_array_equal(model.background_image().reshape(-1, 3), np.rint(mean))


@pytest.mark.parametrize("model_class", [bgsub.GaussianMixture, bgsub.FeedbackMixture])
@pytest.mark.parametrize("stages", [{}, KERNEL_ONLY], ids=["defaults", "kernel-only"])
def test_the_mixture_kernel_is_never_given_overlapping_arrays(model_class, stages):
    # It is compiled with Numba's noalias flag: LLVM assumes its arrays apart, and an overlap
    # would be read wrongly, with no error.
    frames = _frames((12, 10, 3), 6, seed=5)
    model = model_class(**stages)
    calls = []
    model.apply(frames[0])
    kernel = model._kernel

    def recording(*args):
        calls.append([a for a in (*args[:-1], *args[-1]) if isinstance(a, np.ndarray)])
        kernel(*args)

    model._kernel = recording
    for frame in frames[1:]:
        model.apply(frame)
    assert len(calls) == len(frames) - 1
    for arrays in calls:
        assert len(arrays) == 8  # frame, state, counts, labels, still counts, D, last, busy
        for i, a in enumerate(arrays):
            for b in arrays[i + 1:]:
                assert not np.may_share_memory(a, b)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_the_level_kernel_looks_up_each_channel_in_its_own_table_within_its_stripe(channels):
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (50, channels), dtype=np.uint8)
    table = rng.integers(0, 256, (channels, 256), dtype=np.uint8)
    out = np.full_like(pixels, 7)
    bgsub.models.kernels.level_kernel(channels)(5, 17, pixels.reshape(-1), table.reshape(-1),
                                                 out.reshape(-1))
    # NumPy twin: fancy indexing, channel by channel
    expected = np.full_like(pixels, 7)
    for c in range(channels):
        expected[5:17, c] = table[c][pixels[5:17, c]]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("channels, stride", [(1, 1), (3, 7), (3, 500), (4, 3)])
def test_gain_samples_are_numpy_s_strided_samples(channels, stride):
    rng = np.random.default_rng(8)
    n = 3000
    pixels = rng.integers(0, 256, (n, channels), dtype=np.uint8)
    pixels[rng.random((n, channels)) < 0.1] = 0  # black and saturated values occur
    pixels[rng.random((n, channels)) < 0.1] = 255
    top = np.empty((n, 2 + channels), np.float32)  # (weight, variance, means)
    top[:, :2] = 1.0
    top[:, 2:] = rng.uniform(-0.5, 255.0, (n, channels))  # means below 1 occur
    labels = rng.choice(np.uint8([0, 127, 255]), n)
    # NumPy twin: the strided slices, the usable samples' quotients in float32
    x = pixels[::stride].astype(np.float32)
    mu = top[::stride, 2:]
    usable = (labels[::stride, None] == 0) & (x > 0) & (x < 255) & (mu >= 1)
    assert 0 < usable.sum() < usable.size
    got_ratios = np.full((channels, len(x)), np.nan, np.float32)
    got_usable = np.zeros((channels, len(x)), np.bool_)
    bgsub.models.kernels.gain_samples(pixels, top, labels, stride, got_ratios, got_usable)
    np.testing.assert_array_equal(got_usable, usable.T)
    np.testing.assert_array_equal(got_ratios[got_usable], (x / mu).T[usable.T])
    np.testing.assert_array_equal(got_ratios[~got_usable], 1.0)


@pytest.mark.parametrize("dtype, channels, step", [(np.uint8, 3, 4), (np.float32, 3, 3),
                                                   (np.float32, 1, 2), (np.float32, 4, 5)])
def test_grid_mean_is_numpy_s_strided_channel_mean(dtype, channels, step):
    rng = np.random.default_rng(6)
    image = (rng.random((37, 53, channels + 2)) * 255).astype(dtype)[:, :, 2:]  # a strided view
    expected = image[::step, ::step].mean(axis=2, dtype=np.float32)
    out = np.full(expected.shape, np.nan, np.float32)
    bgsub.models.kernels.grid_mean(image, step, out)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dy, dx", [(0, 0), (2, -1), (-3, 3)])
def test_grid_misfits_counts_as_numpy_does_on_the_shifted_grid(dy, dx):
    rng = np.random.default_rng(7)
    height, width, margin, step = 40, 56, 3, 4
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    top = np.empty((height, width, 5), np.float32)  # (weight, variance, means): strided views
    top[:, :, 0] = 1.0
    top[:, :, 1] = rng.uniform(4.0, 400.0, (height, width))
    top[:, :, 2:] = image + rng.normal(0.0, 12.0, image.shape)
    means, variances = top[:, :, 2:], top[:, :, 1]
    bound = 16.8
    # NumPy twin: the grid and the shifted component planes cut out by slices
    rows = slice(margin - dy, height - margin - dy, step)
    cols = slice(margin - dx, width - margin - dx, step)
    inside = image[margin : height - margin : step, margin : width - margin : step]
    d2 = ((inside.astype(np.float32) - means[rows, cols]) ** 2).sum(axis=2)
    expected = np.count_nonzero(d2 > bound * variances[rows, cols])
    assert 0 < expected < d2.size  # both outcomes occur
    assert bgsub.models.kernels.grid_misfits(image, means, variances, margin, step, dy, dx,
                                              bound) == expected



def _most_repeats(length, edge):
    """For each index of a line of ``length``: the most times a window of ``2 edge + 1`` on
    the line padded by repeating its ends holds it (brute force over the window's centres)."""
    hits = np.clip(np.arange(length)[:, None] + np.arange(-edge, edge + 1), 0, length - 1)
    return np.array([(hits == i).sum(axis=1).max() for i in range(length)])


@pytest.mark.parametrize("height, width", [(1, 1), (1, 13), (17, 1), (37, 53), (64, 64),
                                           (65, 130)])
@pytest.mark.parametrize("edge", [0, 1, 21])
def test_cell_sums_weigh_the_border_as_a_repeated_padding_would(height, width, edge):
    from bgsub.models.kernels import CELL

    rng = np.random.default_rng(height * width + edge)
    mask = rng.choice(np.array([0, 127, 255], np.uint8), (height, width))
    # NumPy twin: each pixel weighed by the padding's repeats, then summed cell by cell
    weighed = mask * np.outer(_most_repeats(height, edge), _most_repeats(width, edge))
    rows, cols = -(-height // CELL), -(-width // CELL)
    expected = np.array([[weighed[r * CELL:(r + 1) * CELL, c * CELL:(c + 1) * CELL].sum()
                          for c in range(cols)] for r in range(rows)])
    out = np.full((rows, cols), -1, np.int64)
    bgsub.models.kernels.cell_sums(mask, edge, out)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("radius, least", [(0, 1), (1, 300), (3, 1200)])
def test_screen_tiles_marks_the_tiles_of_cells_whose_neighbourhood_sums_reach_least(radius,
                                                                                     least):
    rng = np.random.default_rng(radius)
    sums = np.where(rng.random((19, 27)) < 0.05, rng.integers(1, 400, (19, 27)), 0)
    needed = np.ones((3, 4), np.bool_)  # tiles of 7 x 7 cells (the last ones cut)
    bgsub.models.kernels.screen_tiles(sums, radius, least, 7, needed)
    # NumPy twin: each cell's neighbourhood cut out and summed, then any per tile
    hot = np.array([[sums[max(r - radius, 0):r + radius + 1, max(c - radius, 0):c + radius + 1]
                     .sum() >= least for c in range(27)] for r in range(19)])
    expected = np.array([[hot[t * 7:(t + 1) * 7, u * 7:(u + 1) * 7].any() for u in range(4)]
                         for t in range(3)])
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(needed, expected)


def test_screen_tiles_keeps_a_neighbourhood_that_sums_to_least_exactly():
    sums = np.zeros((16, 16), np.int64)
    sums[7, 8] = 100  # cell (7, 8) of the tile (0, 1); its neighbours reach the tiles below
    needed = np.zeros((2, 2), np.bool_)
    bgsub.models.kernels.screen_tiles(sums, 1, 100, 8, needed)
    np.testing.assert_array_equal(needed, [[True, True], [True, True]])
    bgsub.models.kernels.screen_tiles(sums, 1, 101, 8, needed)
    assert not needed.any()
