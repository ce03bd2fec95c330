"""The official CDnet scoring rule: confusion counts summed over a video, metrics from the sums,
and the score of one method on one sequence."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bgsub.errors import SourceError


# CDnet ground-truth labels.
GT_STATIC = 0
GT_SHADOW = 50
GT_OUTSIDE_ROI = 85
GT_UNKNOWN = 170
GT_MOTION = 255

# A predicted value above this is foreground; OpenCV marks shadows with 127, which is background.
PREDICTION_THRESHOLD = 127

METRICS = ("Re", "Sp", "FPR", "FNR", "PWC", "Pr", "F")




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
