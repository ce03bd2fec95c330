"""Scoring background subtraction against per-pixel ground truth (the ``bgsub eval`` library).

Two dataset layouts are understood:

* **CDnet** (changedetection.net): ``input/inNNNNNN.jpg`` frames, ``groundtruth/gtNNNNNN.png``
  label images, optional ``ROI.bmp`` and ``temporalROI.txt`` ("first last").
* **Wallflower**: ``bNNNNN.bmp`` frames and ``hand_segmented_NNNNN.BMP`` ground truth (white =
  foreground) for the few frames that are evaluated.

Scoring follows the official CDnet rule (see :func:`confusion_counts`): counts are summed over
all scored frames of one video and the metrics are computed from the sums (:func:`score`).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bgsub.errors import ConfigError, SinkError, SourceError
from bgsub.pipeline import model_input
from bgsub.sinks import write_image

# CDnet ground-truth labels.
GT_STATIC = 0
GT_SHADOW = 50
GT_OUTSIDE_ROI = 85
GT_UNKNOWN = 170
GT_MOTION = 255

# A predicted value above this is foreground; OpenCV marks shadows with 127, which is background.
PREDICTION_THRESHOLD = 127

METRICS = ("Re", "Sp", "FPR", "FNR", "PWC", "Pr", "F")

_IMAGE_SUFFIXES = {".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".pgm", ".ppm", ".pbm"}
_CDNET_FRAME = re.compile(r"in(\d+)$")
_CDNET_GT = re.compile(r"gt(\d+)$")
_WALLFLOWER_FRAME = re.compile(r"b(\d+)\.bmp$", re.IGNORECASE)
_WALLFLOWER_GT = re.compile(r"hand_segmented_(\d+)\.bmp$", re.IGNORECASE)
_LAST_DIGITS = re.compile(r"(\d+)(?!.*\d)")


# --------------------------------------------------------------------------------------------
# Sequences
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Sequence:
    """One evaluation video: its frames in order, which of them are scored and their ground truth.

    ``frame_numbers[i]`` is the number of the frame stored at ``frame_paths[i]`` (taken from the
    file name). ``scored`` lists the numbers of the scored frames in order. ``roi`` is a boolean
    image, True where pixels are scored (all True when the dataset has no ROI).
    """

    name: str
    path: Path
    layout: str
    frame_numbers: tuple[int, ...]
    frame_paths: tuple[Path, ...]
    scored: tuple[int, ...]
    roi: np.ndarray = field(repr=False)
    gt_paths: dict[int, Path] = field(repr=False)

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(frame number, image)`` for every frame, in order, read exactly as ``bgsub run``
        reads an image folder (:class:`~bgsub.sources.ImageSource`): gray files stay gray."""
        from bgsub.sources import ImageSource

        with ImageSource([str(p) for p in self.frame_paths], str(self.path)) as source:
            for number, frame in zip(self.frame_numbers, source):
                yield number, frame.image

    def ground_truth(self, number: int) -> np.ndarray:
        """The CDnet-style label image (0 static, 50 shadow, 85/170 unscored, 255 motion) of a frame."""
        path = self.gt_paths.get(number)
        if path is None:
            raise SourceError(f"no ground truth for frame {number} of {self.path}")
        labels = _read_image(path, cv2.IMREAD_GRAYSCALE)
        if self.layout == "wallflower":
            # Hand-segmented BMPs are white on black; threshold so that anti-aliased or
            # colour-saved files still map to exactly static/motion.
            labels = np.where(labels >= 128, GT_MOTION, GT_STATIC).astype(np.uint8)
        return labels


def load_sequence(path: str | Path) -> Sequence:
    """Load a CDnet or Wallflower sequence directory (see the module docstring for the layouts).

    Raises :class:`SourceError` when the directory is missing or is neither layout.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SourceError(f"{path} is a file, not a sequence directory (CDnet: input/ and "
                          "groundtruth/; Wallflower: frames and hand_segmented_*.BMP)")
    if not path.is_dir():
        raise SourceError(f"sequence directory not found: {path}")
    if (path / "input").is_dir():
        return _load_cdnet(path)
    if any(_WALLFLOWER_GT.match(p.name) for p in path.iterdir()):
        return _load_wallflower(path)
    raise SourceError(
        f"{path} is not a CDnet (input/, groundtruth/) or Wallflower "
        "(b*.bmp, hand_segmented_*.BMP) sequence"
    )


def _load_cdnet(path: Path) -> Sequence:
    frames = _numbered_files(path / "input", _CDNET_FRAME)
    gts = dict(_numbered_files(path / "groundtruth", _CDNET_GT)) if (path / "groundtruth").is_dir() else {}
    if not frames:
        raise SourceError(f"no input/inNNNNNN frames in {path}")
    if not gts:
        raise SourceError(f"no groundtruth/gtNNNNNN.png files in {path}")
    numbers = [n for n, _ in frames]
    first, last = _temporal_roi(path / "temporalROI.txt", numbers)
    scored = tuple(n for n in numbers if first <= n <= last)
    roi = _load_roi(path / "ROI.bmp", frames[0][1])
    return Sequence(path.name, path, "cdnet", tuple(numbers), tuple(p for _, p in frames),
                    scored, roi, gts)


def _load_wallflower(path: Path) -> Sequence:
    frames = sorted(
        (int(m.group(1)), p) for p in path.iterdir() if (m := _WALLFLOWER_FRAME.match(p.name))
    )
    if not frames:
        raise SourceError(f"no b*.bmp frames in {path}")
    gts = {int(m.group(1)): p for p in path.iterdir() if (m := _WALLFLOWER_GT.match(p.name))}
    numbers = [n for n, _ in frames]
    missing = sorted(set(gts) - set(numbers))
    if missing:
        raise SourceError(f"{gts[missing[0]]} has no matching frame b{missing[0]:05d}.bmp")
    roi = np.ones(_read_image(frames[0][1], cv2.IMREAD_GRAYSCALE).shape, dtype=bool)
    return Sequence(path.name, path, "wallflower", tuple(numbers), tuple(p for _, p in frames),
                    tuple(sorted(gts)), roi, gts)


def _numbered_files(directory: Path, pattern: re.Pattern) -> list[tuple[int, Path]]:
    """``(number, path)`` of the image files whose stem matches ``pattern``, sorted by number."""
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        if p.suffix.lower() in _IMAGE_SUFFIXES and (m := pattern.match(p.stem)):
            found.append((int(m.group(1)), p))
    return sorted(found)


def _temporal_roi(path: Path, numbers: list[int]) -> tuple[int, int]:
    """The scored frame range from temporalROI.txt; all frames when the file is absent."""
    if not path.is_file():
        return numbers[0], numbers[-1]
    parts = path.read_text().split()
    try:
        first, last = (int(v) for v in parts[:2])
    except ValueError:  # not numbers, or fewer than two
        raise SourceError(f"{path} should hold two frame numbers 'first last'") from None
    return first, last


def _load_roi(path: Path, first_frame: Path) -> np.ndarray:
    if path.is_file():
        return _read_image(path, cv2.IMREAD_GRAYSCALE) > 0
    return np.ones(_read_image(first_frame, cv2.IMREAD_GRAYSCALE).shape, dtype=bool)


def _read_image(path: Path, flags: int) -> np.ndarray:
    image = cv2.imread(str(path), flags)
    if image is None:
        raise SourceError(f"cannot read image {path}")
    return image


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfusionCounts:
    """Pixel counts of true/false positives/negatives; add them to pool frames or videos."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: ConfusionCounts) -> ConfusionCounts:
        return ConfusionCounts(self.tp + other.tp, self.fp + other.fp,
                               self.fn + other.fn, self.tn + other.tn)


def confusion_counts(mask: np.ndarray, gt: np.ndarray, roi: np.ndarray | None = None) -> ConfusionCounts:
    """Count one frame by the CDnet rule.

    ``mask`` is the prediction: a value above 127 is foreground, so OpenCV's shadow value 127 is
    background. ``gt`` holds CDnet labels: 255 is positive; 0 and 50 (hard shadow) are negative,
    so a foreground prediction on a shadow is a false positive; 85, 170 and any other value are not
    scored. Pixels where ``roi`` is False are not scored.
    """
    if mask.ndim == 3:
        mask = mask[..., 0]
    if mask.shape != gt.shape:
        raise SourceError(f"mask size {mask.shape[1]}x{mask.shape[0]} differs from ground truth "
                          f"size {gt.shape[1]}x{gt.shape[0]}")
    predicted = mask > PREDICTION_THRESHOLD
    positive = gt == GT_MOTION
    negative = (gt == GT_STATIC) | (gt == GT_SHADOW)
    if roi is not None:
        positive &= roi
        negative &= roi
    tp = int(np.count_nonzero(positive & predicted))
    fp = int(np.count_nonzero(negative & predicted))
    return ConfusionCounts(tp=tp, fp=fp, fn=int(np.count_nonzero(positive)) - tp,
                           tn=int(np.count_nonzero(negative)) - fp)


def score(counts: ConfusionCounts) -> dict[str, float]:
    """The CDnet metrics Re, Sp, FPR, FNR, PWC, Pr, F from pooled counts.

    A ratio whose denominator is zero is undefined and returned as nan (e.g. Re and FNR of a video
    with no foreground pixels). F is 2·Pr·Re/(Pr+Re); it is nan when Pr or Re is, and 0 when both
    are 0.
    """
    tp, fp, fn, tn = counts.tp, counts.fp, counts.fn, counts.tn
    re_ = _ratio(tp, tp + fn)
    pr = _ratio(tp, tp + fp)
    if math.isnan(re_) or math.isnan(pr):
        f = math.nan
    else:
        f = 0.0 if pr + re_ == 0 else 2 * pr * re_ / (pr + re_)
    return {
        "Re": re_,
        "Sp": _ratio(tn, tn + fp),
        "FPR": _ratio(fp, fp + tn),
        "FNR": _ratio(fn, tp + fn),
        "PWC": 100 * _ratio(fn + fp, tp + fp + fn + tn),
        "Pr": pr,
        "F": f,
    }


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


# --------------------------------------------------------------------------------------------
# Running methods
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """The score of one method on one sequence; ``fps`` is nan for masks scored from files."""

    sequence: str
    method: str
    counts: ConfusionCounts
    fps: float
    frames: int
    scored_frames: int

    @property
    def metrics(self) -> dict[str, float]:
        """The CDnet metrics of :attr:`counts` (see :func:`score`)."""
        return score(self.counts)


def evaluate(sequence: Sequence, subtractor_factory: Callable[[], object], *, name: str,
             save_masks_dir: str | Path | None = None) -> Result:
    """Run a fresh subtractor over every frame of ``sequence`` in order and score it.

    ``subtractor_factory()`` must return an object with ``apply(frame) -> mask``. Unscored
    (learning) frames are fed too. ``fps`` counts only the time spent inside ``apply``. With
    ``save_masks_dir`` each mask is written as ``save_masks_dir/<sequence>/binNNNNNN.png``
    (CDnet result naming, NNNNNN = frame number).
    """
    (result,) = evaluate_together(sequence, {name: subtractor_factory},
                                  {name: _mask_output_dir(save_masks_dir, sequence.name)})
    return result


def evaluate_together(sequence: Sequence, methods: dict[str, Callable[[], Any]],
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
    masks = _index_masks(masks_dir)
    counts = ConfusionCounts()
    for number in sequence.scored:
        path = masks.get(number)
        if path is None:
            raise SourceError(f"missing mask for frame {number}: {masks_dir / f'bin{number:06d}.png'}")
        mask = _read_image(path, cv2.IMREAD_GRAYSCALE)
        counts += confusion_counts(mask, sequence.ground_truth(number), sequence.roi)
    return Result(sequence.name, name, counts, math.nan,
                  len(sequence.frame_numbers), len(sequence.scored))


def _index_masks(masks_dir: Path) -> dict[int, Path]:
    index: dict[int, Path] = {}
    for p in sorted(masks_dir.iterdir()):
        if p.suffix.lower() not in _IMAGE_SUFFIXES or not (m := _LAST_DIGITS.search(p.stem)):
            continue
        number = int(m.group(1))
        if number in index:
            raise SourceError(f"two masks for frame {number} in {masks_dir}: {index[number].name}, {p.name}")
        index[number] = p
    return index


def evaluate_all(sequences: Iterable[Sequence], methods: dict[str, Callable[[], object]], *,
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


# --------------------------------------------------------------------------------------------
# OpenCV baselines
# --------------------------------------------------------------------------------------------

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


def opencv_factory(name: str) -> Callable[[], object]:
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

    def __init__(self, config: dict):
        # Imported here so that baseline-only runs never load (and JIT-compile) the models.
        from bgsub.config import make_model_from
        from bgsub.postprocess import PostProcessor
        from bgsub.train import check_fittable

        self.model = make_model_from(config)
        self.postprocess = PostProcessor(config["postprocess"])
        self.gray = bool(config["model"]["gray"])
        self.init_frames = config["model"]["init_frames"]
        if self.init_frames:
            check_fittable(self.model)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """The post-processed 0/255 mask of ``frame`` (a BGR or gray uint8 image)."""
        return self.postprocess(self.model.apply(model_input(frame, self.model, self.gray)))

    def prepare(self, sequence: Sequence) -> None:
        """With ``model.init_frames`` N: fit the model to the first N frames of ``sequence`` by
        EM, as ``bgsub run --init-frames N`` does (not timed: fps counts ``apply`` only)."""
        if self.init_frames:
            images = (image for _, image in sequence.frames())
            self.model.fit(model_input(image, self.model, self.gray)
                           for image in itertools.islice(images, self.init_frames))

    def warm_up(self, channels: int = 3) -> None:
        """Compile the model's kernels on a tiny frame, then forget it, so that timing a sequence
        measures the work per frame rather than Numba's one-off compilation."""
        shape = (8, 8) if self.gray or channels == 1 else (8, 8, channels)
        tiny = np.zeros(shape, np.uint8)
        for _ in range(2):  # the first frame initialises, the second runs the update kernel
            self.model.apply(tiny)
        self.model.reset()


def bgsub_factory(config: dict) -> Callable[[], BgsubSubtractor]:
    """A zero-argument factory of warmed-up :class:`BgsubSubtractor` for a resolved config."""

    def factory() -> BgsubSubtractor:
        subtractor = BgsubSubtractor(config)
        subtractor.warm_up()
        return subtractor

    return factory


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def mean_metrics(results: Iterable[Result]) -> dict[str, dict[str, float]]:
    """Per method, the mean over sequences of each metric and of fps (CDnet averages videos).

    Undefined (nan) values are left out of a mean; a mean of nothing is nan.
    """
    by_method: dict[str, list[Result]] = {}
    for r in results:
        by_method.setdefault(r.method, []).append(r)
    means = {}
    for method, rs in by_method.items():
        rows = [r.metrics | {"fps": r.fps} for r in rs]
        means[method] = {k: _nanmean([row[k] for row in rows]) for k in (*METRICS, "fps")}
    return means


def _nanmean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def format_table(results: list[Result]) -> str:
    """A plain-text table: one row per sequence and method, then one mean row per method."""
    header = ["sequence", "method", *METRICS, "fps"]
    rows = [[r.sequence, r.method, *(_fmt(r.metrics[k]) for k in METRICS), _fmt_fps(r.fps)]
            for r in _ordered(results)]
    n_seq = len({r.sequence for r in results})
    for method, m in mean_metrics(results).items():
        rows.append([f"mean ({n_seq} seq)", method, *(_fmt(m[k]) for k in METRICS), _fmt_fps(m["fps"])])
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = []
    for i, row in enumerate([header, *rows]):
        cells = [c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ordered(results: list[Result]) -> list[Result]:
    """Results grouped by sequence (in first-seen order), methods in first-seen order."""
    seqs = list(dict.fromkeys(r.sequence for r in results))
    return sorted(results, key=lambda r: seqs.index(r.sequence))


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4f}"


def _fmt_fps(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def to_json(results: list[Result], config: dict | None = None) -> str:
    """The results and per-method means as JSON text; undefined values are ``null``. ``config``
    (the bgsub configuration that was evaluated) is included when given."""
    def clean(d):
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}

    doc = {
        "results": [
            clean({"sequence": r.sequence, "method": r.method, "tp": r.counts.tp, "fp": r.counts.fp,
                   "fn": r.counts.fn, "tn": r.counts.tn, **r.metrics, "fps": r.fps,
                   "frames": r.frames, "scored_frames": r.scored_frames})
            for r in results
        ],
        "mean": {method: clean(m) for method, m in mean_metrics(results).items()},
    }
    if config is not None:
        doc["config"] = config
    return json.dumps(doc, indent=2)


# Distinct BGR colours for the methods' bars.
_PALETTE = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
            (75, 86, 140), (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23)]


def plot_results(results: list[Result], path: str | Path) -> None:
    """Write a bar chart of F per sequence (groups) and method (colours) as an image file.

    Drawn with OpenCV only. Undefined F values get no bar. Raises :class:`SinkError` when the file
    cannot be written.
    """
    seqs = list(dict.fromkeys(r.sequence for r in results))
    methods = list(dict.fromkeys(r.method for r in results))
    f = {(r.sequence, r.method): r.metrics["F"] for r in results}
    bar_w, gap, left, top, plot_h = 36, 30, 60, 40, 300
    group_w = bar_w * len(methods)
    font = cv2.FONT_HERSHEY_SIMPLEX
    legend_w = 50 + max((cv2.getTextSize(m, font, 0.45, 1)[0][0] for m in methods), default=0)
    width = left + len(seqs) * (group_w + gap) + gap + legend_w
    height = top + plot_h + 60
    img = np.full((height, width, 3), 255, np.uint8)
    base = top + plot_h
    for tick in range(6):  # y axis 0..1 with light grid lines
        y = base - int(plot_h * tick / 5)
        cv2.line(img, (left, y), (width - legend_w, y), (225, 225, 225), 1)
        cv2.putText(img, f"{tick / 5:.1f}", (left - 40, y + 5), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "F", (left - 40, top - 15), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    for i, seq in enumerate(seqs):
        x0 = left + gap + i * (group_w + gap)
        for j, method in enumerate(methods):
            value = f.get((seq, method), math.nan)
            if math.isnan(value):
                continue
            x = x0 + j * bar_w
            y = base - int(round(plot_h * min(max(value, 0.0), 1.0)))
            cv2.rectangle(img, (x + 2, y), (x + bar_w - 3, base), _PALETTE[j % len(_PALETTE)], cv2.FILLED)
            cv2.putText(img, f"{value:.2f}", (x + 2, y - 4), font, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, seq[: max(group_w // 9, 4)], (x0, base + 22), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.line(img, (left, base), (width - legend_w, base), (0, 0, 0), 1)
    lx = width - legend_w + 10
    for j, method in enumerate(methods):
        y = top + j * 22
        cv2.rectangle(img, (lx, y), (lx + 14, y + 14), _PALETTE[j % len(_PALETTE)], cv2.FILLED)
        cv2.putText(img, method, (lx + 20, y + 12), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    write_image(Path(path), img)
