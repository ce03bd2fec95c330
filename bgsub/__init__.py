"""bgsub: video-surveillance background subtraction with Numba-compiled per-pixel Gaussian models.

>>> import bgsub
>>> model = bgsub.GaussianMixture(k=5)
>>> mask = model.apply(frame)          # uint8, 255 = foreground
"""

__version__ = "0.1.0"

from bgsub.errors import BgsubError, ConfigError, SinkError, SourceError
from bgsub.models import (
    FeedbackMixture,
    FeedbackParams,
    GaussianMixture,
    GaussianParams,
    MixtureParams,
    SingleGaussian,
    load_model,
    make_model,
)

__all__ = [
    "BgsubError",
    "ConfigError",
    "FeedbackMixture",
    "FeedbackParams",
    "GaussianMixture",
    "GaussianParams",
    "MixtureParams",
    "SingleGaussian",
    "SinkError",
    "SourceError",
    "__version__",
    "load_model",
    "make_model",
]
