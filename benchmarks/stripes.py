"""What the stripes of ``bgsub/models/stripes.py`` cost and buy: the mixture model's time per
frame on one thread and on all of Numba's threads, and the cost of one kernel call on an empty
stripe (the overhead ``MIN_STRIPE`` is sized against).

    python benchmarks/stripes.py [--input sample_videos/highway_320x240.mp4] [--frames 200]

Both thread counts run in one process on the same decoded frames, taking turns frame by frame,
so a change in the machine's load hits both alike; medians are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput  # noqa: E402  (frame reading is shared with the throughput benchmark)

from bgsub.models import GaussianMixture, kernels  # noqa: E402
from bgsub.models.mixture import NO_STILL  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE_VIDEO = REPO / "sample_videos" / "highway_320x240.mp4"
KERNEL_ONLY = dict(exposure_compensation=False, jitter_compensation=False, ghost_frames=0)


def read_frames(path, count):
    frames = throughput.read_video_frames(path, count)
    if not frames:
        raise SystemExit(f"no frames read from {path}")
    return frames


def frame_times(frames):
    """Milliseconds per frame of the mixture kernel (the model without the stages around it) on
    one thread and on all threads."""
    threads = {1: [], numba.config.NUMBA_NUM_THREADS: []}
    models = {n: GaussianMixture(**KERNEL_ONLY) for n in threads}
    for frame in frames:
        for n, model in models.items():
            numba.set_num_threads(n)
            start = time.perf_counter()
            model.apply(frame)
            threads[n].append((time.perf_counter() - start) * 1e3)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return {n: statistics.median(times[10:]) for n, times in threads.items()}


def dispatch_us(repeats=20000):
    """Microseconds of one call of the colour mixture kernel on an empty stripe."""
    kernel = kernels.mixture_kernel(3)
    n = 16
    args = (np.zeros(n * 3, np.uint8), np.zeros(5 * n * 5, np.float32), np.ones(n, np.uint8),
            np.zeros(n, np.uint8), 0.01, 12.0, 20.0, 0.9, 0.05, 15.0, 10.0, 75.0, 0.0, NO_STILL,
            0.0, kernels.NO_FEEDBACK)
    kernel(0, 0, *args)
    start = time.perf_counter()
    for _ in range(repeats):
        kernel(0, 0, *args)
    return (time.perf_counter() - start) / repeats * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default=str(SAMPLE_VIDEO))
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    frames = read_frames(args.input, args.frames)
    height, width = frames[0].shape[:2]
    print(f"{width}x{height}, {len(frames)} frames, gmm kernel (median ms per frame)")
    for n, ms in frame_times(frames).items():
        print(f"  {n} thread{'s' if n > 1 else ''}: {ms:.2f} ms")
    print(f"one kernel call on an empty stripe: {dispatch_us():.1f} us")


if __name__ == "__main__":
    main()
