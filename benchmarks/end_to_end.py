"""End to end: ``bgsub run`` on a video file against a plain OpenCV loop (read -> MOG2.apply ->
write the mask video), same input, each writing a lossless mask video (the loop FFV1 through
OpenCV's writer, bgsub its ``mask.mov`` of PNG frames).

    python benchmarks/end_to_end.py [--size 1920x1080] [--frames 200] [--repeats 3] [--video FILE]

Without ``--video`` it first encodes a test clip: CDnet highway frames (``../shared/data/highway``,
or the bundled clip when that is absent) resized to ``--size``, MPEG-4 Part 2, 25 fps. Both sides
run as fresh processes, timed as whole commands (start-up included; bgsub's Numba cache is warmed
by one untimed run), taking turns, ``--repeats`` times; the table gives the medians. bgsub runs with
its defaults (the feedback mixture and its stages, post-processing on), MOG2 with OpenCV's
(shadow detection off); ``bgsub run --preset fast`` (one Gaussian per pixel) shows what a
cheaper model gains, ``bgsub run --downscale auto`` what the model on reduced frames gains.

A second table, the CPU budget, times each stage alone on one core over the clip's frames
(``time.process_time``, one thread): decoding (into one reused buffer: both commands' readers
reuse freed frame memory), each model's ``apply``, post-processing and the
mask writing (FFV1 for the loop, ``mask.mov`` for bgsub). Their sum is the CPU time one frame
costs a whole command, and dividing the cores by it bounds the frame rate any scheduling of the
stages could reach on this machine: the bound printed under the tables.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput  # noqa: E402  (frame loading is shared with the throughput benchmark)

import numba  # noqa: E402

import bgsub  # noqa: E402  (importable: throughput put the checkout on the path)
from bgsub.config import PostprocessConfig  # noqa: E402
from bgsub.postprocess import PostProcessor  # noqa: E402
from bgsub.sinks import VideoSink  # noqa: E402

REPO = throughput.REPO

OPENCV_LOOP = """
import sys, cv2
source, target = sys.argv[1], sys.argv[2]
capture = cv2.VideoCapture(source)
fps = capture.get(cv2.CAP_PROP_FPS)
size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
writer = cv2.VideoWriter(target, cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"FFV1"), fps, size, False)
mog2 = cv2.createBackgroundSubtractorMOG2(detectShadows=False)
while True:
    ok, frame = capture.read()
    if not ok:
        break
    writer.write(mog2.apply(frame))
writer.release()
"""


def make_clip(path, size, count, data=throughput.DEFAULT_DATA):
    """Encode ``count`` highway frames resized to ``size`` as an MPEG-4 Part 2 video."""
    frames, description = throughput.load_frames(count, data=data)
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
    for frame in frames:
        writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    writer.release()
    return len(frames), description


def _timed(command, **kwargs):
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, **kwargs)
    return time.perf_counter() - start


COMMANDS = {  # name -> extra ``bgsub run`` arguments
    "bgsub": [],
    "bgsub-fast": ["--preset", "fast"],
    "bgsub-auto": ["--downscale", "auto"],
}


def run_bgsub(video, outdir, extra=()):
    """Seconds for ``bgsub run VIDEO -o OUTDIR [extra]`` as a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "bgsub", "run", str(video), "-o", str(outdir), "-q", *extra]
    return _timed(command, env=env)


def run_opencv(video, target):
    """Seconds for the plain OpenCV loop as a fresh process."""
    return _timed([sys.executable, "-c", OPENCV_LOOP, str(video), str(target)])


def measure(video, repeats, workdir):
    """Interleaved whole-command timings: ``{"opencv": [s, ...], "bgsub": [...], ...}``."""
    workdir = Path(workdir)
    run_bgsub(video, workdir / "warm-up")  # compiles or loads the kernels once
    run_bgsub(video, workdir / "warm-up", COMMANDS["bgsub-fast"])
    seconds = {"opencv": [], **{name: [] for name in COMMANDS}}
    for i in range(repeats):
        seconds["opencv"].append(run_opencv(video, workdir / f"opencv{i}.mkv"))
        for name, extra in COMMANDS.items():
            seconds[name].append(run_bgsub(video, workdir / f"{name}{i}", extra))
    for i in range(repeats):  # every command wrote a mask video of every frame
        assert (workdir / f"opencv{i}.mkv").stat().st_size > 0
        for name in COMMANDS:
            assert (workdir / f"{name}{i}" / "mask.mov").stat().st_size > 0
    return seconds


def _cpu_ms(step, items, untimed=2):
    """Mean CPU ms of ``step(item)`` over ``items`` and every result. The first ``untimed``
    calls are left out: a model's first frame only initialises it, its second loads the kernel."""
    results = [step(item) for item in items[:untimed]]
    start = time.process_time()
    results += [step(item) for item in items[untimed:]]
    return (time.process_time() - start) * 1000 / max(len(items) - untimed, 1), results


def decoded(video):
    """``(frames, CPU ms per frame of decoding)``: every frame of ``video``, decoded on one thread
    into one reused buffer and copied out untimed (the first read, which allocates the buffer,
    untimed too). Both commands' readers reuse freed frame memory; timing the decoder into fresh
    frames would count their page faults (here about 2 ms per MB, 12 ms a 1080p frame) as
    decoding."""
    capture = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    ok, frame = capture.read()
    frames, seconds = [], 0.0
    while ok:
        frames.append(frame.copy())
        start = time.process_time()
        ok, frame = capture.read(frame)
        seconds += time.process_time() - start
    capture.release()
    return frames, seconds * 1000 / max(len(frames) - 1, 1)


def cpu_budget(video, workdir):
    """CPU ms per frame of each stage alone on one thread: ``{stage: ms}``."""
    threads = cv2.getNumThreads(), numba.get_num_threads()
    cv2.setNumThreads(1)
    numba.set_num_threads(1)
    try:
        frames, decode_ms = decoded(video)
        stages = {"decode (FFmpeg, 1 thread)": decode_ms}
        stages["MOG2.apply"], _ = _cpu_ms(cv2.createBackgroundSubtractorMOG2(detectShadows=False).apply, frames)
        stages["FeedbackMixture.apply (default)"], masks = _cpu_ms(bgsub.FeedbackMixture().apply,
                                                                   frames)
        stages["SingleGaussian.apply"], _ = _cpu_ms(bgsub.SingleGaussian().apply, frames)
        stages["post-processing (defaults)"], masks = _cpu_ms(PostProcessor(PostprocessConfig()), masks)
        height, width = masks[0].shape
        writer = cv2.VideoWriter(str(Path(workdir) / "budget.mkv"), cv2.CAP_FFMPEG,
                                 cv2.VideoWriter_fourcc(*"FFV1"), 25.0, (width, height), False)
        stages["FFV1 mask encoding"], _ = _cpu_ms(writer.write, masks)
        writer.release()
        with VideoSink(Path(workdir) / "budget.mov", 25.0, binary=True) as sink:
            stages["bgsub mask.mov writing"], _ = _cpu_ms(lambda m: sink.write(0, m), masks)
    finally:
        cv2.setNumThreads(threads[0])
        numba.set_num_threads(threads[1])
    return stages


def format_budget(stages, frames_per_second):
    """The CPU budget table: per-stage ms and, for each command, its sum and the fps bound."""
    cores = os.cpu_count()
    decode = stages["decode (FFmpeg, 1 thread)"]
    bgsub_common = decode + stages["post-processing (defaults)"] + stages["bgsub mask.mov writing"]
    totals = {
        "OpenCV loop": decode + stages["MOG2.apply"] + stages["FFV1 mask encoding"],
        "bgsub run (defaults)": bgsub_common + stages["FeedbackMixture.apply (default)"],
        "bgsub run --preset fast": bgsub_common + stages["SingleGaussian.apply"],
    }
    lines = ["| stage, one thread | CPU ms/frame |", "|---|---|"]
    lines += [f"| {name} | {ms:.1f} |" for name, ms in stages.items()]
    lines += ["", f"| command | CPU ms/frame (sum) | fps bound on {cores} cores | measured fps |",
              "|---|---|---|---|"]
    lines += [f"| {name} | {ms:.1f} | {cores * 1000 / ms:.1f} | {frames_per_second[name]:.1f} |"
              for name, ms in totals.items()]
    # What the 1.5x target asks of this machine against what the CPU budgets allow: on a busy
    # machine both commands fall short of their bounds, so the bounds are compared, not fps.
    opencv, bgsub_sum = totals["OpenCV loop"], totals["bgsub run (defaults)"]
    lines += ["", f"Bound: bgsub's defaults can run at most {opencv / bgsub_sum:.2f}x the OpenCV "
              f"loop on this machine ({cores * 1000 / bgsub_sum:.1f} against "
              f"{cores * 1000 / opencv:.1f} fps on {cores} cores, CPU budgets); 1.5x needs a "
              f"budget of at most {opencv / 1.5:.1f} ms per frame against {bgsub_sum:.1f}."]
    return "\n".join(lines)


def main(argv=None):
    """Run the comparison and print Markdown tables; returns ``{"seconds": whole-command
    timings per command, "budget": CPU ms per frame per stage}``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1920x1080", help="frame size of the test clip")
    parser.add_argument("--frames", type=int, default=200, help="frames in the test clip")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (default: 3)")
    parser.add_argument("--video", help="use this video instead of making a test clip")
    parser.add_argument("--data", default=str(throughput.DEFAULT_DATA), help="CDnet sequence folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bgsub-e2e-") as tmp:
        if args.video:
            video, description = Path(args.video), args.video
        else:
            video = Path(tmp) / "clip.mp4"
            count, source = make_clip(video, throughput.parse_size(args.size), args.frames, args.data)
            description = f"{count} frames of {source} at {args.size}, mp4v"
        capture = cv2.VideoCapture(str(video))
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
        seconds = measure(video, args.repeats, tmp)
        stages = cpu_budget(video, tmp)
    medians = {name: statistics.median(runs) for name, runs in seconds.items()}
    opencv = medians["opencv"]
    labels = {"opencv": "OpenCV loop", "bgsub": "bgsub run (defaults)",
              "bgsub-fast": "bgsub run --preset fast", "bgsub-auto": "bgsub run --downscale auto"}
    print(f"input: {description}; whole commands, median of {args.repeats}; {os.cpu_count()} CPUs")
    print()
    print("| command | seconds | fps | x OpenCV loop |")
    print("|---|---|---|---|")
    print(f"| OpenCV loop (read, MOG2.apply, write FFV1) | {opencv:.2f} | {frames / opencv:.1f} | 1.00 |")
    for name in COMMANDS:
        print(f"| {labels[name]} | {medians[name]:.2f} | {frames / medians[name]:.1f} "
              f"| {opencv / medians[name]:.2f} |")
    print()
    print(format_budget(stages, {labels[name]: frames / t for name, t in medians.items()}))
    return {"seconds": seconds, "budget": stages}


if __name__ == "__main__":
    main()
