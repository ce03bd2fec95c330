"""Recall by object size: what ``--downscale`` costs small objects.

    bgsub eval SEQ... --save-masks M1                 # the masks at full resolution
    bgsub eval SEQ... --downscale 2 --save-masks M2   # the same with the model at half size
    python benchmarks/object_recall.py SEQ... --masks M1/bgsub-feedback --masks M2/bgsub-feedback

Every moving object of the ground truth (a connected region of motion, 8-connected, in a scored
frame, inside the ROI) is binned by its area in input pixels; an object counts as found when the
mask marks at least half of its pixels. The table gives, per bin and per mask folder, the share
of objects found and the pixel recall inside them, over all the sequences together.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from bgsub.evaluate import GT_MOTION, index_masks, load_sequence  # noqa: E402

BINS = (0, 50, 200, 800, 3200)  # object areas in pixels: [0, 50), [50, 200), ... [3200, inf)
FOUND = 0.5  # share of an object's pixels the mask must mark


def _bin(area):
    return int(np.searchsorted(BINS, area, side="right")) - 1


def object_counts(sequences, masks_dir):
    """Per size bin: ``[objects, found, object pixels, pixels marked]`` for one mask folder."""
    totals = np.zeros((len(BINS), 4), dtype=np.int64)
    for sequence in sequences:
        folder = Path(masks_dir)
        if (folder / sequence.name).is_dir():
            folder = folder / sequence.name
        masks = index_masks(folder)
        for number in sequence.scored:
            motion = ((sequence.ground_truth(number) == GT_MOTION) & sequence.roi).astype(np.uint8)
            count, objects, stats, _ = cv2.connectedComponentsWithStats(motion, connectivity=8)
            if count == 1:
                continue
            marked = cv2.imread(str(masks[number]), cv2.IMREAD_GRAYSCALE) > 127
            hits = np.bincount(objects[marked], minlength=count)
            for label in range(1, count):
                area = int(stats[label, cv2.CC_STAT_AREA])
                row = totals[_bin(area)]
                row += (1, hits[label] >= FOUND * area, area, hits[label])
    return totals


def format_table(names, counts):
    """Markdown: one row per size bin, recall columns per mask folder."""
    header = "| object area (pixels) | objects |" + "".join(
        f" found, {name} | pixel recall, {name} |" for name in names)
    lines = [header, "|---|---|" + "---|---|" * len(names)]
    for index, low in enumerate(BINS):
        high = f"{BINS[index + 1]}" if index + 1 < len(BINS) else "inf"
        objects = counts[0][index, 0]
        if objects == 0:
            continue
        cells = "".join(f" {c[index, 1] / objects:.3f} | {c[index, 3] / c[index, 2]:.3f} |"
                        for c in counts)
        lines.append(f"| {low}..{high} | {objects} |{cells}")
    return "\n".join(lines)


def main(argv=None):
    """Print the table; returns the counts per mask folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sequences", nargs="+", help="CDnet or Wallflower sequence folders")
    parser.add_argument("--masks", action="append", required=True,
                        help="a mask folder as bgsub eval --save-masks writes (repeatable)")
    args = parser.parse_args(argv)
    sequences = [load_sequence(path) for path in args.sequences]
    counts = [object_counts(sequences, folder) for folder in args.masks]
    print(f"{len(sequences)} sequences; an object is found when the mask marks "
          f"{FOUND:.0%} of its pixels")
    print()
    print(format_table(args.masks, counts))
    return counts


if __name__ == "__main__":
    main()
