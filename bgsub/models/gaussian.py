"""Single Gaussian per pixel and channel: the running-average model."""

import numpy as np

from bgsub.models import kernels, stripes
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
        # Memory is planar, planes[0, c] = means and planes[1, c] = variances of channel c for all
        # pixels: contiguous streams that the kernel's pixel loop vectorises over. ``state`` is the
        # same memory seen per pixel, state[i, 0] = mean and state[i, 1] = variance per channel:
        # the layout that checkpoints and callers use.
        self._planes = np.zeros((2, n_channels, n_pixels), dtype=np.float32)
        self.state = self._planes.transpose(2, 0, 1)
        self._kernel = kernels.gaussian_kernel(n_channels)

    def _initialise(self, pixels):
        self.state[:, 0, :] = pixels
        self.state[:, 1, :] = self.params.var_init

    def _update(self, pixels, alpha, labels):
        p = self.params
        stripes.run(
            self._kernel,
            len(pixels),
            pixels.reshape(-1),
            self._planes.reshape(-1),
            labels,
            alpha,
            self.distance2_bound(p.threshold, pixels.shape[1]),
            p.var_min,
            p.var_max,
        )

    def _background(self, out):
        out[...] = np.clip(np.rint(self.state[:, 0, :]), 0, 255)

    def _state_arrays(self):
        return {"state": self.state}

    def components(self) -> tuple[np.ndarray, np.ndarray]:
        """``(means, variances)`` per pixel and channel, shapes (N, C), in row-major pixel order."""
        return self.state[:, 0, :].copy(), self.state[:, 1, :].copy()

    def bytes_per_pixel(self, n_channels: int = 3) -> int:
        """Bytes of learned state per pixel for ``n_channels`` channels."""
        return 2 * n_channels * 4
