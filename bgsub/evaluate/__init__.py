"""Scoring background subtraction against per-pixel ground truth (the ``bgsub eval`` library).

Two dataset layouts are understood:

* **CDnet** (changedetection.net): ``input/inNNNNNN.jpg`` frames, ``groundtruth/gtNNNNNN.png``
  label images, optional ``ROI.bmp`` and ``temporalROI.txt`` ("first last").
* **Wallflower**: ``bNNNNN.bmp`` frames and ``hand_segmented_NNNNN.BMP`` ground truth (white =
  foreground) for the few frames that are evaluated.

Scoring follows the official CDnet rule (see :func:`confusion_counts`): counts are summed over
all scored frames of one video and the metrics are computed from the sums (:func:`score`).

Modules: ``sequences`` (the two layouts), ``scoring`` (the rule and the metrics), ``running``
(methods over sequences, or masks from files), ``methods`` (OpenCV's subtractors and bgsub behind
``apply``), ``report`` (means, table, JSON, chart). Their public names are re-exported here.
"""

from __future__ import annotations

from bgsub.evaluate.methods import OPENCV_METHODS, BgsubSubtractor, bgsub_factory, opencv_factory
from bgsub.evaluate.report import format_table, mean_metrics, plot_results, to_json
from bgsub.evaluate.running import (
    Subtractor,
    evaluate,
    evaluate_all,
    evaluate_masks,
    evaluate_together,
    index_masks,
)
from bgsub.evaluate.scoring import (
    GT_MOTION,
    GT_OUTSIDE_ROI,
    GT_SHADOW,
    GT_STATIC,
    GT_UNKNOWN,
    METRICS,
    PREDICTION_THRESHOLD,
    ConfusionCounts,
    Result,
    confusion_counts,
    score,
)
from bgsub.evaluate.sequences import Sequence, load_sequence

__all__ = [
    "GT_MOTION",
    "GT_OUTSIDE_ROI",
    "GT_SHADOW",
    "GT_STATIC",
    "GT_UNKNOWN",
    "METRICS",
    "OPENCV_METHODS",
    "PREDICTION_THRESHOLD",
    "BgsubSubtractor",
    "ConfusionCounts",
    "Result",
    "Sequence",
    "Subtractor",
    "bgsub_factory",
    "confusion_counts",
    "evaluate",
    "evaluate_all",
    "evaluate_masks",
    "evaluate_together",
    "format_table",
    "index_masks",
    "load_sequence",
    "mean_metrics",
    "opencv_factory",
    "plot_results",
    "score",
    "to_json",
]
