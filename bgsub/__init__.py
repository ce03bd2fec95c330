"""bgsub: video-surveillance background subtraction with Numba-compiled per-pixel Gaussian models."""

__version__ = "0.1.0"
