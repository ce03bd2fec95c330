"""Many streams at once: N recordings through ``bgsub batch``, to size a machine for cameras.

    python benchmarks/streams.py [--size 1920x1080] [--frames 300] [--streams 1,2,4]
                                 [--repeats 1] [--dask] [--preset default]

A test clip is made as for ``benchmarks/end_to_end.py`` (CDnet highway frames resized to
``--size``, MPEG-4 Part 2, 25 fps) and copied N times; a job file lists the N copies and
``bgsub batch --workers N --force -q`` processes them as one command, a fresh process with its
own worker processes (start-up and Numba cache loading included; the cache is warmed by one
untimed run). For each N: aggregate frames per second (N x frames / wall seconds), CPU
milliseconds per frame (the whole process tree's user + system time, polled with psutil, over
N x frames) and the
cameras of that size at 25 fps one core keeps up with (1000 / (25 x CPU ms per frame)). With
``--dask`` the same job files run with ``--executor dask --workers 2`` too (a local Dask cluster of
two worker processes, its start-up included).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import end_to_end  # noqa: E402  (the test clip is the end-to-end benchmark's)
import throughput  # noqa: E402

REPO = throughput.REPO
CAMERA_FPS = 25
POLL_S = 0.1  # seconds between two readings of the process tree's CPU times


def job_file(folder, clips, preset):
    """A batch job file in ``folder`` processing every clip in ``clips`` into its own output."""
    lines = ["defaults:", f"  preset: {preset}", "jobs:"]
    for index, clip in enumerate(clips):
        lines += [f"  - input: {clip}", f"    output: out/{index}"]
    path = Path(folder) / "jobs.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_batch(jobs, workers, executor):
    """``(wall seconds, CPU seconds of the process tree)`` of one ``bgsub batch`` command.

    Worker processes are started by a fork server, not by the command itself, so the system
    never adds their CPU time to the command's: the tree is polled instead, keeping each
    process's last user + system time (what a process spends after the last poll, at most
    ``POLL_S``, is missed)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "bgsub", "batch", str(jobs), "--workers", str(workers),
               "--executor", executor, "--force", "-q"]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env=env)
    root = psutil.Process(process.pid)
    cpu = {}
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for member in tree:
            try:
                times = member.cpu_times()
            except psutil.NoSuchProcess:
                continue
            cpu[member.pid] = times.user + times.system
        time.sleep(POLL_S)
    stderr = process.communicate()[1]
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"bgsub batch failed ({process.returncode}): {stderr.strip()}")
    return wall, sum(cpu.values())


def measure(clip, frames, streams, repeats, executors, preset, workdir):
    """Rows of ``{"executor", "streams", "workers", "fps", "cpu_ms", "cameras_per_core"}``,
    medians of ``repeats`` runs."""
    workdir = Path(workdir)
    clips = []
    for index in range(max(streams)):
        copy = workdir / f"camera{index}.mp4"
        shutil.copyfile(clip, copy)
        clips.append(copy)
    rows = []
    for executor in executors:
        for n in streams:
            folder = workdir / f"{executor}-{n}"
            folder.mkdir()
            jobs = job_file(folder, clips[:n], preset)
            workers = n if executor == "local" else 2
            if executor == "local" and n == streams[0]:
                run_batch(jobs, workers, executor)  # warms the Numba cache, untimed
            timings = [run_batch(jobs, workers, executor) for _ in range(repeats)]
            wall = statistics.median(t for t, _ in timings)
            cpu = statistics.median(c for _, c in timings)
            cpu_ms = 1000 * cpu / (n * frames)
            rows.append({"executor": executor, "streams": n, "workers": workers,
                         "fps": n * frames / wall, "cpu_ms": cpu_ms,
                         "cameras_per_core": 1000 / (CAMERA_FPS * cpu_ms)})
    return rows


def format_rows(rows, size):
    """The Markdown table."""
    lines = [f"| executor | recordings | workers | aggregate fps | CPU ms/frame | cameras of "
             f"{size} at {CAMERA_FPS} fps per core |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['executor']} | {r['streams']} | {r['workers']} | {r['fps']:.1f} "
              f"| {r['cpu_ms']:.1f} | {r['cameras_per_core']:.2f} |" for r in rows]
    return "\n".join(lines)


def main(argv=None):
    """Run the benchmark and print the table; returns the rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1920x1080", help="frame size of the test clip")
    parser.add_argument("--frames", type=int, default=300, help="frames per recording")
    parser.add_argument("--streams", default="1,2,4", help="recordings at once (default: 1,2,4)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each (default: 1)")
    parser.add_argument("--dask", action="store_true", help="also run with a local Dask cluster")
    parser.add_argument("--preset", default="default", help="bgsub preset (default | fast)")
    parser.add_argument("--data", default=str(throughput.DEFAULT_DATA), help="CDnet sequence folder")
    args = parser.parse_args(argv)
    streams = [int(n) for n in args.streams.split(",") if n]
    executors = ["local", "dask"] if args.dask else ["local"]
    with tempfile.TemporaryDirectory(prefix="bgsub-streams-") as tmp:
        clip = Path(tmp) / "clip.mp4"
        count, source = end_to_end.make_clip(clip, throughput.parse_size(args.size), args.frames,
                                              args.data)
        rows = measure(clip, count, streams, args.repeats, executors, args.preset, tmp)
    print(f"{count} frames of {source} at {args.size} per recording, preset {args.preset}; "
          f"whole `bgsub batch` commands, median of {args.repeats}; {os.cpu_count()} CPUs")
    print()
    print(format_rows(rows, args.size))
    return rows


if __name__ == "__main__":
    main()
