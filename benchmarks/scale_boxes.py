"""Boxes on swaying foliage at 320x240 and at 1080p: do the post-processing and event defaults
behave the same at both sizes?

    python benchmarks/scale_boxes.py [--data ../shared/data/WavingTrees]

Wallflower's WavingTrees (160x120, a tree swaying the whole time; a person enters at frame
242) is upscaled (bilinear) to 320x240 and to 1920x1080, and the default model runs over frames
0..241 at each size. Every box in frames 200..241 is a false one (foliage). The same raw masks
are post-processed with each setting below and the boxes an event would draw (blobs of at least
``events.min_area``) counted; printed: mean boxes per frame and mean share of the frame that is
foreground. Settings in pixels give many more boxes at 1080p; settings as a share of the frame
give about the same number at both sizes. Last, the CPU time each setting's post-processing
takes per 1080p mask (process time, median of 5 passes over the masks).
"""

import argparse
import glob
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from bgsub.config import resolve
from bgsub.config import make_model_from
from bgsub.frames import model_input
from bgsub.postprocess import PostProcessor, find_blobs
from bgsub.units import area_pixels

SIZES = ((320, 240), (1920, 1080))
SETTINGS = {
    "pixels (before)": {"median": 5, "close": 5, "min_area": 0, "box": 25},
    "defaults": None,  # filled from the current defaults
    "all in percent": {"median": "4%", "close": "3%", "min_area": 0, "box": "0.03%"},
}
SCORED = range(200, 242)
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "WavingTrees"


def raw_masks(frames, size):
    """The default model's raw masks of ``frames`` upscaled to ``size``, for :data:`SCORED`."""
    config = resolve({})
    model = make_model_from(config)
    masks = []
    for index, frame in enumerate(frames):
        image = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        mask = model.apply(model_input(image, model, config.model.gray))
        if index in SCORED:
            masks.append(mask.copy())
    return masks


def count_boxes(masks, setting):
    post = PostProcessor(resolve({"postprocess": {k: setting[k] for k in
                                                  ("median", "close", "min_area")}}).postprocess)
    boxes, foreground = [], []
    for mask in masks:
        clean = post(mask)
        boxes.append(len(find_blobs(clean, max(area_pixels(setting["box"], mask.shape), 1))))
        foreground.append(100.0 * np.count_nonzero(clean) / clean.size)
    return float(np.mean(boxes)), float(np.mean(foreground))


def cpu_ms(masks, setting):
    """Process CPU milliseconds per mask of ``setting``'s post-processing (median of 5 passes)."""
    post = PostProcessor(resolve({"postprocess": {k: setting[k] for k in
                                                  ("median", "close", "min_area")}}).postprocess)
    post(masks[0])  # sizes and kernels are made once per frame size
    passes = []
    for _ in range(5):
        start = time.process_time()
        for mask in masks:
            post(mask)
        passes.append((time.process_time() - start) * 1000 / len(masks))
    return statistics.median(passes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA),
                        help="Wallflower WavingTrees folder (default: %(default)s)")
    args = parser.parse_args()
    files = sorted(glob.glob(os.path.join(args.data, "b*.bmp")))[:242]
    frames = [cv2.imread(f) for f in files]
    defaults = resolve({})
    SETTINGS["defaults"] = {**{k: defaults.postprocess.to_dict()[k] for k in
                                         ("median", "close", "min_area")},
                                      "box": defaults.events.min_area}
    masks = {size: raw_masks(frames, size) for size in SIZES}
    print(f"WavingTrees frames {SCORED.start}..{SCORED.stop - 1} (foliage only), upscaled; "
          "mean boxes per frame, mean foreground %")
    for name, setting in SETTINGS.items():
        cells = []
        for size in SIZES:
            boxes, foreground = count_boxes(masks[size], setting)
            cells.append(f"{size[0]}x{size[1]}: {boxes:5.2f} boxes, {foreground:5.2f}%")
        described = ", ".join(f"{k} {v}" for k, v in setting.items())
        print(f"  {name:<19} ({described})\n      " + "   ".join(cells))
    print("post-processing CPU per 1920x1080 mask: " + ", ".join(
        f"{name} {cpu_ms(masks[SIZES[1]], setting):.1f} ms" for name, setting in SETTINGS.items()))


if __name__ == "__main__":
    main()
