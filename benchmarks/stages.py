"""Where the default model's CPU time goes: each stage of ``FeedbackMixture.apply`` timed alone.

    python benchmarks/stages.py [--size 1920x1080] [--warmup 100] [--frames 30]

Highway frames (as ``benchmarks/throughput.py`` loads them) resized to ``--size``; the model learns
``--warmup`` frames, then ``--frames`` frames are timed on one thread (``time.process_time``, Numba
and OpenCV set to one thread), each stage wrapped where it is called: exposure compensation, the
shake estimate, the feedback state (the dilation of the last labels), the mixture kernel, ghost
absorption and the copy of the labels; the rest of ``apply`` (frame checks, the mask's threshold)
is the remainder; post-processing with the defaults is timed beside it. Also prints the share of
pixels by number of live components, which decides how much of the kernel's work takes its fast
lone-component loop.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput  # noqa: E402  (frame loading is shared with the throughput benchmark)

from bgsub import FeedbackMixture  # noqa: E402
from bgsub.config import PostprocessConfig  # noqa: E402
from bgsub.models import kernels, mixture  # noqa: E402
from bgsub.postprocess import PostProcessor  # noqa: E402


class StageClock:
    """CPU seconds per stage, summed over the calls made while ``on``."""

    def __init__(self):
        self.seconds = {}
        self.on = False

    def timed(self, name, function):
        """``function`` with its CPU time added to ``name``."""

        def wrapper(*args, **kwargs):
            start = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                if self.on:
                    self.seconds[name] = self.seconds.get(name, 0.0) + time.process_time() - start

        return wrapper


def instrument(model, clock):
    """Wrap ``model``'s stages (on the instance) and the stripe runner (in the mixture module)."""
    for method, name in (("_compensate_exposure", "exposure compensation"),
                         ("_compensate_shift", "shake estimate and compensation"),
                         ("_feedback_state", "feedback state (dilated last labels)"),
                         ("_learned", "copy of the labels")):
        setattr(model, method, clock.timed(name, getattr(model, method)))
    run = mixture.stripes.run

    def stripes_run(kernel, *args):
        name = "ghost absorption" if kernel is kernels.ghost_absorb else "mixture kernel"
        return clock.timed(name, run)(kernel, *args)

    return run, stripes_run


def measure(frames, warmup):
    """``(stage CPU ms per frame, apply ms, post-processing ms, live-component shares)``."""
    model, clock = FeedbackMixture(), StageClock()
    post = PostProcessor(PostprocessConfig())
    original, replacement = instrument(model, clock)
    mixture.stripes.run = replacement
    try:
        for frame in frames[:warmup]:
            post(model.apply(frame))
        clock.on = True
        apply_s = post_s = 0.0
        for frame in frames[warmup:]:
            start = time.process_time()
            mask = model.apply(frame)
            middle = time.process_time()
            post(mask)
            apply_s += middle - start
            post_s += time.process_time() - middle
    finally:
        mixture.stripes.run = original
    count = len(frames) - warmup
    stages = {name: 1000 * s / count for name, s in clock.seconds.items()}
    stages["rest of apply"] = 1000 * apply_s / count - sum(stages.values())
    shares = np.bincount(model.n_components, minlength=model.params.k + 1) / model.n_components.size
    return stages, 1000 * apply_s / count, 1000 * post_s / count, shares


def main(argv=None):
    """Print the stage table; returns ``measure``'s result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1920x1080", help="frame size (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=100, help="frames learned before timing")
    parser.add_argument("--frames", type=int, default=30, help="frames timed")
    parser.add_argument("--data", default=str(throughput.DEFAULT_DATA), help="CDnet sequence folder")
    args = parser.parse_args(argv)
    size = throughput.parse_size(args.size)
    source, description = throughput.load_frames(args.warmup + args.frames, data=args.data)
    frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in source]
    warmup = min(args.warmup, len(frames) - 1)
    threads = numba.get_num_threads(), cv2.getNumThreads()
    numba.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        stages, apply_ms, post_ms, shares = measure(frames, warmup)
    finally:
        numba.set_num_threads(threads[0])
        cv2.setNumThreads(threads[1])
    print(f"{description} at {args.size}: {warmup} learned, {len(frames) - warmup} timed; "
          "one thread, CPU ms per frame")
    print()
    print("| stage | CPU ms/frame |")
    print("|---|---|")
    for name, ms in sorted(stages.items(), key=lambda item: -item[1]):
        print(f"| {name} | {ms:.2f} |")
    print(f"| **FeedbackMixture.apply** | **{apply_ms:.2f}** |")
    print(f"| post-processing (defaults) | {post_ms:.2f} |")
    print()
    print("live components per pixel: " + ", ".join(
        f"{m}: {100 * share:.1f}%" for m, share in enumerate(shares) if m > 0))
    return stages, apply_ms, post_ms, shares


if __name__ == "__main__":
    main()
