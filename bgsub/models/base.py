"""What every per-pixel model shares: the interface the commands rely on (:class:`Model` and its
optional capabilities), frame checks, the learning-rate schedule, checkpoints."""

import json
import os
import warnings
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeGuard

import cv2
import numpy as np

from bgsub.atomic import atomic_file
from bgsub.errors import ConfigError
from bgsub.models.params import GaussianParams

CHECKPOINT_FORMAT = 1
# Thresholds are stated for colour: a C-channel pixel is tested against threshold^2 * C / 3, so a
# change of the same size in every channel is the same evidence on gray and colour frames.
REFERENCE_CHANNELS = 3
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # 1.2e-38


class Model(Protocol):
    """What the commands ask of a model: the frame chain (:class:`bgsub.frames.FrameChain`) that
    ``bgsub run``, ``live`` and ``eval`` share, the memory check, the live window's retuning and
    ``--save-model``. Every bgsub model (:class:`BackgroundModel`'s subclasses) and the
    :class:`~bgsub.models.downscaled.Downscaled` wrapper are one; the type checker holds them to it.
    """

    @property
    def name(self) -> str:
        """The model's registry name (``gaussian``, ``gmm``, ``feedback``)."""

    @property
    def params(self) -> GaussianParams:
        """Its parameters (``threshold``, ``learning_rate``, ``history``, ...)."""

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The shape of the frames it takes, None until a frame (or a checkpoint) fixes it."""

    @property
    def frames_seen(self) -> int:
        """Frames learned so far."""

    @property
    def labels(self) -> np.ndarray | None:
        """The last frame's labels: 255 foreground, 127 shadow, 0 background (None before)."""

    def apply(self, frame: np.ndarray, learning_rate: float | None = None) -> np.ndarray:
        """Classify ``frame`` and learn from it; the mask (255 foreground, 0 background)."""

    def background_image(self) -> np.ndarray | None:
        """The learned background as an image of the frames' shape (None before any frame)."""

    def reset(self) -> None:
        """Forget everything learned."""

    def with_params(self, **changes: Any) -> "Model":
        """A new model with ``changes`` to its parameters that keeps what this one learned."""

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write parameters and learned state to ``path``."""

    def bytes_per_pixel(self, n_channels: int = 3) -> int:
        """Bytes of learned state per pixel of ``n_channels`` channels."""


class ScoredModel(Model, Protocol):
    """A model that can give each pixel's distance to its background (the mixtures)."""

    compute_scores: bool  # set to have ``scores`` computed for every frame

    @property
    def scores(self) -> np.ndarray | None:
        """The last frame's score map (see :mod:`bgsub.models.scores`), None if not computed."""


class FittableModel(Model, Protocol):
    """A model that can be fitted to a clip by EM before it runs (the mixtures)."""

    def fit(self, frames: Iterable[np.ndarray], iterations: int = ...,
            tolerance: float = ..., keep_ratio: float = ..., recurrence: float = ...,
            progress: Callable[[float], None] | None = None) -> "FittableModel":
        """Learn each pixel's mixture from ``frames``, replacing what was learned; ``self``."""


def has_scores(model: Model) -> TypeGuard[ScoredModel]:
    """Whether ``model`` has a score map (a wrapper answers as the model it wraps)."""
    return hasattr(model, "compute_scores")


def can_fit(model: Model) -> TypeGuard[FittableModel]:
    """Whether ``model`` can be fitted by EM (a wrapper answers as the model it wraps)."""
    return hasattr(model, "fit")


class BackgroundModel:
    """Base class of the per-pixel models; subclasses own a params class and the kernel calls.

    Subclasses define ``name``, ``params_class``, ``_allocate(n_pixels, n_channels)`` (called by
    :meth:`_allocate_state`, once the labels, ``self._labels``, exist),
    ``_initialise(frame2d)``, ``_update(frame2d, alpha, labels)``, ``_background(out)`` and
    ``_state_arrays()`` (a dict of the float/int arrays that make up the learned state).
    """

    name = ""
    params_class: type[GaussianParams]
    frames_seen: int
    shape: tuple[int, ...] | None  # of the frames learned, None before the first frame
    _labels: np.ndarray | None  # the last frame's, None before the first frame
    # Hooks each model defines (see above).
    _initialise: Callable[[np.ndarray], None]
    _update: Callable[[np.ndarray, float, np.ndarray], None]
    _background: Callable[[np.ndarray], None]
    _state_arrays: Callable[[], dict[str, np.ndarray]]

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.params_class.names()))
        if unknown:
            valid = ", ".join(self.params_class.names())
            raise ConfigError(f"{self.name}: unknown parameter {unknown[0]!r} (valid: {valid})")
        self.params = self.params_class(**params)
        self.reset()

    def reset(self) -> None:
        """Forget everything learned; the next frame starts a new model."""
        self.frames_seen = 0
        self.shape = None
        self._labels = None

    def with_params(self, **changes: Any) -> "BackgroundModel":
        """A new model with ``changes`` applied to the parameters and a copy of the learned state.

        For tuning while running (e.g. ``model = model.with_params(threshold=4.5)``): the new
        model carries on from the same background. A change that alters the state's layout
        (``k`` of a trained mixture) raises :class:`ConfigError`: such a model has to relearn, so
        build a new one instead.
        """
        merged = {**self.params.to_dict(), **changes}
        clone = type(self)(**merged)
        if self.shape is None:
            return clone
        clone._allocate_state(self.shape)
        for key, target in clone._state_arrays().items():
            source = self._state_arrays()[key]
            if source.shape != target.shape:
                raise ConfigError(f"{self.name}: changing {', '.join(sorted(changes))} needs a "
                                  "model reset (the learned state has another layout)")
            target[...] = source
        assert clone._labels is not None  # allocated with the state
        clone._labels[...] = self._labels
        clone.shape = self.shape
        clone.frames_seen = self.frames_seen
        return clone

    # -- the public per-frame API -------------------------------------------------------------
    def apply(self, frame: np.ndarray, learning_rate: float | None = None) -> np.ndarray:
        """Classify ``frame`` and learn from it.

        Args:
            frame: uint8 image, H x W (gray) or H x W x C (C <= 4, e.g. BGR).
            learning_rate: alpha for this frame only, exactly as given (0 freezes the model,
                1 relearns from this frame; rates below 1.2e-38, float32's smallest normal
                number, count as 0). ``None`` follows the model's schedule. A model's very first
                frame always initialises it, whatever the rate.

        Returns:
            uint8 mask of the frame's size: 255 foreground, 0 background (shadows are background;
            see :attr:`labels` for them).
        """
        pixels = self._check_frame(frame)
        if self.shape is not None and frame.shape != self.shape:
            warnings.warn(
                f"frame size changed from {self.shape} to {frame.shape}: model re-initialised",
                RuntimeWarning,
                stacklevel=2,
            )
            self.reset()
        if self.shape is None:
            self.shape = frame.shape
            self._allocate_state(frame.shape)
        self.frames_seen += 1
        alpha = self._alpha(learning_rate)
        assert self._labels is not None  # allocated with the state
        labels = self._labels.reshape(-1)
        if self.frames_seen == 1:
            # Whatever the rate: an update needs a model to update (with rate 0 a mixture would
            # keep no component at all, and a Gaussian would start from black).
            self._initialise(pixels)
            labels[:] = 0
        else:
            self._update(pixels, alpha, labels)
        # threshold, not compare: cv2.compare takes a 1x1 array for a scalar and fails.
        return cv2.threshold(self._labels, 254, 255, cv2.THRESH_BINARY)[1]

    @property
    def labels(self) -> np.ndarray | None:
        """Labels of the last frame: 255 foreground, 127 shadow, 0 background (None before any)."""
        return self._labels

    def background_image(self) -> np.ndarray | None:
        """The learned background as a uint8 image of the input's shape (None before any frame)."""
        if self.shape is None:
            return None
        channels = self.shape[2] if len(self.shape) == 3 else 1
        out = np.empty((self.shape[0] * self.shape[1], channels), dtype=np.uint8)
        self._background(out)
        return out.reshape(self.shape)

    def bytes_per_pixel(self, n_channels: int = 3) -> int:
        """Bytes of learned state per pixel for ``n_channels`` channels (each model its own)."""
        raise NotImplementedError

    @staticmethod
    def distance2_bound(threshold: float, n_channels: int) -> float:
        """The bound on the squared Mahalanobis distance, summed over ``n_channels`` channels,
        that ``threshold`` (in sigmas, stated for three channels) sets."""
        return float(threshold) ** 2 * n_channels / REFERENCE_CHANNELS

    def learning_rate_at(self, n: int) -> float:
        """The scheduled learning rate for the n-th frame (1-based)."""
        p = self.params
        if p.learning_rate is None:
            return 1.0 / min(n, p.history)
        return max(p.learning_rate, 1.0 / n)

    def _alpha(self, learning_rate):
        if learning_rate is None:
            alpha = self.learning_rate_at(self.frames_seen)
        elif not 0.0 <= learning_rate <= 1.0:
            raise ConfigError(f"learning_rate: must be in [0, 1], got {learning_rate!r}")
        else:
            alpha = float(learning_rate)
        # The kernels compute in float32. Below its smallest normal number a new component's
        # weight alpha, when it is all a pixel has left, has no finite reciprocal to renormalise by.
        return alpha if alpha >= _FLOAT32_TINY else 0.0

    def _check_frame(self, frame):
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
            got = getattr(frame, "dtype", type(frame).__name__)
            raise ConfigError(f"frame must be a uint8 numpy array, got {got}")
        if frame.ndim == 2:
            channels = 1
        elif frame.ndim == 3 and 1 <= frame.shape[2] <= 4:
            channels = frame.shape[2]
        else:
            raise ConfigError(f"frame must be H x W or H x W x C (C <= 4), got shape {frame.shape}")
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise ConfigError(f"frame is empty: shape {frame.shape}")
        return np.ascontiguousarray(frame).reshape(-1, channels)

    # -- checkpoints --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write parameters and learned state to ``path`` (``.npz``), atomically."""
        path = os.fspath(path)
        meta = {
            "format": CHECKPOINT_FORMAT,
            "model": self.name,
            "params": self.params.to_dict(),
            "frames_seen": self.frames_seen,
            "shape": list(self.shape) if self.shape is not None else None,
        }
        arrays: dict[str, Any] = self._state_arrays() if self.shape is not None else {}
        with atomic_file(path) as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)

    def _allocate_state(self, shape):
        """Labels (background) and the learned state for frames of ``shape``."""
        self._labels = np.zeros(shape[:2], dtype=np.uint8)
        self._allocate(shape[0] * shape[1], shape[2] if len(shape) == 3 else 1)

    # -- what checkpoints (bgsub.models.checkpoint) read and restore ----------------------------
    def optional_state(self) -> tuple[str, ...]:
        """Names of state arrays a checkpoint may lack (they start from zero)."""
        return ()

    def state_layout(self, shape: tuple[int, ...]) -> dict[str, tuple[tuple[int, ...], Any]]:
        """``{key: (shape after the pixel axis, dtype)}`` of the state for frames of ``shape``
        (every state array has one row per pixel), from a 1-pixel model of these parameters."""
        probe = type(self)(**self.params.to_dict())
        probe._allocate_state((1, 1, *shape[2:]))
        return {key: (array.shape[1:], array.dtype)
                for key, array in probe._state_arrays().items()}

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Take the state read by :func:`bgsub.models.checkpoint.load_checkpoint`, which checked
        the metadata and each array's shape and values."""
        self.frames_seen = meta["frames_seen"]
        if meta["shape"] is None:
            return
        self.shape = tuple(meta["shape"])
        self._allocate_state(self.shape)
        optional = self.optional_state()
        for key, target in self._state_arrays().items():
            if key in optional and key not in arrays:
                continue
            target[...] = arrays[key]
