"""bgsub: video-surveillance background subtraction with Numba-compiled per-pixel Gaussian models.

>>> import bgsub
>>> model = bgsub.GaussianMixture(k=5)
>>> mask = model.apply(frame)          # uint8, 255 = foreground

The models are imported on first use (``bgsub.GaussianMixture``, ``bgsub.models``, ...): Numba
and OpenCV take half a second to load, which the command line spends only once it has taken
over Ctrl-C (see ``bgsub/__main__.py``).
"""

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from bgsub.errors import BgsubError, ConfigError, SinkError, SourceError  # noqa: E402

if TYPE_CHECKING:  # what __getattr__ returns, for type checkers (it imports at run time)
    from bgsub.models import (FeedbackMixture, FeedbackParams, GaussianMixture, GaussianParams,
                              MixtureParams, Model, SingleGaussian, load_model, make_model)

_FROM_MODELS = ("FeedbackMixture", "FeedbackParams", "GaussianMixture", "GaussianParams",
                "MixtureParams", "Model", "SingleGaussian", "load_model", "make_model")
_SUBMODULES = ("batch", "cli", "config", "cv", "evaluate", "events", "live", "models", "pipeline",
               "postprocess", "sinks", "sources")


def __getattr__(name: str) -> Any:
    if name in _FROM_MODELS:
        value = getattr(importlib.import_module("bgsub.models"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"bgsub.{name}")
    else:
        raise AttributeError(f"module 'bgsub' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FROM_MODELS) | set(_SUBMODULES))


__all__ = [
    "BgsubError",
    "ConfigError",
    "FeedbackMixture",
    "FeedbackParams",
    "GaussianMixture",
    "GaussianParams",
    "MixtureParams",
    "Model",
    "SingleGaussian",
    "SinkError",
    "SourceError",
    "__version__",
    "load_model",
    "make_model",
]
