"""The stages around the mixture kernel: exposure and shake compensation before it, ghost
absorption after it, and thresholds that mean the same evidence on gray and colour frames.

Each behaviour test uses a small synthetic scene that fails with the stage turned off."""

import cv2
import numpy as np
import pytest

import bgsub
from bgsub.models import kernels
from reference import ghost_pixels


def _scene(shape, seed=0, grain=4):
    """A textured still background: a random pattern smoothed over ``grain`` pixels."""
    rng = np.random.default_rng(seed)
    small = rng.integers(30, 220, size=(shape[0] // grain + 1, shape[1] // grain + 1, *shape[2:]))
    big = cv2.resize(small.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return big.reshape(shape)


def _noisy(image, rng, sigma=2.0):
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Ghost absorption: the kernel against its brute-force twin
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("height, width", [(9, 11), (100, 97)])
def test_ghost_kernel_matches_its_brute_force_twin(channels, seed, height, width):
    rng = np.random.default_rng(seed)
    k = 3
    n = height * width
    # Whole numbers everywhere, so float32 sums are exact and no comparison sits on a rounding.
    frame = rng.integers(0, 100, size=(n, channels)).astype(np.uint8)
    labels = np.where(rng.random(n) < 0.8, kernels.FOREGROUND, kernels.BACKGROUND).astype(np.uint8)
    labels[rng.random(n) < 0.1] = kernels.SHADOW
    still = np.where(labels == kernels.FOREGROUND, rng.integers(0, 6, size=n), 0).astype(np.uint8)
    still[kernels.GHOST_BLOCK : 2 * kernels.GHOST_BLOCK] = 0  # the large frame: a block of none
    counts = rng.integers(1, k + 1, size=n).astype(np.uint8)
    weights = rng.integers(1, 5, size=(n, k)).astype(np.float32) / 8
    variances = rng.integers(1, 9, size=(n, k)).astype(np.float32)
    means = rng.integers(0, 100, size=(n, k, channels)).astype(np.float32)
    threshold2, ratio, var_init, ghost_frames = 2.0, 0.5, 15.0, 3
    # Every other foreground pixel takes the top mean of a background pixel two columns away,
    # so that some candidates are ghosts whatever the draw.
    for i in np.flatnonzero(labels == kernels.FOREGROUND)[::2]:
        q = i - 2 if i % width >= 2 else i + 2
        if labels[q] != kernels.FOREGROUND:
            frame[i] = means[q, 0]

    planes = np.zeros((k, n, 2 + channels), np.float32)
    planes[:, :, kernels.WEIGHT] = weights.T
    planes[:, :, kernels.VARIANCE] = variances.T
    planes[:, :, kernels.MEAN:] = means.transpose(1, 0, 2)
    kernel_counts, kernel_still = counts.copy(), still.copy()
    # Two stripes, the second starting inside a block: blocks follow each stripe's start.
    for start, stop in ((0, n // 3), (n // 3, n)):
        kernels.ghost_absorb(start, stop, frame, labels, kernel_still, planes, kernel_counts,
                             width, threshold2, ratio, var_init, ghost_frames)

    ghosts = ghost_pixels(frame, labels, still, weights, variances, means, counts, width,
                          threshold2, ratio, ghost_frames)
    candidates = np.count_nonzero(still >= ghost_frames)
    assert 0 < len(ghosts) < candidates, "the case must absorb some candidates and keep others"
    want_counts, want_still = counts.copy(), still.copy()
    want_counts[ghosts], want_still[ghosts] = 1, 0
    weights[ghosts, 0], variances[ghosts, 0], means[ghosts, 0] = 1.0, var_init, frame[ghosts]
    np.testing.assert_array_equal(kernel_still, want_still)
    np.testing.assert_array_equal(kernel_counts, want_counts)
    for i in range(n):
        live = slice(0, want_counts[i])
        np.testing.assert_array_equal(planes[live, i, kernels.WEIGHT], weights[i, live])
        np.testing.assert_array_equal(planes[live, i, kernels.VARIANCE], variances[i, live])
        np.testing.assert_array_equal(planes[live, i, kernels.MEAN:], means[i, live])


def test_ghost_kernel_finds_a_lone_candidate_wherever_it_lies_in_a_scan_chunk():
    # The kernel skips chunks of GHOST_CHUNK still counts at once: one ghost per chunk, at each
    # offset in turn (and on the last pixel, in a chunk cut short by the frame's end), must each
    # be absorbed, and the foreground pixel next to each, still for one frame too few, kept.
    height, width, chunk = 37, 53, kernels.GHOST_CHUNK
    n = height * width
    frame = np.full((n, 3), 200, np.uint8)
    labels = np.zeros(n, np.uint8)  # background everywhere: every neighbour can explain
    still = np.zeros(n, np.uint8)
    ghosts = [chunk * (2 * offset + 1) + offset for offset in range(chunk)] + [n - 1]
    for i in ghosts:
        labels[i - 1 : i + 1], still[i - 1 : i + 1] = kernels.FOREGROUND, (2, 3)
    planes = np.zeros((2, n, 5), np.float32)
    planes[0, :, kernels.WEIGHT], planes[0, :, kernels.VARIANCE] = 1.0, 4.0
    planes[0, :, kernels.MEAN:] = 200.0  # every neighbour's background is the ghosts' colour
    planes[0, ghosts, kernels.MEAN:] = 10.0  # what the ghosts had learned: to be forgotten
    counts = np.ones(n, np.uint8)
    for start, stop in ((0, n // 2 + 3), (n // 2 + 3, n)):  # a stripe boundary mid-chunk
        kernels.ghost_absorb(start, stop, frame, labels, still, planes, counts, width, 9.0, 0.9,
                             15.0, 3)
    absorbed = np.flatnonzero(planes[0, :, kernels.VARIANCE] == 15.0)
    np.testing.assert_array_equal(absorbed, ghosts)
    np.testing.assert_array_equal(planes[0, ghosts, kernels.MEAN:], 200.0)
    assert not still[ghosts].any() and np.all(still[np.array(ghosts) - 1] == 2)


# ---------------------------------------------------------------------------------------------
# Behaviour
# ---------------------------------------------------------------------------------------------


def _foreground(model, frames):
    return [np.count_nonzero(model.apply(f)) / f.shape[0] / f.shape[1] for f in frames]


def test_gray_and_colour_frames_need_the_same_change_per_channel():
    # A change of 9 levels in every channel on a background of sigma ~3.9: sqrt(3) * 9 / 3.9 = 4.0
    # sigmas over three channels, under the threshold of 4.5; a gray pixel that moves as much is
    # the same evidence and must get the same answer (summed over one channel it was 2.3 sigmas).
    for threshold, expected in ((4.5, 0), (3.5, 255)):
        labels = []
        for shape in ((4, 4), (4, 4, 3)):
            model = bgsub.GaussianMixture(threshold=threshold, exposure_compensation=False,
                                          jitter_compensation=False, ghost_frames=0)
            model.apply(np.full(shape, 100, np.uint8))
            labels.append(model.apply(np.full(shape, 109, np.uint8))[0, 0])
        assert labels == [expected, expected]


@pytest.mark.parametrize("name", ["gmm", "feedback"])
def test_an_exposure_ramp_on_a_still_scene_stays_background(name):
    rng = np.random.default_rng(1)
    scene = _scene((60, 80, 3)).astype(np.float32)
    learn = [_noisy(scene, rng) for _ in range(40)]
    ramp = [_noisy(scene * g, rng) for g in np.linspace(1.0, 0.6, 30)]  # the camera stops down
    on, off = bgsub.make_model(name), bgsub.make_model(name, exposure_compensation=False)
    _foreground(on, learn), _foreground(off, learn)
    assert max(_foreground(on, ramp)) < 0.01
    assert max(_foreground(off, ramp)) > 0.3
    assert on.exposure_gain.min() < 0.65  # the gain it undid, per channel


def test_exposure_compensation_leaves_a_steady_camera_alone():
    rng = np.random.default_rng(2)
    scene = _scene((60, 80, 3))
    model = bgsub.GaussianMixture()
    for _ in range(20):
        frame = _noisy(scene, rng)
        model.apply(frame)
    pixels = frame.reshape(-1, 3)
    assert model._compensate_exposure(pixels, model.labels.reshape(-1)) is pixels  # untouched
    np.testing.assert_allclose(model.exposure_gain, 1.0, atol=0.5 / 255 * 2)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_exposure_compensation_scales_the_frame_as_opencv_does(channels):
    # The kernel looks levels up in a table; the oracle scales the frame itself, value by value,
    # with OpenCV's saturating multiply, and (independently) in float64 rounded half to even.
    rng = np.random.default_rng(4)
    shape = (48, 64, channels) if channels > 1 else (48, 64)
    model = bgsub.GaussianMixture()
    model.apply(rng.integers(40, 200, shape, dtype=np.uint8))
    pixels = rng.integers(0, 256, (48 * 64, channels), dtype=np.uint8)
    model.exposure_gain[:] = np.float32([0.7, 1.3, 0.9, 0.55][:channels])  # dark, bright, ...
    model._planes[0, :, kernels.MEAN:] = 100.0
    # every pixel's top mean at 100: the gain measured is each channel's median of x / 100
    pixels[: len(pixels) // 2] = np.uint8(np.round(100 * model.exposure_gain))
    compensated = model._compensate_exposure(pixels, np.zeros(len(pixels), np.uint8))
    assert compensated is not pixels
    scale = tuple(float(v) for v in 1.0 / model.exposure_gain) + (0.0,) * (4 - channels)
    expected = cv2.multiply(pixels.reshape(-1, 1, channels), scale).reshape(pixels.shape)
    np.testing.assert_array_equal(compensated, expected)
    exact = np.clip(np.rint(pixels * (1.0 / model.exposure_gain.astype(np.float64))), 0, 255)
    assert np.abs(compensated - exact).max() <= 1  # float32 against float64 at a level's half


@pytest.mark.parametrize("shape", [(7, 9), (7, 9, 3), (5, 4, 4), (1, 6, 3), (6, 1)])
def test_translate_is_what_warp_affine_gives_for_a_whole_pixel_shift(shape):
    """The shake stage moves frames (edges repeated) and labels (background filled in) by
    slices; OpenCV's nearest-neighbour warp is the oracle, for every shift up to beyond the
    image, either sign, either border."""
    from bgsub.models.mixture import translate

    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, size=shape, dtype=np.uint8)
    height, width = shape[:2]
    for dx in range(-width - 2, width + 3):
        for dy in range(-height - 2, height + 3):
            warp = np.float32([[1, 0, dx], [0, 1, dy]])
            replicated = cv2.warpAffine(image, warp, (width, height), flags=cv2.INTER_NEAREST,
                                        borderMode=cv2.BORDER_REPLICATE).reshape(shape)
            filled = cv2.warpAffine(image, warp, (width, height), flags=cv2.INTER_NEAREST,
                                    borderValue=(77,) * 4).reshape(shape)
            np.testing.assert_array_equal(translate(image, dx, dy, np.empty_like(image)),
                                          replicated, err_msg=f"replicated, ({dx}, {dy})")
            np.testing.assert_array_equal(translate(image, dx, dy, np.empty_like(image), fill=77),
                                          filled, err_msg=f"filled, ({dx}, {dy})")


@pytest.mark.parametrize("dx, dy", [(0, 1), (2, -1), (-3, 0), (-1, -2), (9, 8), (-12, 3)])
def test_moving_the_state_takes_each_pixel_from_its_clipped_source(dx, dy):
    # The brute-force twin: every per-pixel array indexed by the source pixel's flat index, its
    # row and column clipped to the frame (what enters at a border repeats the edge).
    height, width = 7, 9
    model = bgsub.FeedbackMixture(k=3)
    model.apply(np.zeros((height, width, 3), np.uint8))
    rng = np.random.default_rng(abs(dx * 31 + dy))
    for array in model._state_arrays().values():
        array[...] = rng.integers(0, 200, size=array.shape).astype(array.dtype)
    before = {name: array.copy() for name, array in model._state_arrays().items()}
    model._move_state(dx, dy)
    rows = np.clip(np.arange(height) - dy, 0, height - 1)
    cols = np.clip(np.arange(width) - dx, 0, width - 1)
    source = (rows[:, None] * width + cols[None, :]).reshape(-1)
    for name, array in model._state_arrays().items():
        np.testing.assert_array_equal(array, before[name][source], err_msg=name)


def test_a_shaking_camera_keeps_the_still_scene_background():
    rng = np.random.default_rng(3)
    height, width = 96, 128
    scene = _scene((height + 8, width + 8, 3))

    def view(dx, dy):  # the camera moved by (dx, dy): the scene appears shifted the other way
        return _noisy(scene[4 + dy : 4 + dy + height, 4 + dx : 4 + dx + width], rng)

    learn = [view(0, 0) for _ in range(30)]
    shaken = [view(*rng.integers(-3, 4, size=2)) for _ in range(40)]
    on, off = bgsub.GaussianMixture(), bgsub.GaussianMixture(jitter_compensation=False)
    _foreground(on, learn), _foreground(off, learn)
    assert np.median(_foreground(on, shaken)) < 0.02
    assert np.median(_foreground(off, shaken)) > 0.1


def test_a_camera_that_moved_for_good_takes_the_model_with_it():
    rng = np.random.default_rng(4)
    height, width = 96, 128
    scene = _scene((height + 8, width + 8, 3))
    model = bgsub.GaussianMixture()
    for _ in range(30):
        model.apply(_noisy(scene[4 : 4 + height, 4 : 4 + width], rng))
    shifts, shares = [], []
    for _ in range(60):
        frame = _noisy(scene[7 : 7 + height, 4 : 4 + width], rng)  # tilted 3 pixels, for good
        shares.append(np.count_nonzero(model.apply(frame)) / (height * width))
        shifts.append(model.shift)
    assert shifts[0] == (0, -3)  # the view moved up: first undone as shake ...
    assert shifts[-1] == (0, 0)  # ... then, the mean shift a pixel or more, the state moved
    assert max(shares) < 0.02  # and the mask stayed clean throughout


def _person_leaves(model, leave_at=60, frames=140):
    """A person stands in the scene from frame 0 and walks away at ``leave_at``; returns the
    foreground share inside the place they stood, per frame after they left."""
    rng = np.random.default_rng(5)
    scene = _scene((60, 80, 3), grain=16)
    person = np.zeros(scene.shape[:2], bool)
    person[15:50, 30:45] = True
    shares = []
    for t in range(frames):
        frame = _noisy(scene, rng)
        if t < leave_at:
            frame[person] = (40, 60, 160)
        mask = model.apply(frame)
        if t >= leave_at:
            shares.append(np.count_nonzero(mask[person]) / person.sum())
    return shares


def test_a_person_present_at_frame_zero_leaves_no_ghost():
    with_ghosts = _person_leaves(bgsub.make_model("feedback"))
    without = _person_leaves(bgsub.make_model("feedback", ghost_frames=0))
    # Once still for ghost_frames (3) the ghost erodes from its border, up to GHOST_RADIUS pixels
    # a frame: a 15-pixel-wide ghost is gone within 30 frames. Without absorption the feedback's
    # selective update keeps it for stationary_frames (500).
    assert with_ghosts[0] > 0.9
    assert max(with_ghosts[30:]) < 0.01
    assert min(without[30:]) > 0.9


def test_a_stopped_object_unlike_its_surroundings_stays_foreground():
    rng = np.random.default_rng(6)
    scene = _scene((60, 80, 3))
    model = bgsub.make_model("feedback")
    for _ in range(50):
        model.apply(_noisy(scene, rng))
    shares = []
    for _ in range(150):  # a bag is put down and stays
        frame = _noisy(scene, rng)
        frame[25:40, 30:50] = (20, 200, 20)
        shares.append(np.count_nonzero(model.apply(frame)[25:40, 30:50]) / (15 * 20))
    assert min(shares) > 0.9
