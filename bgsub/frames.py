"""The chain every command runs on a frame: the frame as the model takes it, the model, then
post-processing. ``bgsub run`` (the model and post-processing on two threads), ``bgsub live`` and
``bgsub eval`` all go through :class:`FrameChain`, so a stage added here reaches all three."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from bgsub.errors import ConfigError
from bgsub.models.base import Model, ScoredModel, has_scores

if TYPE_CHECKING:
    from bgsub.sources import Frame


@dataclass
class FrameResult:
    """What the model made of one frame: the post-processed ``mask`` (0/255), the raw
    ``labels`` (255 foreground, 127 shadow, 0 background) and, when an output needs it, the
    learned ``background`` image and ``scores`` map. The events output, which runs first, sets
    the mask's ``blobs`` and the number of the ``event`` open at this frame."""

    frame: "Frame"
    mask: np.ndarray
    labels: np.ndarray
    background: np.ndarray | None = None
    scores: np.ndarray | None = None  # the model's score map, when an output needs it
    blobs: list | None = None
    event: int | None = None


def model_input(image: np.ndarray, model: Model, gray: bool) -> np.ndarray:
    """``image`` as ``model`` takes it: gray when ``gray`` is asked for, and colour (the gray
    repeated) when the model learned colour frames (from a checkpoint, say) and this one is gray.
    Every command feeds its models through this, so a model sees the same frames in all of them."""
    if gray and image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 2 and len(model.shape or ()) == 3:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image


class FrameChain:
    """One frame through ``model`` and ``postprocess`` (callable mask -> mask).

    ``gray`` feeds the model gray frames; ``need_background`` / ``need_scores`` add the learned
    background image / the score map to each :class:`FrameResult`. ``model`` may be replaced
    between frames (the live window's retuning does). :meth:`model_step` and :meth:`finish` are
    the two halves, for callers that run them on different threads.
    """

    def __init__(self, model: Model, postprocess: Callable[[np.ndarray], np.ndarray], *,
                 gray: bool = False, need_background: bool = False, need_scores: bool = False):
        self.model = model
        self.postprocess = postprocess
        self.gray = gray
        self.need_background = need_background
        self.need_scores = need_scores
        if need_scores:
            _want_scores(model)

    def __call__(self, frame: "Frame") -> FrameResult:
        """The :class:`FrameResult` of ``frame`` (a :class:`~bgsub.sources.Frame`)."""
        return self.finish(self.model_step(frame))

    def model_step(self, frame: "Frame") -> FrameResult:
        """The model's part: a :class:`FrameResult` whose mask is not post-processed yet."""
        model = self.model
        if has_scores(model):  # set every frame: a retuned model is a new one
            model.compute_scores = self.need_scores
        mask = model.apply(model_input(frame.image, model, self.gray))
        background = model.background_image() if self.need_background else None
        scores = _copy_scores(model) if self.need_scores and has_scores(model) else None
        assert model.labels is not None  # set by apply
        return FrameResult(frame, mask, model.labels.copy(), background, scores)

    def finish(self, result: FrameResult) -> FrameResult:
        """Post-process ``result``'s mask (in place); returns ``result``."""
        result.mask = self.postprocess(result.mask)
        return result

    def mask(self, image: np.ndarray) -> np.ndarray:
        """Only the post-processed mask of ``image``: what ``bgsub eval`` scores and times."""
        return self.postprocess(self.model.apply(model_input(image, self.model, self.gray)))


def _want_scores(model: Model) -> None:
    """Have ``model`` compute its score map every frame (mixtures only)."""
    if not has_scores(model):
        raise ConfigError(f"score_video: model {model.name!r} has no score map; use gmm or "
                          "feedback")
    model.compute_scores = True


def _copy_scores(model: ScoredModel) -> np.ndarray:
    # The first frame initialises the model: every pixel is its own background, distance 0.
    scores = model.scores
    if scores is not None:
        return scores.copy()
    assert model.shape is not None  # set by apply
    return np.zeros(model.shape[:2], np.float32)
