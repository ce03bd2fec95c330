"""Reporting results: means over sequences, the text table, JSON and a bar chart."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from bgsub.evaluate.scoring import METRICS, Result
from bgsub.sinks import write_image


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
PALETTE = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
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
            cv2.rectangle(img, (x + 2, y), (x + bar_w - 3, base), PALETTE[j % len(PALETTE)], cv2.FILLED)
            cv2.putText(img, f"{value:.2f}", (x + 2, y - 4), font, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, seq[: max(group_w // 9, 4)], (x0, base + 22), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.line(img, (left, base), (width - legend_w, base), (0, 0, 0), 1)
    lx = width - legend_w + 10
    for j, method in enumerate(methods):
        y = top + j * 22
        cv2.rectangle(img, (lx, y), (lx + 14, y + 14), PALETTE[j % len(PALETTE)], cv2.FILLED)
        cv2.putText(img, method, (lx + 20, y + 12), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    write_image(Path(path), img)
