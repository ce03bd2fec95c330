"""A model run on reduced frames: ``downscale`` N divides each side by N before the model (OpenCV's
area resampling, which averages each N x N block and so also averages out sensor noise) and
scales what the model returns back to the input's size, so every output keeps the input's size.

The model's work and state shrink N^2 times; the price is resolution: an object needs to cover
about an N x N block to move the reduced pixel it falls in as much as it moves one full-size pixel,
and mask edges come back in N-pixel steps (see the README's speed section for what this costs in
small-object recall on the shared sequences).
"""

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from bgsub.models.base import Model, can_fit
from bgsub.models.params import GaussianParams

AUTO_WIDTH = 640  # pixels: the width ``auto`` reduces to (a 1080p frame by 3, 720p by 2)


def factor_for(setting: int | str, width: int) -> int:
    """The reduction per side for ``setting`` (an integer, or ``"auto"``: the one that brings
    ``width`` nearest to :data:`AUTO_WIDTH`, never below 1)."""
    if setting == "auto":
        return max(round(width / AUTO_WIDTH), 1)
    return int(setting)


def reduced_size(size: tuple[int, int], factor: int) -> tuple[int, int]:
    """``(width, height)`` divided by ``factor``, rounded down, at least 1 pixel."""
    return max(size[0] // factor, 1), max(size[1] // factor, 1)


class Downscaled:
    """``model`` (a bgsub model) seeing every frame reduced by ``setting`` per side (an integer
    >= 1 or ``"auto"``, fixed by the first frame's width), with its outputs (mask, labels,
    background, scores, threshold scale) scaled back to the frame's size: masks and labels by
    nearest neighbour, so they keep their values. ``fit`` (EM on reduced frames), ``scores``,
    ``compute_scores`` and ``threshold_scale`` exist where the model has them. Everything else
    (``params``, ``save``, ``frames_seen``, ...) is the model's own; checkpoints hold the
    reduced state.
    """

    def __init__(self, model: Model, setting: int | str):
        self.model = model
        self.setting = setting
        self.factor: int | None = None  # fixed by the first frame
        self._size: tuple[int, int] | None = None  # the input's (width, height)
        self._labels: np.ndarray | None = None  # the model's last labels at the input's size

    if not TYPE_CHECKING:  # hidden from the type checker, which holds the class to Model
        def __getattr__(self, name):
            # Only reached for what this class does not define: the model's own attributes,
            # and the methods that exist only where the model has them (``hasattr`` answers
            # as for it).
            if name == "model":  # not set yet (a copy being made): no model to ask
                raise AttributeError(name)
            attribute = getattr(self.model, name)
            if name == "fit":
                return self._fit
            if name == "threshold_scale":
                return lambda: self._enlarge(attribute())
            return attribute

        @property
        def compute_scores(self):
            return self.model.compute_scores

        @compute_scores.setter
        def compute_scores(self, value):
            self.model.compute_scores = value

        @property
        def scores(self):
            """The model's score map at the input's size (None when it has none)."""
            return self._enlarge(self.model.scores)

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name

    @property
    def params(self) -> GaussianParams:
        """The model's parameters."""
        return self.model.params

    @property
    def frames_seen(self) -> int:
        """Frames the model learned."""
        return self.model.frames_seen

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the model (its reduced state: a checkpoint of the reduced frames)."""
        self.model.save(path)

    def bytes_per_pixel(self, n_channels: int = 3) -> int:
        """The model's own figure (per reduced pixel: per input pixel, an upper bound)."""
        return self.model.bytes_per_pixel(n_channels)

    def _reduce(self, frame: np.ndarray) -> np.ndarray:
        size = (frame.shape[1], frame.shape[0])
        if size != self._size:
            self.factor = factor_for(self.setting, size[0])
            self._size = size
        factor = self.factor
        assert factor is not None  # fixed above
        if factor == 1:
            return frame
        return cv2.resize(frame, reduced_size(size, factor), interpolation=cv2.INTER_AREA)

    def _enlarge(self, image: np.ndarray | None,
                 interpolation: int = cv2.INTER_NEAREST) -> np.ndarray | None:
        if image is None or (image.shape[1], image.shape[0]) == self._size:
            return image
        return cv2.resize(image, self._size, interpolation=interpolation)

    def apply(self, frame: np.ndarray, learning_rate: float | None = None) -> np.ndarray:
        """The model's :meth:`~bgsub.models.base.BackgroundModel.apply` on the reduced frame;
        the mask at ``frame``'s size."""
        self.model.apply(self._reduce(frame), learning_rate)
        self._labels = self._enlarge(self.model.labels)
        return cv2.threshold(self._labels, 254, 255, cv2.THRESH_BINARY)[1]

    def _fit(self, frames: Iterable[np.ndarray], *args: Any, **kwargs: Any) -> "Downscaled":
        """``fit``: the model's EM fit on the reduced ``frames``; returns ``self``."""
        model = self.model
        assert can_fit(model)  # reached through __getattr__ only where the model has ``fit``
        model.fit((self._reduce(frame) for frame in frames), *args, **kwargs)
        return self

    @property
    def labels(self) -> np.ndarray | None:
        """The last frame's labels at its size (None before any)."""
        return self._labels

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The input's frame shape (the model's own, of a checkpoint, until a frame comes)."""
        if self.model.shape is None or self._size is None:
            return self.model.shape
        return (self._size[1], self._size[0], *self.model.shape[2:])

    def background_image(self) -> np.ndarray | None:
        """The learned background at the input's size (bilinear: it is an image, not labels)."""
        return self._enlarge(self.model.background_image(), cv2.INTER_LINEAR)

    def reset(self) -> None:
        """Forget everything learned (the next frame fixes the factor again)."""
        self.model.reset()
        self.factor = self._size = self._labels = None

    def with_params(self, **changes: Any) -> "Downscaled":
        """The model with ``changes`` (see the model's ``with_params``), still downscaled."""
        clone = Downscaled(self.model.with_params(**changes), self.setting)
        clone.factor, clone._size = self.factor, self._size
        clone._labels = None if self._labels is None else np.copy(self._labels)
        return clone
