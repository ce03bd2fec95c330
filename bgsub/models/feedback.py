"""Gaussian mixture with per-pixel feedback: the default model."""

import cv2
import numpy as np

from bgsub.models.base import BackgroundModel
from bgsub.models.mixture import MixtureComponents
from bgsub.models.params import FeedbackParams


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def foreground_rate_factor(alpha: float, stationary_frames: int, background_ratio: float) -> float:
    """The factor of ``alpha`` at which foreground pixels learn (the kernel's ``foreground_rate``):
    the rate ``1 - background_ratio ** (1 / stationary_frames)`` over ``alpha``; 0 when either
    is 0 (a frozen model stays frozen; ``stationary_frames`` 0 never absorbs)."""
    if alpha <= 0 or stationary_frames == 0:
        return 0.0
    return (1.0 - background_ratio ** (1.0 / stationary_frames)) / alpha


class FeedbackMixture(MixtureComponents, BackgroundModel):
    """The adaptive Gaussian mixture of :class:`~bgsub.GaussianMixture` plus per-pixel feedback
    (after SuBSENSE, St-Charles et al. 2015, on the mixture's own quantities):

    * each pixel's threshold rises with how much its background moves (swaying leaves and their
      shadows, water), measured as the running distance to its nearest background component in
      quiet frames, and stays low on still background, where camouflaged objects are then found;
    * selective update: pixels that were foreground learn at a rate that absorbs a stopped object
      in ``stationary_frames`` frames, and keeps traffic out of the model.

    State per pixel: K components of (weight, variance, C means), their count, D (4 bytes) and
    the last label.
    Parameters: see :class:`~bgsub.models.params.FeedbackParams`.
    """

    name = "feedback"
    params_class = FeedbackParams
    params: FeedbackParams
    feedback = True

    def _allocate(self, n_pixels, n_channels):
        super()._allocate(n_pixels, n_channels)
        self.dynamics = np.zeros(n_pixels, dtype=np.float32)
        # The last frame's labels: the feedback reads them around each pixel, so they are state
        # (checkpoints keep them) and a separate copy from the labels being written.
        self._previous = np.zeros(n_pixels, dtype=np.uint8)

    def _initialise(self, pixels):
        super()._initialise(pixels)
        self.dynamics[:] = 0.0

    def _feedback_state(self, alpha):
        p = self.params
        # A pixel is quiet when neither it nor a 4-neighbour was foreground: where the previous
        # labels dilated by a cross (a max filter: foreground is the largest label) are not.
        height, width = self.shape[:2]
        busy = cv2.dilate(self._previous.reshape(height, width), _CROSS).reshape(-1)
        return (self.dynamics, self._previous, busy, width,
                foreground_rate_factor(alpha, p.stationary_frames, p.background_ratio),
                float(p.dynamics_floor), float(p.dynamics_gain), float(p.max_threshold_scale),
                float(p.dynamics_rate))

    def _learned(self, labels):
        np.copyto(self._previous, labels)

    def _state_arrays(self):
        return {**super()._state_arrays(), "dynamics": self.dynamics,
                "previous_labels": self._previous}

    def threshold_scale(self) -> np.ndarray | None:
        """Each pixel's current threshold factor (H x W float32, 1 on still background, up to
        ``max_threshold_scale`` where the background moves); None before the first frame."""
        if self.shape is None:
            return None
        p = self.params
        excess = np.maximum(self.dynamics - np.float32(p.dynamics_floor), np.float32(0.0))
        scale = np.minimum(np.float32(1.0) + np.float32(p.dynamics_gain) * excess,
                           np.float32(p.max_threshold_scale))
        return scale.reshape(self.shape[:2])

    def bytes_per_pixel(self, n_channels: int = 3) -> int:
        """Bytes of learned state per pixel for ``n_channels`` channels."""
        return super().bytes_per_pixel(n_channels) + 4 + 1
