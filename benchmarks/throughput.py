"""Per-frame throughput of bgsub's models against OpenCV's MOG2, on the same frames in memory.

    python benchmarks/throughput.py [--sizes 320x240,1280x720,1920x1080] [--k 5] [--repeats 5]
                                    [--frames 30] [--warmup 30] [--k-sweep 1,3,5 --k-sweep-size 1920x1080]

Frames are the CDnet highway sequence (``../shared/data/highway``, or ``--data``), or the bundled
``sample_videos/highway_320x240.mp4`` when that is absent, decoded once and resized to each size.
Every method first learns on ``--warmup`` frames (this also compiles the Numba kernels), then the
methods take turns on the same ``--frames`` frames, ``--repeats`` times, each model carrying on
from its own state; the table gives the median of the repeats. All methods use every core
(OpenCV's and Numba's default thread counts) unless ``--threads`` says otherwise.

Methods: ``bgsub-default``, what ``bgsub run`` does to a frame with the default configuration
(the feedback mixture with K = ``--k`` and its stages, then the post-processing);
``bgsub-default-downscale-N``, the same with ``--downscale N`` (the model on frames reduced N
times per side, masks scaled back, post-processing at full size);
``bgsub-fast``, the same with ``--preset fast`` (one Gaussian per pixel); ``bgsub-gmm``, the plain
mixture (``--model gmm``); and
``cv2.createBackgroundSubtractorMOG2`` with default parameters (K = 5 components unless ``--k``)
with and without shadow detection. Ratios are bgsub's throughput over MOG2's without shadows.

The memory bound: the bytes of state and frame the default model reads and writes per pixel per
frame (counted from its layout and its mean number of live components after the warm-up, at the
largest size), times the pixels, over the memory bandwidth of one thread measured here on a plain
read-modify-write of a float32 array far larger than the caches. No implementation that keeps
this state can take less CPU time per frame than that.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

import bgsub  # noqa: E402
from bgsub.config import resolve  # noqa: E402
from bgsub.evaluate import BgsubSubtractor  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "highway"
SAMPLE_VIDEO = REPO / "sample_videos" / "highway_320x240.mp4"
FIRST_FRAME = 400  # past the sequence's opening frames, with traffic in view
REFERENCE = "mog2"


def parse_size(text):
    """``"1920x1080"`` -> ``(1920, 1080)``."""
    width, height = text.lower().split("x")
    return int(width), int(height)


def load_frames(count, data=DEFAULT_DATA, video=SAMPLE_VIDEO):
    """``count`` consecutive BGR frames: CDnet ``input/in*.jpg`` from ``data`` if it exists,
    otherwise the sample video. Returns ``(frames, description)``."""
    inputs = Path(data) / "input"
    if inputs.is_dir():
        names = sorted(inputs.glob("in*.jpg"))
        start = min(FIRST_FRAME, max(len(names) - count, 0))
        frames = [cv2.imread(str(name)) for name in names[start : start + count]]
        return frames, f"{data} frames {start + 1}..{start + len(frames)}"
    frames = read_video_frames(video, count)
    if not frames:
        raise SystemExit(f"no frames: neither {inputs} nor {video} could be read")
    return frames, f"{video} frames 1..{len(frames)}"


def read_video_frames(path, count):
    """The first ``count`` frames (BGR) of the video at ``path``; fewer if it is shorter."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def methods(k):
    """Name -> factory of a fresh model with an ``apply(frame)`` method."""

    def mog2(shadows):
        def make():
            model = cv2.createBackgroundSubtractorMOG2(detectShadows=shadows)
            model.setNMixtures(k)
            return model

        return make

    def configured(settings):
        return lambda: BgsubSubtractor(resolve(settings))

    return {
        "bgsub-default": configured({"model": {"k": k}}),
        "bgsub-default-downscale-2": configured({"model": {"k": k, "downscale": 2}}),
        "bgsub-default-downscale-4": configured({"model": {"k": k, "downscale": 4}}),
        "bgsub-fast": configured({"preset": "fast"}),
        "bgsub-gmm": configured({"model": {"name": "gmm", "k": k}}),
        REFERENCE: mog2(False),
        "mog2-shadows": mog2(True),
    }


def measure(factories, warmup, frames, repeats):
    """Interleaved timing: name -> (frames per second, CPU milliseconds per frame), one pair
    per repeat. CPU time is the whole process's (every thread), so it shows the work a method
    does even when other programs share the cores."""
    models = {name: make() for name, make in factories.items()}
    for model in models.values():
        for frame in warmup:
            model.apply(frame)
    timings = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for frame in frames:
                model.apply(frame)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            timings[name].append((len(frames) / wall, 1000 * cpu / len(frames)))
    return timings


def _row(size, name, k, timings, reference_fps):
    width, height = size
    fps = [f for f, _ in timings]
    median = statistics.median(fps)
    return {
        "size": f"{width}x{height}",
        "method": name,
        "k": k,
        "fps": median,
        "mpx_s": median * width * height / 1e6,
        "ratio": median / reference_fps,
        "cpu_ms": statistics.median(c for _, c in timings),
        "spread": (min(fps), max(fps)),
    }


def _median_fps(timings):
    return statistics.median(f for f, _ in timings)


def throughput_rows(source, sizes, k, warmup, count, repeats):
    """One row per (size, method): median fps, Mpx/s, the ratio to MOG2 without shadows and the
    median CPU time per frame."""
    rows = []
    for size in sizes:
        resized = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in source]
        timings = measure(methods(k), resized[:warmup], resized[warmup : warmup + count], repeats)
        reference = _median_fps(timings[REFERENCE])
        for name, values in timings.items():
            rows.append(_row(size, name, k if name != "bgsub-fast" else None, values, reference))
    return rows


def k_sweep_rows(source, size, ks, warmup, count, repeats):
    """Default and MOG2 (no shadows) throughput for each K at one size: how cost grows with K."""
    resized = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in source]
    rows = []
    for k in ks:
        factories = {name: methods(k)[name] for name in ("bgsub-default", REFERENCE)}
        timings = measure(factories, resized[:warmup], resized[warmup : warmup + count], repeats)
        reference = _median_fps(timings[REFERENCE])
        for name, values in timings.items():
            rows.append(_row(size, name, k, values, reference))
    return rows


def state_rows(ks, channels=3):
    """Learned state in bytes per pixel: bgsub's models and MOG2 (K components of weight,
    variance and C means in float32, plus a byte for the number of live components)."""
    rows = [{"method": "bgsub-fast", "k": None, "bytes": bgsub.SingleGaussian().bytes_per_pixel(channels)}]
    for k in ks:
        rows.append({"method": "bgsub-default", "k": k, "bytes": bgsub.FeedbackMixture(k=k).bytes_per_pixel(channels)})
        rows.append({"method": "bgsub-gmm", "k": k, "bytes": bgsub.GaussianMixture(k=k).bytes_per_pixel(channels)})
        rows.append({"method": REFERENCE, "k": k, "bytes": k * (2 + channels) * 4 + 1})
    return rows


def memory_bandwidth(megabytes=512, repeats=5):
    """Bytes per second one thread moves in a plain read-modify-write pass (``a *= c``) over a
    float32 array of ``megabytes``, far larger than the caches: the median of ``repeats``."""
    array = np.ones(megabytes * 2**20 // 4, dtype=np.float32)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.multiply(array, np.float32(0.999), out=array)
        rates.append(2 * array.nbytes / (time.perf_counter() - start))
    return statistics.median(rates)


def touched_bytes(model, channels=3):
    """Bytes of memory the default model reads and writes per pixel per frame, from its layout:
    the kernel reads and writes every live component ((2 + C) float32 each) and D (float32),
    reads the component count, the previous label, its dilation, the still count and the frame's
    C bytes, and writes the label; around it, the dilation, the copy of the labels and the
    mask's threshold read one byte and write one, and the ghost screen reads the still counts."""
    component = (2 + channels) * 4
    live = float(np.mean(model.n_components))
    kernel = 2 * component * live + 2 * 4 + 1 + 1 + 1 + 1 + channels + 1
    return kernel + 3 * 2 + 1, live


def memory_bound(source, size, k, warmup, megabytes=512):
    """``(bytes per pixel, live components, bandwidth, bound ms)`` of the default model at
    ``size`` after learning ``warmup`` of the ``source`` frames (bandwidth measured on
    ``megabytes``)."""
    subtractor = BgsubSubtractor(resolve({"model": {"k": k}}))
    for frame in source[:warmup]:
        subtractor.apply(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    per_pixel, live = touched_bytes(subtractor.model)
    bandwidth = memory_bandwidth(megabytes)
    return per_pixel, live, bandwidth, 1000 * per_pixel * size[0] * size[1] / bandwidth


def format_bound(size, bound, rows):
    """The memory-bound line beside the default model's measured CPU time at ``size``."""
    per_pixel, live, bandwidth, bound_ms = bound
    name = f"{size[0]}x{size[1]}"
    measured = {r["method"]: r["cpu_ms"] for r in rows if r["size"] == name}
    text = (f"memory bound of bgsub-default at {name}: {per_pixel:.1f} bytes/pixel/frame "
            f"({live:.2f} live components) x {size[0] * size[1]} pixels / {bandwidth / 1e9:.1f} "
            f"GB/s (one thread, read-modify-write) = {bound_ms:.1f} ms/frame")
    if "bgsub-default" in measured:
        text += (f"; measured {measured['bgsub-default']:.1f} ms CPU/frame "
                 f"({measured['bgsub-default'] / bound_ms:.1f}x the bound), MOG2 "
                 f"{measured[REFERENCE]:.1f} (default / MOG2 = "
                 f"{measured['bgsub-default'] / measured[REFERENCE]:.2f})")
    return text


def format_throughput(rows):
    """A Markdown table of throughput rows."""
    lines = [
        "| frame size | method | K | fps | Mpx/s | x MOG2 | fps min..max | CPU ms/frame |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        k = "-" if r["k"] is None else str(r["k"])
        lo, hi = r["spread"]
        lines.append(
            f"| {r['size']} | {r['method']} | {k} | {r['fps']:.1f} | {r['mpx_s']:.1f} "
            f"| {r['ratio']:.2f} | {lo:.1f}..{hi:.1f} | {r['cpu_ms']:.2f} |"
        )
    return "\n".join(lines)


def format_state(rows):
    """A Markdown table of state sizes."""
    lines = ["| method | K | bytes/pixel (colour) |", "|---|---|---|"]
    for r in rows:
        k = "-" if r["k"] is None else str(r["k"])
        lines.append(f"| {r['method']} | {k} | {r['bytes']} |")
    return "\n".join(lines)


def parse_args(argv=None):
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="320x240,1280x720,1920x1080",
                        help="comma-separated WxH frame sizes (default: %(default)s)")
    parser.add_argument("--k", type=int, default=5, help="components of the mixtures (default: 5)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per method (default: 5)")
    parser.add_argument("--frames", type=int, default=30, help="frames per timed round (default: 30)")
    parser.add_argument("--warmup", type=int, default=100,
                        help="frames learned before timing (default: 100; a young model still has "
                             "foreground everywhere, which costs the mixtures more than a settled one)")
    parser.add_argument("--k-sweep", default="", help="comma-separated K values to time GMM and MOG2 at")
    parser.add_argument("--k-sweep-size", default="1920x1080", help="frame size of the K sweep")
    parser.add_argument("--bandwidth-mb", type=int, default=512,
                        help="size of the array the memory bandwidth is measured on (default: 512)")
    parser.add_argument("--threads", type=int, default=0, help="threads for Numba and OpenCV (0: all cores)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="CDnet sequence folder (default: %(default)s)")
    return parser.parse_args(argv)


def set_threads(threads):
    """Give Numba and OpenCV the same number of threads (0 keeps their defaults: every core)."""
    if threads:
        import numba

        numba.set_num_threads(threads)
        cv2.setNumThreads(threads)


def main(argv=None):
    """Run the benchmark and print Markdown tables."""
    args = parse_args(argv)
    set_threads(args.threads)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    sweep = [int(k) for k in args.k_sweep.split(",") if k]
    source, description = load_frames(args.warmup + args.frames, data=args.data)
    warmup = min(args.warmup, len(source) - 1)
    print(f"frames: {description}; {warmup} warm-up + {len(source) - warmup} timed x {args.repeats} "
          f"repeats, median; {os.cpu_count()} CPUs, OpenCV {cv2.__version__} ({cv2.getNumThreads()} "
          f"threads), bgsub {bgsub.__version__}")
    print()
    rows = throughput_rows(source, sizes, args.k, warmup, args.frames, args.repeats)
    print(format_throughput(rows))
    print()
    largest = max(sizes, key=lambda size: size[0] * size[1])
    print(format_bound(largest, memory_bound(source, largest, args.k, warmup, args.bandwidth_mb), rows))
    if sweep:
        print()
        size = parse_size(args.k_sweep_size)
        print(format_throughput(k_sweep_rows(source, size, sweep, warmup, args.frames, args.repeats)))
    print()
    print(format_state(state_rows(sorted(set(sweep) | {args.k}))))


if __name__ == "__main__":
    main()
