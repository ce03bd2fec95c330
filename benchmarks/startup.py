"""Start-up of ``bgsub run``: seconds from launching the command to the first mask on disk,
with a cold Numba cache (the kernels compile) and with a warm one.

    python benchmarks/startup.py [--input sample_videos/highway_320x240.mp4] [--model gmm]
                                 [--repeats 3]

Each run is a fresh process (``python -m bgsub run INPUT --masks-dir ... --max-frames 3``). The
first frame only initialises the model, so the first mask that the model computed is the second
PNG written into the masks folder: that is the time reported. The cold run uses an empty
``NUMBA_CACHE_DIR``, the warm runs the cache it left.
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

REPO = Path(__file__).resolve().parents[1]
SAMPLE_VIDEO = REPO / "sample_videos" / "highway_320x240.mp4"


def first_mask(video, model, cache_dir, workdir):
    """Run ``bgsub run`` once; returns ``(seconds to the first computed mask, seconds in all)``."""
    masks = Path(workdir) / "masks"
    command = [sys.executable, "-m", "bgsub", "run", str(video), "-o", str(Path(workdir) / "out"),
               "--masks-dir", str(masks), "--max-frames", "3", "--model", model, "-q"]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(REPO)}
    start = time.time()
    subprocess.run(command, env=env, check=True, cwd=workdir, capture_output=True)
    total = time.time() - start
    written = sorted(path.stat().st_mtime for path in masks.glob("*.png"))
    return written[1] - start, total


def measure(video, model, repeats):
    """``{"cold": (first, total), "warm": [(first, total), ...]}`` in seconds."""
    with tempfile.TemporaryDirectory(prefix="bgsub-startup-") as tmp:
        cache = Path(tmp) / "numba-cache"
        runs = []
        for i in range(1 + repeats):
            workdir = Path(tmp) / f"run{i}"
            workdir.mkdir()
            runs.append(first_mask(video, model, cache, workdir))
    return {"cold": runs[0], "warm": runs[1:]}


def main(argv=None):
    """Measure and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default=str(SAMPLE_VIDEO), help="video to run (default: %(default)s)")
    parser.add_argument("--model", default="gmm", choices=["gmm", "gaussian"])
    parser.add_argument("--repeats", type=int, default=3, help="warm runs (default: 3)")
    args = parser.parse_args(argv)
    result = measure(args.input, args.model, args.repeats)
    warm_first = statistics.median(first for first, _ in result["warm"])
    warm_total = statistics.median(total for _, total in result["warm"])
    print(f"bgsub run {Path(args.input).name} --model {args.model} --max-frames 3 "
          f"({os.cpu_count()} CPUs; warm: median of {args.repeats})")
    print()
    print("| Numba cache | first computed mask after (s) | whole command (s) |")
    print("|---|---|---|")
    print(f"| cold (compiles) | {result['cold'][0]:.2f} | {result['cold'][1]:.2f} |")
    print(f"| warm | {warm_first:.2f} | {warm_total:.2f} |")
    return result


if __name__ == "__main__":
    main()
