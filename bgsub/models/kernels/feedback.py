"""The feedback mixture's additions to the mixture kernel (the default model)."""

import numpy as np

from bgsub.models import numba_cache

numba_cache.configure()

from numba import njit  # noqa: E402  (the cache directory is chosen before numba loads)

from bgsub.models.kernels.layout import FOREGROUND  # noqa: E402


# ================================================================================================
# Feedback mixture (the default model)
#
# The Gaussian mixture above with per-pixel feedback in the spirit of SuBSENSE (St-Charles et al.,
# 2015), computed from the mixture's own quantities:
#
# * ``dynamics[i]`` (D, intensity levels): running average of the RMS distance between the pixel
#   and its nearest background component, taken only in quiet frames (the pixel is background and
#   it and its 4 neighbours were not foreground in the previous frame, so passing objects and their
#   edges do not count: ``busy``, the previous labels dilated by a 3 x 3 cross, is below
#   FOREGROUND there). Still road stays near the camera noise (2-4 levels); swaying leaves, their
#   shadows and rippling water sit well above it.
# * The pixel's background threshold is scaled by ``s = min(1 + gain * max(D - floor, 0), s_max)``:
#   static pixels keep the low base threshold (camouflaged objects are found), dynamic ones demand
#   more evidence (the background's own motion is not reported).
# * Selective update: a pixel that was foreground in the previous frame learns at
#   ``alpha * foreground_rate``, so objects in busy scenes do not teach the model their colours;
#   the model sets the factor each frame so that a stopped object is absorbed in
#   ``stationary_frames`` frames (``feedback.foreground_rate_factor``).
#
# State: the mixture's component-major planes and ``n_components`` plus ``dynamics[i]`` D. Labels
# of the previous frame are read from ``previous`` (a copy), the new ones written to the mask, so
# stripes on different threads never see each other's writes. The kernel is ``mixture_kernel(C,
# feedback=True)``: the same steps with the three additions above, compiled separately. Its NumPy
# twin is ``FeedbackReference`` in ``tests/models/reference.py``.
# ================================================================================================

# ``fb`` of the plain mixture kernel: typed like the feedback's, never read.
NO_FEEDBACK = (np.zeros(0, np.float32), np.zeros(0, np.uint8), np.zeros(0, np.uint8), 1, 0.0, 0.0,
               0.0, 0.0, 0.0)


@njit(inline="always")
def _feedback_rates(p, alpha, threshold2, complexity_prior, dynamics, previous, foreground_rate,
                    floor, gain, s_max):
    """Pixel ``p``'s ``(a, 1 - a, -a c_T, threshold2 s^2)``: the learning rate slowed where the
    pixel was foreground (selective update) and the threshold scaled by its dynamics D."""
    a = np.float32(alpha)
    if previous[p] == FOREGROUND:
        a = a * np.float32(foreground_rate)
    t2 = _feedback_threshold2(threshold2, dynamics[p], floor, gain, s_max)
    return a, np.float32(1.0) - a, -a * np.float32(complexity_prior), t2


@njit(inline="always")
def _feedback_threshold2(threshold2, d, floor, gain, s_max):
    """``threshold2 s^2``, with ``s`` the threshold's scale for the dynamics ``d``."""
    excess = d - np.float32(floor)
    scale = np.float32(1.0) + np.float32(gain) * (excess if excess > 0 else np.float32(0.0))
    scale = scale if scale < np.float32(s_max) else np.float32(s_max)
    return np.float32(threshold2) * (scale * scale)


@njit(inline="always")
def _within_threshold(d2, var, p, feedback, t20, threshold2, dynamics, floor, gain, s_max):
    """Whether ``d2`` is within pixel ``p``'s background threshold ``t20`` of a component of
    variance ``var``; with ``feedback``, the threshold scaled by the pixel's dynamics D."""
    t2 = t20
    if feedback:
        t2 = _feedback_threshold2(threshold2, dynamics[p], floor, gain, s_max)
    return d2 < t2 * var


@njit(inline="always")
def _dynamics_learned(d, nearest2, rate, inv_c):
    """D after a quiet background frame: a step of ``rate`` towards the RMS distance to the
    nearest background component (``nearest2`` is its squared distance over all channels)."""
    return d + rate * (np.sqrt(nearest2 * inv_c) - d)
