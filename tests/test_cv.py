"""bgsub.cv: OpenCV's BackgroundSubtractorMOG2 surface over bgsub's models, checked against
cv2's own MOG2 on the same frames and against float64 statements of MOG2's decisions."""

from pathlib import Path

import cv2
import numpy as np
import pytest

import bgsub
import bgsub.cv

SAMPLE = Path(__file__).resolve().parent.parent / "sample_videos" / "highway_320x240.mp4"
MAKERS = {
    "opencv": cv2.createBackgroundSubtractorMOG2,
    "bgsub-gmm": bgsub.cv.createBackgroundSubtractorGMM,
    "bgsub-feedback": lambda *a, **kw: bgsub.cv.createBackgroundSubtractorGMM(*a, model="feedback",
                                                                              **kw),
}


def tutorial_loop(create, frames=120):
    """OpenCV's background-subtraction tutorial, as written for MOG2 (plus the setters)."""
    back_sub = create(history=300, varThreshold=16, detectShadows=True)
    back_sub.setVarThreshold(20)
    back_sub.setShadowValue(100)
    back_sub.setNMixtures(3)
    back_sub.setVarMin(6.0)
    capture = cv2.VideoCapture(str(SAMPLE))
    masks = []
    while len(masks) < frames:
        ok, frame = capture.read()
        if not ok:
            break
        if len(masks) % 2:
            fg_mask = back_sub.apply(frame, None, -1)
        else:
            fg_mask = back_sub.apply(frame, learningRate=0.02 if len(masks) > 50 else -1)
        masks.append(fg_mask)
    capture.release()
    return masks, back_sub.getBackgroundImage(), back_sub


def test_one_mog2_loop_runs_unchanged_on_opencv_and_bgsub():
    runs = {name: tutorial_loop(make) for name, make in MAKERS.items()}
    reference_masks, reference_background, _ = runs["opencv"]
    for name, (masks, background, sub) in runs.items():
        assert len(masks) == 120
        assert all(m.shape == (240, 320) and m.dtype == np.uint8 for m in masks)
        assert set(np.unique(np.stack(masks))) <= {0, 100, 255}, name
        assert background.shape == (240, 320, 3) and background.dtype == np.uint8
        assert (sub.getVarThreshold(), sub.getShadowValue(), sub.getNMixtures()) == (20.0, 100, 3)
        # Same scene learned: backgrounds within a few levels, cars found at the same places.
        assert np.median(cv2.absdiff(background, reference_background)) <= 3, name
        late = slice(60, None)
        ours = np.stack(masks[late]) == 255
        theirs = np.stack(reference_masks[late]) == 255
        assert (ours & theirs).sum() / max(theirs.sum(), 1) > 0.6, name
    assert any((m == 100).any() for m in runs["bgsub-gmm"][0])  # shadows reach the mask


def _outcome(call):
    """What a call gives back: the exception (as 'raises') or the type, shape and dtype."""
    try:
        value = call()
    except Exception:
        return "raises"
    if isinstance(value, np.ndarray):
        return ("ndarray", value.shape, str(value.dtype))
    return type(value).__name__ if value is not None else None


def _accepted_forms(sub):
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    gray = colour[:, :, 0].copy()
    buffer = np.zeros((24, 32), np.uint8)
    forms = {
        "getBackgroundImage() first": lambda: sub.getBackgroundImage(),
        "apply(frame)": lambda: sub.apply(colour),
        "apply(frame, None, -1)": lambda: sub.apply(colour, None, -1),
        "apply(image=, learningRate=)": lambda: sub.apply(image=colour, learningRate=0.5),
        "apply(frame, fgmask=buffer) is buffer": lambda: sub.apply(colour, fgmask=buffer) is buffer,
        "apply(frame, wrong-shaped fgmask)": lambda: sub.apply(colour, np.zeros((2, 2), np.uint8)),
        "apply(frame, learningRate=0)": lambda: sub.apply(colour, learningRate=0),
        "apply(frame, learningRate=1)": lambda: sub.apply(colour, learningRate=1),
        "apply(float32 frame)": lambda: sub.apply(colour.astype(np.float32)),
        "apply(list)": lambda: sub.apply(colour.tolist()),
        "getBackgroundImage()": lambda: sub.getBackgroundImage(),
        "apply(gray)": lambda: sub.apply(gray),
        "getBackgroundImage() gray": lambda: sub.getBackgroundImage(),
        "getHistory()": lambda: sub.getHistory(),
        "getNMixtures()": lambda: sub.getNMixtures(),
        "getVarThreshold()": lambda: sub.getVarThreshold(),
        "getDetectShadows()": lambda: sub.getDetectShadows(),
        "getShadowValue()": lambda: sub.getShadowValue(),
        "getShadowThreshold()": lambda: sub.getShadowThreshold(),
        "setHistory(2.5)": lambda: sub.setHistory(2.5),
        "setVarThreshold(25)": lambda: sub.setVarThreshold(25),
        "setBackgroundRatio(0.8)": lambda: sub.setBackgroundRatio(0.8),
        "setDetectShadows(False)": lambda: sub.setDetectShadows(False),
        "clear()": lambda: sub.clear(),
        "apply after clear": lambda: sub.apply(colour),
    }
    return {name: _outcome(call) for name, call in forms.items()}


def test_each_method_accepts_what_mog2_accepts():
    theirs = _accepted_forms(cv2.createBackgroundSubtractorMOG2())
    ours = _accepted_forms(bgsub.cv.createBackgroundSubtractorGMM())
    assert ours == theirs
    assert theirs["apply(list)"] == "raises" and theirs["setHistory(2.5)"] == "raises"
    assert theirs["apply(frame, fgmask=buffer) is buffer"] == "bool"


def test_getters_return_opencvs_defaults():
    theirs = cv2.createBackgroundSubtractorMOG2()
    ours = bgsub.cv.createBackgroundSubtractorGMM()
    for name in bgsub.cv.MOG2_DEFAULTS:
        getter = "get" + name[0].upper() + name[1:].replace("mixtures", "Mixtures")
        expected = getattr(theirs, getter)()
        assert getattr(ours, getter)() == pytest.approx(expected, rel=1e-6), name
        assert type(getattr(ours, getter)()) is type(expected), name


def _trained(sub, background, frames=150):
    for _ in range(frames):
        sub.apply(background, learningRate=0.05)
    return sub


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("var_threshold", [10.0, 17.0, 30.0])  # no C d^2 / 4 on a bound
def test_var_threshold_is_a_squared_distance_summed_over_channels(channels, var_threshold):
    # A still background (variance at varMin = 4) and a frame brighter by d levels in every
    # channel of the top rows: the squared distance is C d^2 / varMin, foreground above
    # varThreshold, for MOG2 and bgsub alike.
    rng = np.random.default_rng(1)
    shape = (20, 20, channels) if channels > 1 else (20, 20)
    background = rng.integers(60, 190, shape, dtype=np.uint8)
    d = np.arange(20)[None, :]  # one offset per column
    frame = background.astype(int)
    frame[:6] += d[..., None] if channels > 1 else d
    frame = frame.astype(np.uint8)
    expected = channels * d[0] ** 2 / 4.0 > var_threshold
    for sub in (cv2.createBackgroundSubtractorMOG2(varThreshold=var_threshold),
                bgsub.cv.createBackgroundSubtractorGMM(varThreshold=var_threshold,
                                                       exposure_compensation=False),
                bgsub.cv.createBackgroundSubtractorGaussian(varThreshold=var_threshold)):
        mask = _trained(sub, background).apply(frame, learningRate=0)
        np.testing.assert_array_equal(mask[:6] == 255, np.broadcast_to(expected, (6, 20)),
                                      err_msg=type(sub).__name__)
        assert not mask[6:].any()


# -- shadows -------------------------------------------------------------------------------------

def mog2_shadow_decisions(x, weights, variances, means, counts, tb, tg_ratio, tau):
    """MOG2's per-pixel decision in float64, from the definitions (Zivkovic 2004 and Prati et
    al.'s brightness/chromaticity test): 0 background, 127 shadow, 255 foreground.

    ``x`` (N, C) float; the mixture (N, K), (N, K), (N, K, C), (N,) in rank order; ``tb`` the
    squared-distance bound, ``tg_ratio`` the background ratio T_B, ``tau`` the shadow threshold.
    A component is part of the background while the weights ranked before it sum below T_B.
    """
    out = np.full(len(x), 255, dtype=np.uint8)
    for i in range(len(x)):
        before = 0.0
        for m in range(counts[i]):
            if before < tg_ratio and ((x[i] - means[i, m]) ** 2).sum() < tb * variances[i, m]:
                out[i] = 0
                break
            before += weights[i, m]
        if out[i] == 0:
            continue
        before = 0.0
        for m in range(counts[i]):
            mu = means[i, m].astype(np.float64)
            a = float(x[i] @ mu) / float(mu @ mu)
            if tau <= a <= 1 and ((x[i] - a * mu) ** 2).sum() < tb * variances[i, m] * a * a:
                out[i] = 127
                break
            before += weights[i, m]
            if before > tg_ratio:
                break
    return out


def _shadow_scene(seed=2):
    """A textured colour background where a third of the pixels alternate between two
    colours (two background components), and a test frame whose top rows are the background
    darkened by a ratio that falls from 1.0 to 0.1 across the columns, with a coloured object
    (channels swapped) below them."""
    rng = np.random.default_rng(seed)
    base = rng.integers(50, 230, (24, 40, 3)).astype(np.float64)
    other = rng.integers(50, 230, (24, 40, 3)).astype(np.float64)
    alternates = rng.random((24, 40)) < 0.3
    training = []
    for t in range(200):
        frame = np.where((alternates & (t % 3 == 0))[..., None], other, base)
        training.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    test = training[1].astype(np.float64)
    ratio = np.linspace(1.0, 0.1, 40)
    test[:8] = base[:8] * ratio[None, :, None]
    test[8:11, 5:35] = base[8:11, 5:35, ::-1]
    return training, np.clip(np.rint(test), 0, 255).astype(np.uint8), ratio


def _train(sub, frames):
    for frame in frames:
        sub.apply(frame, learningRate=0.02)
    return sub


def test_mixture_shadow_test_matches_a_float64_statement_of_mog2s():
    training, test, _ = _shadow_scene()
    sub = _train(bgsub.cv.createBackgroundSubtractorGMM(exposure_compensation=False,
                                                        jitter_compensation=False,
                                                        ghost_frames=0), training)
    mask = sub.apply(test, learningRate=0)  # frozen: the state tested is the state read below
    weights, variances, means, counts = sub.model.components()
    x = test.reshape(-1, 3).astype(np.float64)
    expected = mog2_shadow_decisions(x, weights, variances, means, counts, 16.0, 0.9, 0.5)
    assert {0, 127, 255} <= set(np.unique(expected))
    np.testing.assert_array_equal(mask.reshape(-1), expected)


def gaussian_shadow_decisions(x, means, variances, tb, tau):
    """The single Gaussian's decision in float64: MOG2's tests with one variance per channel."""
    out = np.full(len(x), 255, dtype=np.uint8)
    for i in range(len(x)):
        mu, var = means[i].astype(np.float64), variances[i].astype(np.float64)
        if (((x[i] - mu) ** 2) / var).sum() <= tb:
            out[i] = 0
            continue
        a = float(x[i] @ mu) / float(mu @ mu)
        if tau <= a <= 1 and (((x[i] - a * mu) ** 2) / var).sum() < tb * a * a:
            out[i] = 127
    return out


def test_gaussian_shadow_test_matches_a_float64_statement():
    training, test, _ = _shadow_scene()
    sub = _train(bgsub.cv.createBackgroundSubtractorGaussian(), training[1:2] * 100)
    mask = sub.apply(test, learningRate=0)
    means, variances = sub.model.components()
    expected = gaussian_shadow_decisions(test.reshape(-1, 3).astype(np.float64), means, variances,
                                         16.0, 0.5)
    assert {0, 127, 255} <= set(np.unique(expected))
    np.testing.assert_array_equal(mask.reshape(-1), expected)


@pytest.mark.parametrize("make", [bgsub.cv.createBackgroundSubtractorGMM,
                                  bgsub.cv.createBackgroundSubtractorGaussian])
def test_shadow_decisions_agree_with_opencvs_mog2(make):
    training, test, ratio = _shadow_scene()
    if make is bgsub.cv.createBackgroundSubtractorGaussian:
        training = training[1:2] * 200  # one colour per pixel: the single Gaussian's scene
    theirs = _train(cv2.createBackgroundSubtractorMOG2(), training).apply(test, learningRate=0)
    ours = _train(make(), training).apply(test, learningRate=0)
    # Away from the decision boundaries (tau = 0.5; the background test near a ratio of 1)
    # the labels agree pixel for pixel; the darkened rows hold all three labels.
    clear = (np.abs(ratio - 0.5) > 0.03) & (ratio < 0.9)
    np.testing.assert_array_equal(ours[:8, clear], theirs[:8, clear])
    assert (ours[:8, (ratio > 0.55) & (ratio < 0.85)] == 127).mean() > 0.9
    assert (ours[:8, ratio < 0.45] == 255).all()
    assert (ours[8:11, 5:35] == 255).mean() > 0.9  # a change of colour is no shadow
    np.testing.assert_array_equal(ours[8:], theirs[8:])
    assert not ours[11:].any()


def test_detect_shadows_off_and_shadow_value():
    training, test, ratio = _shadow_scene()
    sub = _train(bgsub.cv.createBackgroundSubtractorGMM(detectShadows=False), training)
    assert not (sub.apply(test, learningRate=0) == 127).any()
    sub.setDetectShadows(True)
    sub.setShadowValue(60)
    mask = sub.apply(test, learningRate=0)
    assert (mask[:8, (ratio > 0.55) & (ratio < 0.85)] == 60).mean() > 0.9 and not (mask == 127).any()


def test_setters_keep_the_learned_background_and_refuse_bad_values():
    training, test, _ = _shadow_scene()
    sub = _train(bgsub.cv.createBackgroundSubtractorGMM(), training)
    before = sub.getBackgroundImage()
    sub.setVarThreshold(64.0)  # 8 sigmas: the darkest columns are still foreground
    assert sub.model.params.threshold == pytest.approx(8.0)
    np.testing.assert_array_equal(sub.getBackgroundImage(), before)
    with pytest.raises(ValueError, match="varThreshold"):
        sub.setVarThreshold(-1.0)
    assert sub.getVarThreshold() == 64.0
    with pytest.raises(ValueError, match="var_min"):
        sub.setVarMin(100.0)  # above varMax
    sub.setNMixtures(3)  # another layout: relearned from the next frame
    assert sub.getBackgroundImage() is None
    sub.apply(test)
    assert sub.model.params.k == 3
    gray_sub = bgsub.cv.createBackgroundSubtractorGMM(varThreshold=12.0)
    gray_sub.apply(test[:, :, 0])
    assert gray_sub.model.params.threshold == pytest.approx(6.0)  # sqrt(3 * 12 / 1)
