"""Fitting a mixture to the first frames of an input by EM before (or instead of) the online run:
``bgsub train`` and the ``init_frames`` option of ``bgsub run``, ``live``, ``eval`` and batch jobs.

The frames used for the fit are kept and handed on, so a run with ``init_frames: N`` still
processes every frame from the first one, with the fitted model (cameras and streams included:
nothing is read twice). Holding them costs N frames of memory on top of the fit's own uint8 copy
(see :mod:`bgsub.models.em`).
"""

import itertools
import warnings

from bgsub.errors import ConfigError
from bgsub.models import em
from bgsub.frames import model_input

def check_fittable(model, what="init_frames"):
    """Refuse a model that has no batch fit (the single Gaussian) with one line."""
    if not hasattr(model, "fit"):
        raise ConfigError(f"{what}: model {model.name!r} has no EM fit; use gmm or feedback")

def fit_head(model, frames, count, gray, *, iterations=em.ITERATIONS, progress=None):
    """Fit ``model`` to the first ``count`` frames of the iterable ``frames`` (:class:`Frame`
    objects of a source).

    Returns ``(head, rest)``: the frames read, and the iterator of the others, so the caller can
    process ``itertools.chain(head, rest)`` from the first frame. ``progress(fraction)`` is
    called as the fit advances. A shorter input is fitted on all its frames.
    """
    check_fittable(model)
    frames = iter(frames)
    head = list(itertools.islice(frames, count))
    if not head:
        return head, frames
    if len(head) < count:
        warnings.warn(f"init_frames: the input has only {len(head)} frames; fitted on those")
    model.fit([model_input(f.image, model, gray) for f in head], iterations=iterations,
              progress=progress)
    return head, frames
