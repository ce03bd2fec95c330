"""All Numba kernels of bgsub's per-pixel models, in one place so the maths reads in one file.

Notation (after Stauffer & Grimson 1999 and Zivkovic 2004; OpenCV's ``bgfg_gaussmix2.cpp`` documents
the same symbols):

* ``x``        the pixel's colour vector (C channels, 0..255)
* ``alpha``    learning rate (alpha = 1/T for an effective history of T frames)
* ``w, mu, var``  a component's weight, mean vector and variance (spherical: one variance for all
  channels, so a colour component costs C + 2 floats)
* ``d2 = sum_c (x_c - mu_c)^2 / var``  squared Mahalanobis distance
* ``threshold2``  a pixel is background when ``d2 < threshold2`` for a background component
* ``match_threshold2``  a component *matches* (and is updated) when ``d2 < match_threshold2``
* ``background_ratio``  components ranked by ``w / sigma``; the first ones whose weights sum past
  this ratio model the background
* ``complexity_prior`` ``c_T`` of Zivkovic: every frame each weight also loses ``alpha * c_T``, so
  components that the data does not support die and K adapts per pixel

Memory layout (the kernels are bound by memory traffic and instruction count, not arithmetic):

* Frames arrive flattened to ``N * C`` uint8 (pixel-interleaved, as decoded).
* Single Gaussian: planar float32 ``state[2, C, N]`` (means, then variances, one plane per
  channel), so the pixel loop reads and writes contiguous streams and LLVM vectorises it.
* Mixture: component-major float32 ``mixture[K, N, 2 + C]``; ``mixture[m, i] = (w, var, mu_0 ..
  mu_{C-1})`` is the component of rank ``m`` of pixel ``i`` and ``n_components[i]`` counts the live
  ones (ranked first). A pixel with one live component touches only plane 0, so memory traffic
  follows the live components rather than K.

Kernels are compiled once per channel count (``gaussian_kernel(C)``, ``mixture_kernel(C)``) so the
channel loops unroll, and index with unsigned offsets, for which Numba emits no negative-index
fix-up. All are cached on disk (see :mod:`bgsub.models.numba_cache`).

Masks hold 255 (foreground), 127 (shadow: a darker copy of a background component) or 0.
All arithmetic is float32 (scalars are cast at entry) in the operation order of the NumPy twins in
``tests/models/reference.py``, so the kernels reproduce them exactly.

Modules: ``layout`` (labels, component slots), ``gaussian`` (the single Gaussian), ``components``
(the small helpers the mixture kernel is composed of), ``mixture`` (the mixture kernel and its
background image), ``feedback`` (the default model's additions), ``ghosts`` (ghost absorption),
``compensation`` (what exposure and shake compensation compute per pixel), ``tiles`` (the cell
sums by which the post-processing skips what its filters cannot mark), ``hints`` (the prefetch
by which a kernel asks for memory ahead of its reads).
"""

from bgsub.models.kernels.compensation import gain_samples, grid_mean, grid_misfits, level_kernel
from bgsub.models.kernels.feedback import NO_FEEDBACK
from bgsub.models.kernels.gaussian import GAUSSIAN_BLOCK, gaussian_kernel
from bgsub.models.kernels.ghosts import GHOST_BLOCK, GHOST_CHUNK, GHOST_RADIUS, ghost_absorb
from bgsub.models.kernels.layout import BACKGROUND, FOREGROUND, MEAN, SHADOW, VARIANCE, WEIGHT
from bgsub.models.kernels.mixture import mixture_background, mixture_kernel
from bgsub.models.kernels.tiles import CELL, cell_sums, screen_tiles

__all__ = [
    "BACKGROUND",
    "CELL",
    "FOREGROUND",
    "GAUSSIAN_BLOCK",
    "GHOST_BLOCK",
    "GHOST_CHUNK",
    "GHOST_RADIUS",
    "MEAN",
    "NO_FEEDBACK",
    "SHADOW",
    "VARIANCE",
    "WEIGHT",
    "cell_sums",
    "gain_samples",
    "gaussian_kernel",
    "ghost_absorb",
    "grid_mean",
    "grid_misfits",
    "level_kernel",
    "mixture_background",
    "mixture_kernel",
    "screen_tiles",
]
