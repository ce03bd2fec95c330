"""Per-pixel background models and the registry the CLI and configs use."""

import os
from typing import Any

from bgsub.errors import BgsubError, ConfigError
from bgsub.models.base import BackgroundModel, FittableModel, Model, ScoredModel
from bgsub.models.checkpoint import load_checkpoint
from bgsub.models.feedback import FeedbackMixture
from bgsub.models.gaussian import SingleGaussian
from bgsub.models.mixture import GaussianMixture
from bgsub.models.params import FeedbackParams, GaussianParams, MixtureParams

MODELS: dict[str, type[BackgroundModel]] = {
    "gaussian": SingleGaussian, "gmm": GaussianMixture, "feedback": FeedbackMixture}


def make_model(name: str, **params: Any) -> BackgroundModel:
    """Build a model by name: ``"gaussian"`` (:class:`SingleGaussian`), ``"gmm"``
    (:class:`GaussianMixture`) or ``"feedback"`` (:class:`FeedbackMixture`), with its parameters
    as keyword arguments."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r} (choose from: {', '.join(MODELS)})") from None
    return cls(**params)


def load_model(path: str | os.PathLike[str], *,
               shape: tuple[int, ...] | None = None) -> BackgroundModel:
    """Rebuild a model saved with ``model.save(path)``, learned state included.

    If ``shape`` is given (the frame shape the caller will feed), a checkpoint learned on another
    frame size is refused with a clear error instead of silently re-learning.
    """
    model = load_checkpoint(path, MODELS)
    if shape is not None and model.shape is not None and tuple(shape) != model.shape:
        raise BgsubError(
            f"{path}: checkpoint was learned on frames of shape {model.shape}, not {tuple(shape)}"
        )
    return model


__all__ = [
    "BackgroundModel",
    "FeedbackMixture",
    "FeedbackParams",
    "FittableModel",
    "GaussianMixture",
    "GaussianParams",
    "MixtureParams",
    "Model",
    "MODELS",
    "ScoredModel",
    "SingleGaussian",
    "load_model",
    "make_model",
]
