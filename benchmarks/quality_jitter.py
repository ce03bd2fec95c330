"""Camera shake: every frame of a sequence moved by a random whole-pixel shift, its ground truth
and region of interest moved with it, scored as ``bgsub eval`` scores the steady sequence.

    python benchmarks/quality_jitter.py [--data ../shared/data] [--amplitude 3] [--seed 1]
                                        [SEQUENCE ...]

Each frame's shift is drawn uniformly from ``-A .. A`` pixels in x and in y (seeded, the same
for every method); pixels that the shift brings in from outside the frame are not scored. Methods:
the default configuration, the default without shake compensation, and OpenCV's MOG2 and KNN
at their defaults, taking turns on each frame.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from bgsub import evaluate as ev  # noqa: E402
from bgsub.config import resolve  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"
SEQUENCES = ["highway", "WavingTrees", "sbi_Board", "sbi_HallAndMonitor"]


def methods():
    return {
        "bgsub default": ev.bgsub_factory(resolve({})),
        "bgsub, no shake compensation": ev.bgsub_factory(
            resolve({"model": {"jitter_compensation": False}})),
        "mog2": ev.opencv_factory("mog2"),
        "knn": ev.opencv_factory("knn"),
    }


def shaken(image, dx, dy, border):
    """``image`` moved by (dx, dy); uncovered pixels take ``border`` (or the edge, if None)."""
    height, width = image.shape[:2]
    move = np.float32([[1, 0, dx], [0, 1, dy]])
    if border is None:
        return cv2.warpAffine(image, move, (width, height), borderMode=cv2.BORDER_REPLICATE)
    return cv2.warpAffine(image, move, (width, height), flags=cv2.INTER_NEAREST,
                          borderValue=border)


def score_shaken(seq, amplitude, seed):
    """``{method: F}`` on ``seq`` with every frame shaken."""
    rng = np.random.default_rng(seed)
    subtractors = {name: make() for name, make in methods().items()}
    counts = dict.fromkeys(subtractors, ev.ConfusionCounts())
    scored = set(seq.scored)
    for number, frame in seq.frames():
        dx, dy = (int(v) for v in rng.integers(-amplitude, amplitude + 1, size=2))
        image = shaken(frame, dx, dy, None)
        if number in scored:
            gt = shaken(seq.ground_truth(number), dx, dy, ev.GT_OUTSIDE_ROI)
            roi = shaken(seq.roi.astype(np.uint8), dx, dy, 0) > 0
        for name, subtractor in subtractors.items():
            mask = subtractor.apply(image)
            if number in scored:
                counts[name] += ev.confusion_counts(mask, gt, roi)
    return {name: ev.score(c)["F"] for name, c in counts.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sequences", nargs="*", default=SEQUENCES)
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of sequence folders")
    parser.add_argument("--amplitude", type=int, default=3, help="largest shift, pixels")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rows = {}
    for name in args.sequences:
        print(f"{name}: shaken by up to {args.amplitude} px", file=sys.stderr, flush=True)
        rows[name] = score_shaken(ev.load_sequence(Path(args.data) / name), args.amplitude,
                                  args.seed)
    names = list(methods())
    print("| sequence | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for seq, f in rows.items():
        print(f"| {seq} | " + " | ".join(f"{f[n]:.3f}" for n in names) + " |")


if __name__ == "__main__":
    main()
