"""Single Gaussian per pixel and channel: the running-average model."""

import numpy as np

from bgsub.models import kernels
from bgsub.models.base import BackgroundModel
from bgsub.models.params import GaussianParams


class SingleGaussian(BackgroundModel):
    """One Gaussian per pixel and channel with a running mean and variance (diagonal covariance).

    Fast and small (8 bytes per pixel and channel), right for static scenes; a background that
    alternates between colours (leaves, water) needs :class:`~bgsub.GaussianMixture`.
    Parameters: see :class:`~bgsub.models.params.GaussianParams`.
    """

    name = "gaussian"
    params_class = GaussianParams

    def _allocate(self, n_pixels, n_channels):
        # state[i, 0] = mean, state[i, 1] = variance, per channel.
        self.state = np.zeros((n_pixels, 2, n_channels), dtype=np.float32)

    def _initialise(self, pixels):
        self.state[:, 0, :] = pixels
        self.state[:, 1, :] = self.params.var_init

    def _update(self, pixels, alpha, labels):
        p = self.params
        kernels.gaussian_apply(
            pixels, self.state, labels, alpha, p.threshold**2, p.var_min, p.var_max
        )

    def _background(self, out):
        out[...] = np.clip(np.rint(self.state[:, 0, :]), 0, 255)

    def _state_arrays(self):
        return {"state": self.state}

    def components(self):
        """``(means, variances)`` per pixel and channel, shapes (N, C), in row-major pixel order."""
        return self.state[:, 0, :].copy(), self.state[:, 1, :].copy()

    def bytes_per_pixel(self, n_channels=3):
        """Bytes of learned state per pixel for ``n_channels`` channels."""
        return 2 * n_channels * 4
