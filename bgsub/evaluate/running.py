"""Running methods over sequences and scoring them (or masks written earlier)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from bgsub.errors import SinkError, SourceError
from bgsub.evaluate.scoring import ConfusionCounts, Result, confusion_counts
from bgsub.evaluate.sequences import Sequence, read_image
from bgsub.sinks import write_image
from bgsub.sources import IMAGE_EXTENSIONS


_LAST_DIGITS = re.compile(r"(\d+)(?!.*\d)")


class Subtractor(Protocol):
    """What ``bgsub eval`` runs over a sequence: one of OpenCV's subtractors or
    :class:`~bgsub.evaluate.methods.BgsubSubtractor`, which also has ``prepare(sequence)``
    (the EM fit of ``init_frames``, run before the first frame)."""

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """The 0/255 mask of ``frame``, learning from it."""


def evaluate(sequence: Sequence, subtractor_factory: Callable[[], Subtractor], *, name: str,
             save_masks_dir: str | Path | None = None) -> Result:
    """Run a fresh subtractor over every frame of ``sequence`` in order and score it.

    ``subtractor_factory()`` returns a fresh :class:`Subtractor`. Unscored
    (learning) frames are fed too. ``fps`` counts only the time spent inside ``apply``. With
    ``save_masks_dir`` each mask is written as ``save_masks_dir/<sequence>/binNNNNNN.png``
    (CDnet result naming, NNNNNN = frame number).
    """
    (result,) = evaluate_together(sequence, {name: subtractor_factory},
                                  {name: _mask_output_dir(save_masks_dir, sequence.name)})
    return result


def evaluate_together(sequence: Sequence, methods: dict[str, Callable[[], Subtractor]],
                      out_dirs: dict[str, Path | None] | None = None,
                      bars: Callable | None = None) -> list[Result]:
    """Run fresh subtractors of several methods over ``sequence``, each frame through all of them
    in turn, and score each one.

    Every frame is decoded once, and since the methods take turns on the same frames, a change in
    the machine's load (other processes on a shared computer) slows all of them alike: their fps
    stay comparable. ``out_dirs`` maps a method to the directory its masks are written to.
    ``bars(sequence name, method names, frame count)``, when given, returns a progress bar per
    method (tqdm's ``update``, ``set_postfix_str``, ``close``); each shows the method's own fps.
    """
    out_dirs = out_dirs or {}
    subtractors = {name: factory() for name, factory in methods.items()}
    shown = bars(sequence.name, list(subtractors), len(sequence.frame_numbers)) if bars else {}
    for subtractor in subtractors.values():
        if hasattr(subtractor, "prepare"):  # bgsub with init_frames: fit before the first frame
            subtractor.prepare(sequence)
    scored = set(sequence.scored)
    counts = dict.fromkeys(subtractors, ConfusionCounts())
    elapsed = dict.fromkeys(subtractors, 0.0)
    n = 0
    for number, frame in sequence.frames():
        n += 1
        gt = sequence.ground_truth(number) if number in scored else None
        for name, subtractor in subtractors.items():
            start = time.perf_counter()
            mask = subtractor.apply(frame)
            elapsed[name] += time.perf_counter() - start
            if (out_dir := out_dirs.get(name)) is not None:
                write_image(out_dir / f"bin{number:06d}.png", mask)
            if gt is not None:
                counts[name] += confusion_counts(mask, gt, sequence.roi)
            if name in shown:
                shown[name].update(1)
                shown[name].set_postfix_str(f"{n / max(elapsed[name], 1e-9):.0f} fps alone", refresh=False)
    for bar in shown.values():
        bar.close()
    return [Result(sequence.name, name, counts[name], n / elapsed[name] if elapsed[name] > 0 else math.nan,
                   n, len(scored)) for name in subtractors]


def _mask_output_dir(root: str | Path | None, sequence_name: str) -> Path | None:
    if root is None:
        return None
    out_dir = Path(root) / sequence_name
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SinkError(f"cannot create mask directory {out_dir}: {err.strerror}") from None
    return out_dir


def evaluate_masks(sequence: Sequence, masks_dir: str | Path, *, name: str | None = None) -> Result:
    """Score masks produced elsewhere.

    Masks are looked up in ``masks_dir/<sequence name>/`` when that directory exists (the layout
    that ``save_masks_dir`` writes), else in ``masks_dir`` itself. The method is named ``name``,
    by default the name of ``masks_dir`` as given. Each image file's frame number
    is the last run of digits in its name (``bin000470.png`` -> 470). A scored frame without a mask
    raises :class:`SourceError` naming the expected file.
    """
    masks_dir = Path(masks_dir)
    if not masks_dir.is_dir():
        raise SourceError(f"mask directory not found: {masks_dir}")
    name = name or masks_dir.name
    if (masks_dir / sequence.name).is_dir():
        masks_dir = masks_dir / sequence.name
    masks = index_masks(masks_dir)
    counts = ConfusionCounts()
    for number in sequence.scored:
        path = masks.get(number)
        if path is None:
            raise SourceError(f"missing mask for frame {number}: {masks_dir / f'bin{number:06d}.png'}")
        mask = read_image(path, cv2.IMREAD_GRAYSCALE)
        counts += confusion_counts(mask, sequence.ground_truth(number), sequence.roi)
    return Result(sequence.name, name, counts, math.nan,
                  len(sequence.frame_numbers), len(sequence.scored))


def index_masks(masks_dir: Path) -> dict[int, Path]:
    index: dict[int, Path] = {}
    for p in sorted(masks_dir.iterdir()):
        if p.suffix.lower() not in IMAGE_EXTENSIONS or not (m := _LAST_DIGITS.search(p.stem)):
            continue
        number = int(m.group(1))
        if number in index:
            raise SourceError(f"two masks for frame {number} in {masks_dir}: {index[number].name}, {p.name}")
        index[number] = p
    return index


def evaluate_all(sequences: Iterable[Sequence], methods: dict[str, Callable[[], Subtractor]], *,
                 masks_dirs: Iterable[str | Path] = (), save_masks_dir: str | Path | None = None,
                 progress: Callable[[str], None] | None = None,
                 bars: Callable | None = None) -> list[Result]:
    """Evaluate every method (name -> subtractor factory) and every mask directory on each sequence.

    The methods run together, taking turns on each frame (:func:`evaluate_together`). With
    ``save_masks_dir`` the masks of method M go to ``save_masks_dir/M/<sequence>/``, which
    :func:`evaluate_masks` reads back. ``progress`` receives a line before each run, ``bars``
    makes the progress bars of each (see :func:`evaluate_together`).
    """
    masks_dirs = [Path(d) for d in masks_dirs]
    results = []
    for seq in sequences:
        if methods:
            if progress:
                progress(f"{seq.name}: running {', '.join(methods)} on {len(seq.frame_numbers)} frames")
            out_dirs = {} if save_masks_dir is None else {
                method: _mask_output_dir(Path(save_masks_dir) / method, seq.name) for method in methods}
            results.extend(evaluate_together(seq, methods, out_dirs, bars))
        for d in masks_dirs:
            if progress:
                progress(f"{seq.name}: scoring masks in {d}")
            results.append(evaluate_masks(seq, d))
    return results
