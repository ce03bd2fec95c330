"""Adaptive Gaussian mixture per pixel (Stauffer-Grimson with Zivkovic's adaptive K)."""

import functools
from typing import Callable, Iterable

import cv2
import numpy as np

from bgsub.errors import ConfigError
from bgsub.models import em, kernels, scores, stripes
from bgsub.models.base import REFERENCE_CHANNELS, BackgroundModel
from bgsub.models.params import MixtureParams


GAIN_SAMPLES = 4096  # pixels sampled to estimate the exposure gain: its median to ~1/64 of a level
GAIN_MIN_SAMPLES = 64  # fewer usable background samples than this: the frame is left as it is
SHIFT_WIDTH = 160  # pixels: width of the reduced images whose phase correlation finds the shift
MAX_SHIFT = 1 / 16  # of the frame's smaller side: camera shake, not a pan
NO_STILL = np.zeros(0, dtype=np.uint8)  # the kernel's still counts when ghosts are not absorbed
SHAKE_FRAMES = 50  # shake averages out over this many frames around the camera's rest position


@functools.cache
def _levels(channels):
    """Every level, 0 to 255, in each of ``channels`` channels: a 256 x 1 image."""
    return np.repeat(np.arange(256, dtype=np.uint8)[:, None], channels, axis=1).reshape(
        256, 1, channels)


def translate(image, dx, dy, out, fill=None):
    """``image`` moved by whole pixels into ``out`` (same shape, not overlapping it):
    ``out[y, x] = image[y - dy, x - dx]``; where that falls outside, ``fill``, or with no ``fill``
    the nearest edge pixel. What ``cv2.warpAffine`` gives for the translation with
    ``INTER_NEAREST`` (and a constant or replicated border), by slices instead of a coordinate
    per pixel: a 1080p frame in an eighth of the time."""
    height, width = image.shape[:2]
    keep = 0 if fill is not None else 1  # moved further, a replicated edge stays the same
    dx, dy = min(max(dx, keep - width), width - keep), min(max(dy, keep - height), height - keep)
    top, bottom, left, right = max(dy, 0), height + min(dy, 0), max(dx, 0), width + min(dx, 0)
    out[top:bottom, left:right] = image[top - dy : bottom - dy, left - dx : right - dx]
    if fill is not None:
        out[:top], out[bottom:], out[:, :left], out[:, right:] = fill, fill, fill, fill
    else:  # the edges repeat outwards, rows then columns
        out[:top], out[bottom:] = out[top], out[bottom - 1]
        out[:, :left], out[:, right:] = out[:, left : left + 1], out[:, right - 1 : right]
    return out


@functools.cache
def _hanning_window(shape):
    """The phase correlation's window for reduced images of ``shape``, made once per size."""
    return cv2.createHanningWindow(shape[::-1], cv2.CV_32F)


class MixtureComponents(BackgroundModel):
    """What the mixture models share: their state, ``self.mixture`` (N, K, 2 + C: each pixel's
    components in rank order, whatever the memory layout behind it) and ``self.n_components``,
    the one mixture kernel that updates it (with the feedback compiled in or out), and the
    stages around it: exposure and shake compensation before, ghost absorption after."""

    params: MixtureParams
    feedback = False  # whether the kernel is the feedback mixture's
    exposure_gain = None  # per channel: the last frame's gain (1 where none was measured)
    shift = (0, 0)  # the last frame's camera shift (dx, dy) in pixels, undone before matching
    compute_scores = False  # set to have :attr:`scores` computed for every frame
    _scores = None

    def _allocate(self, n_pixels, n_channels):
        # Memory is component-major, planes[m, i] = (weight, variance, mean_0 .. mean_{C-1}) of
        # rank m (live components ranked first), so a pixel with few live components touches few
        # planes. ``mixture`` is the same memory seen per pixel, (N, K, 2 + C): the layout that
        # checkpoints and callers use, independent of the kernel's.
        self._planes = np.zeros((self.params.k, n_pixels, 2 + n_channels), dtype=np.float32)
        self.mixture = self._planes.transpose(1, 0, 2)
        self.n_components = np.zeros(n_pixels, dtype=np.uint8)
        self._kernel = kernels.mixture_kernel(n_channels, feedback=self.feedback)
        # Ghost absorption: the frames each pixel has been foreground and still.
        self._still = np.zeros(n_pixels, dtype=np.uint8)
        # The shifts of the last SHAKE_FRAMES frames, a ring indexed by the frame count.
        self._recent_shifts = np.zeros((SHAKE_FRAMES, 2), dtype=np.int32)
        self.exposure_gain = np.ones(n_channels, dtype=np.float32)
        self._scores = None  # a new state has no score map until a frame is compared with it

    def _feedback_state(self, alpha):
        """The kernel's ``fb`` argument for a frame learned at ``alpha``: the feedback's state
        and parameters, or none."""
        return kernels.NO_FEEDBACK

    @property
    def scores(self) -> np.ndarray | None:
        """Each pixel's Mahalanobis distance in sigmas to its nearest background component, for
        the last frame against the state before it was learned (H x W float32; see
        :mod:`bgsub.models.scores`). None unless ``compute_scores`` was set before that frame."""
        if self._scores is None or self.shape is None:
            return None
        return self._scores.reshape(self.shape[:2])

    def _update(self, pixels, alpha, labels):
        p = self.params
        channels = pixels.shape[1]
        threshold2 = self.distance2_bound(p.threshold, channels)
        if p.exposure_compensation:
            pixels = self._compensate_exposure(pixels, labels)
        self.shift = (0, 0)
        if p.jitter_compensation:
            pixels = self._compensate_shift(pixels)
        if self.compute_scores:  # of the pixels the kernel is about to test
            if self._scores is None:  # a new state's (see _allocate)
                self._scores = np.empty(len(pixels), dtype=np.float32)
            scores.background_distance(pixels, self._planes, self.n_components,
                                       float(p.background_ratio), REFERENCE_CHANNELS / channels,
                                       self._scores)
        else:
            self._scores = None
        stripes.run(
            self._kernel,
            len(pixels),
            pixels.reshape(-1),
            self._planes.reshape(-1),
            self.n_components,
            labels,
            # floats throughout: an integer from a config file would compile another signature
            *(float(v) for v in (
                alpha, threshold2, self.distance2_bound(p.match_threshold, channels),
                p.background_ratio,
                p.complexity_prior, p.var_init, p.var_min, p.var_max,
                # One channel has no chromaticity: every darkening would pass as a shadow.
                p.shadow_tau if channels > 1 else 0.0,
            )),
            self._still if p.ghost_frames else NO_STILL,
            self.distance2_bound(p.still_threshold, channels) * p.var_min,
            self._feedback_state(alpha),
        )
        if p.ghost_frames:
            stripes.run(
                kernels.ghost_absorb, len(pixels), pixels, labels, self._still, self._planes,
                self.n_components, self.shape[1], threshold2, float(p.background_ratio),
                float(p.var_init), p.ghost_frames,
            )
        self._learned(labels)
        if self.shift != (0, 0):
            self._shift_labels(labels)

    def _state_arrays(self):
        return {"mixture": self.mixture, "n_components": self.n_components, **self._stage_state()}

    def _stage_state(self):
        """The state of the stages around the kernel, for checkpoints (optional in them: a
        checkpoint without it resumes with the last labels background and the still counts at
        zero). The recent shifts are not kept: after a restart shake is measured afresh."""
        return {"labels": self._labels.reshape(-1), "still": self._still}

    def optional_state(self):
        return tuple(self._stage_state())

    def _learned(self, labels):
        """Called with the frame's labels, in the model's own coordinates, after learning."""

    def _shift_labels(self, labels):
        """Move ``labels`` from the model's coordinates to the frame's, by :attr:`shift`;
        where the frame shows what the model never saw, they are background."""
        sx, sy = self.shift
        image = labels.reshape(self.shape[:2])
        translate(image.copy(), sx, sy, image, fill=kernels.BACKGROUND)

    def _compensate_exposure(self, pixels, previous_labels):
        """``pixels`` divided by the exposure gain, per channel: the median of ``x / mu`` (``mu``
        the top component's mean) over a sample of the pixels that were background in the
        previous frame and are neither black nor saturated. Stores the gain in
        :attr:`exposure_gain`; returns ``pixels`` itself when no value would move by half a level.
        """
        n_pixels, channels = pixels.shape
        stride = max(n_pixels // GAIN_SAMPLES, 1)
        samples = -(-n_pixels // stride)
        ratios = np.empty((channels, samples), np.float32)
        usable = np.empty((channels, samples), np.bool_)
        kernels.gain_samples(pixels, self._planes[0], previous_labels, stride, ratios, usable)
        gain = self.exposure_gain
        for c, (ratio, ok) in enumerate(zip(ratios, usable)):
            gain[c] = np.median(ratio[ok]) if ok.sum() >= GAIN_MIN_SAMPLES else 1.0
        if np.all(np.abs(1.0 / gain - 1.0) * 255 < 0.5):
            return pixels
        scale = tuple(float(v) for v in 1.0 / gain) + (0.0,) * (4 - channels)
        # Each channel's 256 levels scaled as OpenCV scales an image; the frame is then looked up
        # in them (the same values as scaling the frame, at less than half the cost).
        table = cv2.multiply(_levels(channels), scale).reshape(256, channels)
        compensated = np.empty_like(pixels)
        stripes.run(kernels.level_kernel(channels), n_pixels, pixels.reshape(-1),
                    np.ascontiguousarray(table.T).reshape(-1), compensated.reshape(-1))
        return compensated

    def _compensate_shift(self, pixels):
        """``pixels`` moved back by the camera's shake against the top components' means.

        The shift comes from the phase correlation of reduced gray images, rounded to whole
        pixels; it counts only when it explains the frame better than no shift (fewer pixels of
        a grid beyond the threshold of their top component). Shake moves the camera back and
        forth around a rest position; when the mean shift of the last ``SHAKE_FRAMES`` frames is
        a pixel or more, that rest position is not where the model learned the scene (the first
        frame caught the camera mid-shake, or it was bumped, or it pans), and the learned state
        moves by that mean (:meth:`_move_state`) before the rest is undone on the frame. Stores
        the shift undone in :attr:`shift` as ``(dx, dy)``; returns ``pixels`` itself when there
        is none.
        """
        shift = np.array(self._estimate_shift(pixels), dtype=np.int32)
        self._recent_shifts[self.frames_seen % SHAKE_FRAMES] = shift
        mean = self._recent_shifts.mean(axis=0)
        if np.abs(mean).max() >= 1:  # a pixel or more: not the jitter of a mean of zero
            rest = np.rint(mean).astype(np.int32)
            self._move_state(*rest)
            self._recent_shifts -= rest
            shift -= rest
        if not shift.any():
            return pixels
        sx, sy = (int(v) for v in shift)
        self.shift = (sx, sy)
        image = pixels.reshape(*self.shape[:2], -1)
        return translate(image, -sx, -sy, np.empty_like(image)).reshape(pixels.shape)

    def _move_state(self, dx, dy):
        """Move every per-pixel state array by ``(dx, dy)`` pixels, as the view moved: what
        enters at a border takes the state of the edge it enters from (a camera at rest
        somewhere new). Each rank's plane and each other array moves as an image, by slices."""
        height, width = self.shape[:2]
        images = [plane.reshape(height, width, -1) for plane in self._planes]
        # The other arrays; the planes' per-pixel view (``mixture``) moved with them above.
        images += [array.reshape(height, width, -1) for array in self._state_arrays().values()
                   if not np.may_share_memory(array, self._planes)]
        for image in images:
            translate(image.copy(), dx, dy, image)

    def _estimate_shift(self, pixels):
        """The frame's shift ``(dx, dy)`` against the top components' means, or ``(0, 0)``."""
        height, width = self.shape[:2]
        if MAX_SHIFT * min(height, width) < 1:
            return 0, 0  # too small a frame to tell shake from noise
        channels = pixels.shape[1]
        # Views of the top components (reshaping the sliced plane would copy all of it).
        top = self._planes[0].reshape(height, width, -1)
        means, variances = top[:, :, kernels.MEAN:], top[:, :, kernels.VARIANCE]
        image = pixels.reshape(height, width, channels)
        f = max(width // SHIFT_WIDTH, 1)
        reduced = (-(-height // f), -(-width // f))  # the size of [::f, ::f]
        reduced_means, reduced_image = np.empty((2, *reduced), dtype=np.float32)
        kernels.grid_mean(means, f, reduced_means)
        kernels.grid_mean(image, f, reduced_image)
        (dx, dy), _ = cv2.phaseCorrelate(reduced_means, reduced_image, _hanning_window(reduced))
        sx, sy = round(dx * f), round(dy * f)
        m = max(abs(sx), abs(sy))
        if m == 0 or m > MAX_SHIFT * min(height, width):
            return 0, 0
        # frame(y, x) ~ means(y - sy, x - sx): count the misfits on a grid inside both
        bound = self.distance2_bound(self.params.threshold, channels)
        moved, still = (kernels.grid_misfits(image, means, variances, m, f, y, x, bound)
                        for y, x in ((sy, sx), (0, 0)))
        return (sx, sy) if moved < still else (0, 0)

    def _initialise(self, pixels):
        """One component per pixel: weight 1, the initial variance, the pixel as its mean."""
        self.mixture[:, 0, kernels.WEIGHT] = 1.0
        self.mixture[:, 0, kernels.VARIANCE] = self.params.var_init
        self.mixture[:, 0, kernels.MEAN :] = pixels
        self.n_components[:] = 1
        self._still[:] = 0
        self._recent_shifts[...] = 0
        self.exposure_gain[:] = 1.0

    def _background(self, out):
        ratio = self.params.background_ratio
        kernels.mixture_background(self._planes, self.n_components, ratio, out)

    def bytes_per_pixel(self, n_channels: int = 3) -> int:
        """Bytes of learned state per pixel for ``n_channels`` channels: the components, their
        count and the still count."""
        return self.params.k * (2 + n_channels) * 4 + 1 + 1

    def fit(self, frames: Iterable[np.ndarray], iterations: int = em.ITERATIONS,
            tolerance: float = em.TOLERANCE, keep_ratio: float = em.KEEP_RATIO,
            recurrence: float = em.RECURRENCE,
            progress: Callable[[float], None] | None = None) -> "MixtureComponents":
        """Learn each pixel's mixture from ``frames`` by expectation-maximisation
        (:mod:`bgsub.models.em`), replacing anything learned before; returns ``self``.

        ``frames`` is an iterable of uint8 frames of one shape (gray or colour; or an
        (N, H, W[, C]) array). Each pixel gets up to ``k`` components (those closer than
        ``match_threshold`` merged), ranked by ``w / sigma``, of which it keeps the clip's
        background: the first component, and each next one while the weights ranked above sum
        below ``keep_ratio``, if the pixel returned to it at least ``recurrence`` times per frame
        of the clip (N / 10 visits by default). Swaying leaves whose colours alternate keep both;
        a person who stood still over the pixel is one visit: dropped (unless they rank first,
        having covered it for most of the clip), and the online model reports them as
        foreground. Of a pixel's modes, ``keep_ratio`` (0.6) keeps
        at most those that cover 60% of the clip from the top of the ranking.

        :meth:`apply` then continues online from the fit with ``frames_seen`` = N, so the next
        learning rate is ``1 / min(N + 1, history)``: the fit weighs as much as N frames of
        online learning would, and one new frame moves it no more than the (N + 1)-th sample
        moves a running average.
        ``progress(fraction)``, if given, is called as bands of rows are fitted.
        """
        stack = em.stack_frames(frames)
        if len(stack) == 0:
            raise ConfigError("fit: no frames to learn from")
        shape = stack.shape[1:]
        self._check_frame(stack[0])
        self.reset()
        self.shape = shape
        self._allocate_state(shape)
        visits = em.min_visits(len(stack), recurrence)
        rows = [round(b * shape[0] / em.BANDS) for b in range(em.BANDS + 1)]
        for top, bottom in zip(rows, rows[1:]):
            self._fit_band(stack, top, bottom, iterations, tolerance, keep_ratio, visits)
            if progress is not None:
                progress(bottom / shape[0])
        self.frames_seen = len(stack)
        return self

    def _fit_band(self, stack, top, bottom, iterations, tolerance, keep_ratio, min_visits):
        """EM on rows ``top .. bottom - 1`` of the frames, into the same pixels' state."""
        if top == bottom:
            return
        n_frames, width = len(stack), stack.shape[2]
        channels = self._planes.shape[2] - kernels.MEAN
        band = np.ascontiguousarray(stack[:, top:bottom]).reshape(n_frames, -1, channels)
        p = self.params
        weights, means, variances, _, _ = em.fit_pixels(band, p.k, p.var_min, p.var_max,
                                                        iterations, tolerance)
        pixels = slice(top * width, bottom * width)
        # Less than half a frame's worth of responsibility is no component.
        merge2 = self.distance2_bound(p.match_threshold, channels)
        em.to_mixture(band, weights, means, variances, 0.5 / n_frames, keep_ratio, min_visits,
                      merge2, p.var_min, p.var_max, self._planes[:, pixels],
                      self.n_components[pixels])

    def components(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The learned mixture in rank order, independent of the memory layout.

        Returns ``(weights, variances, means, counts)`` with shapes (N, K), (N, K), (N, K, C) and
        (N,) for the N pixels in row-major order; slots at and beyond ``counts[i]`` are unused.
        """
        m = self.mixture
        return (
            m[:, :, kernels.WEIGHT].copy(),
            m[:, :, kernels.VARIANCE].copy(),
            m[:, :, kernels.MEAN :].copy(),
            self.n_components.astype(np.int64),
        )


class GaussianMixture(MixtureComponents, BackgroundModel):
    """K weighted Gaussian components per pixel, updated online every frame.

    Covariance is spherical (one variance per component for all channels): it keeps a colour
    component at C + 2 floats (K = 5 colour: 101 bytes per pixel, as OpenCV's MOG2), and the
    Mahalanobis test is one comparison. Channel noise of a camera is close to equal across
    B, G and R, so a diagonal covariance buys little mask quality for 2 more floats per component.
    Parameters: see :class:`~bgsub.models.params.MixtureParams`.
    """

    name = "gmm"
    params_class = MixtureParams

