"""Adaptive Gaussian mixture per pixel (Stauffer-Grimson with Zivkovic's adaptive K)."""

import numpy as np

from bgsub.errors import ConfigError
from bgsub.models import em, kernels, scores, stripes
from bgsub.models.base import BackgroundModel
from bgsub.models.params import MixtureParams


class MixtureComponents:
    """What the mixture models share: their state, ``self.mixture`` (N, K, 2 + C: each pixel's
    components in rank order, whatever the memory layout behind it) and ``self.n_components``,
    and the one mixture kernel that updates it (with the feedback compiled in or out)."""

    feedback = False  # whether the kernel is the feedback mixture's
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
        self._scores = None  # a new state has no score map until a frame is compared with it

    def _feedback_state(self):
        """The kernel's ``fb`` argument: the feedback's state and parameters, or none."""
        return kernels.NO_FEEDBACK

    @property
    def scores(self):
        """Each pixel's Mahalanobis distance in sigmas to its nearest background component, for
        the last frame against the state before it was learned (H x W float32; see
        :mod:`bgsub.models.scores`). None unless ``compute_scores`` was set before that frame."""
        if self._scores is None or self.shape is None:
            return None
        return self._scores.reshape(self.shape[:2])

    def _update(self, pixels, alpha, labels):
        p = self.params
        if self.compute_scores:
            if self._scores is None or len(self._scores) != len(pixels):
                self._scores = np.empty(len(pixels), dtype=np.float32)
            scores.background_distance(pixels, self._planes, self.n_components,
                                       float(p.background_ratio), self._scores)
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
                alpha, p.threshold**2, p.match_threshold**2, p.background_ratio,
                p.complexity_prior, p.var_init, p.var_min, p.var_max,
                # One channel has no chromaticity: every darkening would pass as a shadow.
                p.shadow_tau if pixels.shape[1] > 1 else 0.0,
            )),
            self._feedback_state(),
        )

    def _initialise(self, pixels):
        """One component per pixel: weight 1, the initial variance, the pixel as its mean."""
        self.mixture[:, 0, kernels.WEIGHT] = 1.0
        self.mixture[:, 0, kernels.VARIANCE] = self.params.var_init
        self.mixture[:, 0, kernels.MEAN :] = pixels
        self.n_components[:] = 1

    def _background(self, out):
        ratio = self.params.background_ratio
        kernels.mixture_background(self._planes, self.n_components, ratio, out)

    def fit(self, frames, iterations=em.ITERATIONS, tolerance=em.TOLERANCE,
            keep_ratio=em.KEEP_RATIO, progress=None):
        """Learn each pixel's mixture from ``frames`` by expectation-maximisation
        (:mod:`bgsub.models.em`), replacing anything learned before; returns ``self``.

        ``frames`` is an iterable of uint8 frames of one shape (gray or colour; or an
        (N, H, W[, C]) array). Each pixel gets up to ``k`` components (those closer than
        ``match_threshold`` merged), ranked by ``w / sigma``, of which it keeps the clip's
        background: the components whose higher-ranked weights sum below ``keep_ratio``. With
        0.6, a person who stood still over a pixel for up to 40% of the clip (the ground seen
        the rest of the time) is dropped, and the online model reports them as foreground,
        while swaying leaves whose main colour is seen less than 60% of the time keep both
        colours. The online test (``background_ratio``, 0.9) would call anything above 10%
        background.

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
        channels = self._check_frame(stack[0]).shape[1]
        self.reset()
        self.shape = shape
        self._allocate(shape[0] * shape[1], channels)
        self._labels = np.zeros(shape[:2], dtype=np.uint8)
        rows = [round(b * shape[0] / em.BANDS) for b in range(em.BANDS + 1)]
        for top, bottom in zip(rows, rows[1:]):
            self._fit_band(stack, top, bottom, iterations, tolerance, keep_ratio)
            if progress is not None:
                progress(bottom / shape[0])
        self.frames_seen = len(stack)
        return self

    def _fit_band(self, stack, top, bottom, iterations, tolerance, keep_ratio):
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
        em.to_mixture(weights, means, variances, 0.5 / n_frames, keep_ratio, p.match_threshold**2,
                      p.var_min, p.var_max, self._planes[:, pixels], self.n_components[pixels])

    def components(self):
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

    def _state_arrays(self):
        return {"mixture": self.mixture, "n_components": self.n_components}

    def bytes_per_pixel(self, n_channels=3):
        """Bytes of learned state per pixel for ``n_channels`` channels."""
        return self.params.k * (2 + n_channels) * 4 + 1
