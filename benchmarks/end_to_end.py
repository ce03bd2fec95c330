"""End to end: ``bgsub run`` on a video file against a plain OpenCV loop (read -> MOG2.apply ->
write the mask video), same input, same output kind (lossless FFV1 ``mask.mkv``).

    python benchmarks/end_to_end.py [--size 1920x1080] [--frames 200] [--repeats 3] [--video FILE]

Without ``--video`` it first encodes a test clip: CDnet highway frames (``../shared/data/highway``,
or the bundled clip when that is absent) resized to ``--size``, MPEG-4 Part 2, 25 fps. Both sides
run as fresh processes, timed as whole commands (start-up included; bgsub's Numba cache is warmed
by one untimed run), taking turns, ``--repeats`` times; the table gives the medians. bgsub runs with
its defaults (Gaussian mixture, post-processing on), MOG2 with OpenCV's (shadow detection off).
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


def run_bgsub(video, outdir):
    """Seconds for ``bgsub run VIDEO -o OUTDIR`` as a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return _timed([sys.executable, "-m", "bgsub", "run", str(video), "-o", str(outdir), "-q"], env=env)


def run_opencv(video, target):
    """Seconds for the plain OpenCV loop as a fresh process."""
    return _timed([sys.executable, "-c", OPENCV_LOOP, str(video), str(target)])


def measure(video, repeats, workdir):
    """Interleaved whole-command timings: ``{"bgsub": [s, ...], "opencv": [s, ...]}``."""
    workdir = Path(workdir)
    run_bgsub(video, workdir / "warm-up")  # compiles or loads the kernels once
    seconds = {"bgsub": [], "opencv": []}
    for i in range(repeats):
        seconds["opencv"].append(run_opencv(video, workdir / f"opencv{i}.mkv"))
        seconds["bgsub"].append(run_bgsub(video, workdir / f"bgsub{i}"))
    for i in range(repeats):  # both wrote a mask video of every frame
        assert (workdir / f"bgsub{i}" / "mask.mkv").stat().st_size > 0
        assert (workdir / f"opencv{i}.mkv").stat().st_size > 0
    return seconds


def main(argv=None):
    """Run the comparison and print a Markdown table; returns the timings."""
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
    opencv, ours = statistics.median(seconds["opencv"]), statistics.median(seconds["bgsub"])
    print(f"input: {description}; whole commands, median of {args.repeats}; {os.cpu_count()} CPUs")
    print()
    print("| command | seconds | fps | x OpenCV loop |")
    print("|---|---|---|---|")
    print(f"| OpenCV loop (read, MOG2.apply, write FFV1) | {opencv:.2f} | {frames / opencv:.1f} | 1.00 |")
    print(f"| bgsub run (defaults) | {ours:.2f} | {frames / ours:.1f} | {opencv / ours:.2f} |")
    return seconds


if __name__ == "__main__":
    main()
