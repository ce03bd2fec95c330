"""The methods ``bgsub eval`` compares: OpenCV's subtractors and bgsub itself, behind
``apply(frame) -> mask``."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np

from bgsub.errors import ConfigError
from bgsub.evaluate.running import Subtractor
from bgsub.evaluate.sequences import Sequence
from bgsub.frames import FrameChain, model_input
from bgsub.models.base import Model

if TYPE_CHECKING:  # the config imports the models, which baseline-only runs never load
    from bgsub.config import Config


_OPENCV_MAIN = {
    "mog2": "createBackgroundSubtractorMOG2",
    "knn": "createBackgroundSubtractorKNN",
}
_OPENCV_BGSEGM = {
    "mog": "createBackgroundSubtractorMOG",
    "gmg": "createBackgroundSubtractorGMG",
    "cnt": "createBackgroundSubtractorCNT",
    "gsoc": "createBackgroundSubtractorGSOC",
    "lsbp": "createBackgroundSubtractorLSBP",
}
OPENCV_METHODS = tuple(_OPENCV_MAIN) + tuple(_OPENCV_BGSEGM)


def opencv_factory(name: str) -> Callable[[], Subtractor]:
    """A zero-argument factory for an OpenCV subtractor with OpenCV's default parameters.

    ``name`` is one of :data:`OPENCV_METHODS`; "mog2" and "knn" are in core OpenCV, the others
    need ``cv2.bgsegm`` (opencv-contrib). Raises :class:`ConfigError` otherwise.
    """
    key = name.strip().lower()
    if key in _OPENCV_MAIN:
        return getattr(cv2, _OPENCV_MAIN[key])
    if key in _OPENCV_BGSEGM:
        if not hasattr(cv2, "bgsegm"):
            raise ConfigError(f"OpenCV method '{name}' needs cv2.bgsegm (install opencv-contrib-python)")
        return getattr(cv2.bgsegm, _OPENCV_BGSEGM[key])
    raise ConfigError(f"unknown OpenCV method '{name}'; choose from {', '.join(OPENCV_METHODS)}")


# --------------------------------------------------------------------------------------------
# bgsub itself
# --------------------------------------------------------------------------------------------


class BgsubSubtractor:
    """What ``bgsub run`` does to each frame of a resolved config, behind ``apply(frame)``:
    gray conversion when ``model.gray`` is set, the model, then the ``postprocess`` section."""

    def __init__(self, config: Config):
        # Imported here so that baseline-only runs never load (and JIT-compile) the models.
        from bgsub.config import make_model_from
        from bgsub.postprocess import PostProcessor
        from bgsub.train import check_fittable

        self.chain = FrameChain(make_model_from(config), PostProcessor(config.postprocess),
                                gray=config.model.gray)
        self.init_frames = config.model.init_frames
        # The model to fit before the first frame (init_frames), refused now if it has no fit.
        self._fitted = check_fittable(self.model) if self.init_frames else None

    @property
    def model(self) -> Model:
        """The bgsub model the frames go through."""
        return self.chain.model

    @property
    def gray(self) -> bool:
        return self.chain.gray

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """The post-processed 0/255 mask of ``frame`` (a BGR or gray uint8 image)."""
        return self.chain.mask(frame)

    def prepare(self, sequence: Sequence) -> None:
        """With ``model.init_frames`` N: fit the model to the first N frames of ``sequence`` by
        EM, as ``bgsub run --init-frames N`` does (not timed: fps counts ``apply`` only)."""
        if self._fitted is not None:
            images = (image for _, image in sequence.frames())
            self._fitted.fit(model_input(image, self.model, self.gray)
                             for image in itertools.islice(images, self.init_frames))

    def warm_up(self, channels: int = 3) -> None:
        """Compile the model's kernels on a tiny frame, then forget it, so that timing a sequence
        measures the work per frame rather than Numba's one-off compilation."""
        shape = (8, 8) if self.gray or channels == 1 else (8, 8, channels)
        tiny = np.zeros(shape, np.uint8)
        for _ in range(2):  # the first frame initialises, the second runs the update kernel
            self.model.apply(tiny)
        self.model.reset()


def bgsub_factory(config: Config, kind: Callable[[Config], BgsubSubtractor] = BgsubSubtractor,
                  ) -> Callable[[], BgsubSubtractor]:
    """A zero-argument factory of warmed-up subtractors for a resolved config: ``kind(config)``,
    a :class:`BgsubSubtractor` unless another (a subclass, say) is given."""

    def factory() -> BgsubSubtractor:
        subtractor = kind(config)
        subtractor.warm_up()
        return subtractor

    return factory
