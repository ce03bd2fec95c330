"""Fitting a mixture to the first frames of an input by EM before (or instead of) the online run:
``bgsub train`` and the ``init_frames`` option of ``bgsub run``, ``live``, ``eval`` and batch jobs.

The frames used for the fit are kept and handed on, so a run with ``init_frames: N`` still
processes every frame from the first one, with the fitted model (cameras and streams included:
nothing is read twice). Holding them costs N frames of memory on top of the fit's own uint8 copy
(see :mod:`bgsub.models.em`).
"""

import itertools
import warnings
from collections.abc import Callable, Iterable, Iterator

from bgsub.errors import ConfigError
from bgsub.frames import model_input
from bgsub.models import em
from bgsub.models.base import FittableModel, Model, can_fit
from bgsub.sources import Frame


def check_fittable(model: Model, what: str = "init_frames") -> FittableModel:
    """``model``, as a model with an EM fit; refused with one line when it has none (the single
    Gaussian)."""
    if not can_fit(model):
        raise ConfigError(f"{what}: model {model.name!r} has no EM fit; use gmm or feedback")
    return model


def fit_head(model: Model, frames: Iterable[Frame], count: int, gray: bool, *,
             iterations: int = em.ITERATIONS, progress: Callable[[float], None] | None = None
             ) -> tuple[list[Frame], Iterator[Frame]]:
    """Fit ``model`` to the first ``count`` frames of the iterable ``frames`` (:class:`Frame`
    objects of a source).

    Returns ``(head, rest)``: the frames read, and the iterator of the others, so the caller can
    process ``itertools.chain(head, rest)`` from the first frame. ``progress(fraction)`` is
    called as the fit advances. A shorter input is fitted on all its frames.
    """
    fitted = check_fittable(model)
    frames = iter(frames)
    head = list(itertools.islice(frames, count))
    if not head:
        return head, frames
    if len(head) < count:
        warnings.warn(f"init_frames: the input has only {len(head)} frames; fitted on those")
    fitted.fit([model_input(f.image, model, gray) for f in head], iterations=iterations,
               progress=progress)
    return head, frames
