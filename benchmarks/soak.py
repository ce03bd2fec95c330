"""Soak run: many small frames through both models and the pipeline, watching memory.

    python benchmarks/soak.py [--frames 100000] [--size 32x24] [--json]

A long-running camera must keep its memory flat. Three phases, each of ``--frames`` frames of a
small synthetic scene (a block that comes and goes over camera noise, so masks and motion events
keep happening):

1. ``SingleGaussian.apply`` in a loop;
2. ``GaussianMixture.apply`` in a loop;
3. the pipeline's per-frame path: ``pipeline.run`` (reader, model and writer threads) with the
   post-processing, a lossless mask video and the motion-events output with its snapshots.

Each phase is warmed up first (Numba compilation, encoder buffers), then the resident set size
(RSS) is read before and after it. Prints one line per phase, or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from bgsub import make_model, pipeline
from bgsub.config import EventsConfig, PostprocessConfig
from bgsub.events import EventsOutput
from bgsub.outputs import SinkOutput
from bgsub.postprocess import PostProcessor
from bgsub.sinks import VideoSink
from bgsub.sources import Frame

WARMUP = 500
POOL = 97  # distinct noise frames, cycled; prime so the block's cycle does not align with it


def scene(size, count, seed=0):
    """``count`` BGR frames of ``size`` (w, h): noise over a fixed texture and, 20 of every 100
    frames, a block somewhere new (so the model never learns it and events keep coming).
    Frames come from a small pool, so generating them costs next to nothing."""
    width, height = size
    rng = np.random.default_rng(seed)
    texture = rng.integers(60, 200, (height, width, 3)).astype(np.int16)
    pool = [np.clip(texture + rng.integers(-3, 4, texture.shape), 0, 255).astype(np.uint8)
            for _ in range(POOL)]
    block_w, block_h = max(width // 4, 1), max(height // 4, 1)
    for i in range(count):
        frame = pool[i % POOL]
        cycle, phase = divmod(i, 100)
        if phase >= 80:
            x = (7 * cycle) % (width - block_w + 1)
            y = (5 * cycle) % (height - block_h + 1)
            frame = frame.copy()
            frame[y:y + block_h, x:x + block_w] = (250, 20 + 40 * (cycle % 5), 240)
        yield frame


def rss_mb():
    return psutil.Process().memory_info().rss / 2**20


def soak_model(name, size, frames):
    """Phase 1/2: ``model.apply`` in a loop; returns (rss before, rss after, seconds)."""
    model = make_model(name)
    for frame in scene(size, WARMUP):
        model.apply(frame)
    start_rss, start = rss_mb(), time.perf_counter()
    for frame in scene(size, frames, seed=1):
        model.apply(frame)
    return start_rss, rss_mb(), time.perf_counter() - start


def frames_of(size, count, seed):
    for number, image in enumerate(scene(size, count, seed), start=1):
        yield Frame(number, (number - 1) / 25.0, image)


def pipeline_once(size, count, seed, folder):
    """One ``pipeline.run`` over ``count`` frames into a mask video and an events file."""
    model = make_model("gmm")
    post = PostProcessor(PostprocessConfig())
    outputs = [
        SinkOutput(VideoSink(folder / f"mask{seed}.mkv", 25.0), lambda r: r.mask),
        EventsOutput(folder / f"events{seed}.json", EventsConfig(), fps=25.0),
    ]
    stats = pipeline.run(frames_of(size, count, seed), model, post, outputs)
    assert stats.frames == count
    return outputs[1].events


def soak_pipeline(size, frames):
    """Phase 3: the threaded pipeline with post-processing, a video and the events output."""
    with tempfile.TemporaryDirectory(prefix="bgsub-soak-") as tmp:
        pipeline_once(size, WARMUP, 0, Path(tmp))
        start_rss, start = rss_mb(), time.perf_counter()
        events = pipeline_once(size, frames, 1, Path(tmp))
        end_rss, seconds = rss_mb(), time.perf_counter() - start
    return start_rss, end_rss, seconds, len(events)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000, help="frames per phase")
    parser.add_argument("--size", default="32x24", help="frame size WxH")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    results = {"frames": args.frames, "size": args.size, "process_start_mb": rss_mb()}
    for name in ("gaussian", "gmm"):
        before, after, seconds = soak_model(name, size, args.frames)
        results[name] = {"rss_start_mb": before, "rss_end_mb": after, "seconds": seconds}
    before, after, seconds, events = soak_pipeline(size, args.frames)
    results["pipeline"] = {"rss_start_mb": before, "rss_end_mb": after, "seconds": seconds,
                           "events": events}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"soak: {args.frames} frames of {args.size} per phase "
          f"(process RSS at start {results['process_start_mb']:.1f} MB)")
    for phase in ("gaussian", "gmm", "pipeline"):
        r = results[phase]
        extra = f", {r['events']} motion events" if "events" in r else ""
        print(f"  {phase:9s} RSS {r['rss_start_mb']:7.1f} MB -> {r['rss_end_mb']:7.1f} MB "
              f"({r['rss_end_mb'] - r['rss_start_mb']:+.1f} MB) in {r['seconds']:.1f} s "
              f"({args.frames / r['seconds']:.0f} frames/s){extra}")


if __name__ == "__main__":
    main()
