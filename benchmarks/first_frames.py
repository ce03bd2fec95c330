"""The first frames of a new model: CPU time (user and system) of frames 2 to ``--frames`` at
1080p, with the state in bgsub's own small-page mapping (``bgsub.memory.zeroed_state``) and in a
plain ``np.zeros`` array, each run a fresh process (as each ``bgsub run`` is), taking turns.

    python benchmarks/first_frames.py [--size 1920x1080] [--frames 10] [--repeats 3]

A mixture writes its lower-ranked planes for the first time in its first frames, a few pixels
here and there; what each first write to a page costs is system time, which the steady-state
benchmarks (``throughput.py``, ``stages.py``) never see. One thread (Numba and OpenCV), the
default model (the feedback mixture), highway frames as ``throughput.py`` loads them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import cv2
import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput  # noqa: E402  (frame loading is shared with the throughput benchmark)

from bgsub import FeedbackMixture  # noqa: E402
from bgsub.memory import zeroed_state  # noqa: E402
from bgsub.models import mixture  # noqa: E402

ALLOCATIONS = {
    "bgsub (small pages)": zeroed_state,
    "np.zeros": lambda shape: np.zeros(shape, dtype=np.float32),
}


def cpu_ms(frames, allocate):
    """``(user ms, system ms)`` of a new model's frames 2 .. len(frames), its state from
    ``allocate``."""
    mixture.zeroed_state = allocate
    try:
        model = FeedbackMixture()
        model.apply(frames[0])
        before = resource.getrusage(resource.RUSAGE_SELF)
        for frame in frames[1:]:
            model.apply(frame)
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        mixture.zeroed_state = zeroed_state
    return 1000 * (after.ru_utime - before.ru_utime), 1000 * (after.ru_stime - before.ru_stime)


def one_run(args, allocation):
    """``cpu_ms`` in this process for the named allocation."""
    size = throughput.parse_size(args.size)
    source, _ = throughput.load_frames(args.frames, data=args.data)
    frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in source]
    numba.set_num_threads(1)
    cv2.setNumThreads(1)
    small = [frame[:64, :64] for frame in frames[:2]]
    cpu_ms(small, zeroed_state)  # the kernels load (or compile) outside the timings
    return cpu_ms(frames, ALLOCATIONS[allocation])


def main(argv=None):
    """Print the medians; returns ``{allocation: [(user ms, system ms), ...]}``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1920x1080", help="frame size (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=10, help="frames of each new model")
    parser.add_argument("--repeats", type=int, default=3, help="new processes of each allocation")
    parser.add_argument("--data", default=str(throughput.DEFAULT_DATA), help="CDnet sequence folder")
    parser.add_argument("--one", choices=ALLOCATIONS, help=argparse.SUPPRESS)  # a child's run
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one_run(args, args.one)))
        return None
    runs = {name: [] for name in ALLOCATIONS}
    env = {**os.environ, "PYTHONPATH": str(throughput.REPO)}
    for _ in range(args.repeats):
        for name in ALLOCATIONS:
            child = subprocess.run(
                [sys.executable, __file__, "--size", args.size, "--frames", str(args.frames),
                 "--data", args.data, "--one", name],
                env=env, check=True, capture_output=True, text=True)
            runs[name].append(tuple(json.loads(child.stdout)))
    print(f"{args.data} frames at {args.size}: frames 2..{args.frames} of a new default model, "
          f"one thread, a fresh process each, median of {args.repeats}")
    print()
    print("| state memory | user ms | system ms | all runs, user + system ms |")
    print("|---|---|---|---|")
    for name, values in runs.items():
        users, systems = zip(*values)
        print(f"| {name} | {statistics.median(users):.0f} | {statistics.median(systems):.0f} | "
              + ", ".join(f"{u + s:.0f}" for u, s in values) + " |")
    return runs


if __name__ == "__main__":
    main()
