"""``bgsub batch`` end to end, as real processes on real files: failures, resume, --force,
validation, a SIGKILL mid-run, and a Dask cluster giving the same masks as local processes."""

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_scene, read_masks, write_video


def bgsub(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bgsub", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def make_video(path, count=24, width=64, height=48, codec="FFV1"):
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, make_scene(count, width=width, height=height)[0], codec=codec)


def write_jobs(path, text):
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def summary(folder):
    data = json.loads((folder / "summary.json").read_text())
    with open(folder / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["status"] for r in rows] == [r["status"] for r in data["recordings"]]
    return data, rows


def mtimes(*paths):
    return [p.stat().st_mtime_ns for p in paths]


def test_a_corrupt_recording_fails_alone_and_a_rerun_retries_only_it(tmp_path):
    make_video(tmp_path / "recordings" / "cam1" / "a.mkv")
    make_video(tmp_path / "recordings" / "cam1" / "b.mkv", count=30)
    corrupt = tmp_path / "recordings" / "cam2.mp4"
    corrupt.write_text("this is a text file, not a video\n")
    jobs = write_jobs(tmp_path / "jobs.yaml", """
        workers: 2
        defaults:
          model: {name: gmm, k: 3}
        jobs:
          - input: recordings/cam1/*.mkv
            output: out/cam1
          - input: recordings/cam2.mp4
            output: out/cam2
            model: {threshold: 3.0}
        """)
    out = tmp_path / "out"
    masks = [out / "cam1" / "a" / "mask.mov", out / "cam1" / "b" / "mask.mov"]
    manifests = [m.with_name(".bgsub-manifest.json") for m in masks]

    first = bgsub("batch", jobs)
    assert first.returncode == 1, first.stderr
    assert [len(read_masks(m)) for m in masks] == [24, 30]
    assert not (out / "cam2" / "mask.mov").exists()
    data, rows = summary(out)
    assert [(Path(r["input"]).name, r["status"]) for r in rows] == [
        ("a.mkv", "done"), ("b.mkv", "done"), ("cam2.mp4", "failed")]
    assert rows[2]["error"] == f"cannot decode video: {corrupt}"
    assert [r["frames"] for r in data["recordings"]] == [24, 30, 0]
    assert data["counts"] == {"done": 2, "skipped": 0, "failed": 1, "interrupted": 0}
    assert "failed   " in first.stderr and f"cannot decode video: {corrupt}" in first.stderr
    assert first.stderr.strip().splitlines()[-1] == (
        f"bgsub: error: 1 of 3 recordings failed (details in {out / 'summary.csv'})")
    assert "3 recordings: 2 done, 1 failed" in first.stdout
    before = mtimes(*masks, *manifests)

    again = bgsub("batch", jobs)
    assert again.returncode == 1, again.stderr
    assert [r["status"] for r in summary(out)[1]] == ["skipped", "skipped", "failed"]
    assert [r["frames"] for r in summary(out)[0]["recordings"]] == [24, 30, 0]
    assert mtimes(*masks, *manifests) == before

    forced = bgsub("batch", jobs, "--force", "--workers", "1")
    assert forced.returncode == 1, forced.stderr
    assert [r["status"] for r in summary(out)[1]] == ["done", "done", "failed"]
    assert all(new > old for new, old in zip(mtimes(*masks, *manifests), before))

    make_video(corrupt, codec="mp4v")  # the camera's file is replaced by a good one
    fixed = bgsub("batch", jobs)
    assert fixed.returncode == 0, fixed.stderr
    assert [r["status"] for r in summary(out)[1]] == ["skipped", "skipped", "done"]
    assert len(read_masks(out / "cam2" / "mask.mov")) == 24


@pytest.mark.parametrize("job, line, message", [
    ("    modle: {k: 3}\n", 6, "jobs[0].modle: unknown key; did you mean model?"),
    ("    model:\n      k: 12\n", 7, "jobs[0].model.k: must be in [1, 8], got 12"),
])
def test_a_bad_job_file_exits_2_with_line_and_key_and_processes_nothing(tmp_path, job, line, message):
    make_video(tmp_path / "a.mkv")
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("defaults:\n  model: {name: gmm}\njobs:\n"
                    "  - input: a.mkv\n    output: out/a\n" + job)
    result = bgsub("batch", jobs)
    assert result.returncode == 2
    assert result.stderr == f"bgsub: error: {jobs}:{line}: {message}\n"
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def three_recordings_one_worker(tmp_path):
    """Recordings a, b, c of 150 frames in one job on one worker: the jobs file and the three
    output folders, in the order they are processed."""
    for name in "abc":
        make_video(tmp_path / "rec" / f"{name}.mkv", count=150)
    jobs = write_jobs(tmp_path / "jobs.yaml", """
        workers: 1
        jobs:
          - {input: "rec/*.mkv", output: out}
        """)
    return jobs, [tmp_path / "out" / name for name in "abc"]


def test_a_run_killed_mid_way_leaves_no_manifest_for_the_unfinished_and_resumes(tmp_path):
    jobs, folders = three_recordings_one_worker(tmp_path)
    manifests = [f / ".bgsub-manifest.json" for f in folders]
    run = subprocess.Popen([sys.executable, "-m", "bgsub", "batch", str(jobs)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not manifests[0].exists() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.01)
        os.killpg(run.pid, signal.SIGKILL)  # the command and its workers, like a power cut
    finally:
        run.wait(timeout=30)
    assert manifests[0].exists()
    unfinished = [f for f, m in zip(folders, manifests) if not m.exists()]
    assert unfinished, "the run finished before it was killed"
    for folder in unfinished:  # nothing there passes for complete
        assert not (folder / "mask.mov").exists()

    resumed = bgsub("batch", jobs)
    assert resumed.returncode == 0, resumed.stderr
    statuses = [r["status"] for r in summary(tmp_path / "out")[1]]
    assert statuses == ["skipped" if f not in unfinished else "done" for f in folders]
    for folder in folders:
        assert len(read_masks(folder / "mask.mov")) == 150
        assert not list(folder.glob(".*partial*"))


def test_a_dask_cluster_gives_the_same_masks_as_local_processes(tmp_path):
    distributed = pytest.importorskip("distributed")
    make_video(tmp_path / "rec" / "a.mkv", count=30)
    make_video(tmp_path / "rec" / "b.mkv", count=20, width=80, height=60)
    (tmp_path / "rec" / "c.mkv").write_text("not a video\n")
    text = """
        defaults:
          model: {name: gmm, k: 4, learning_rate: 0.01}
          outputs: {shadow_video: true}
        jobs:
          - {input: "rec/*.mkv", output: OUT}
        """
    local = write_jobs(tmp_path / "local.yaml", text.replace("OUT", "local"))
    dask = write_jobs(tmp_path / "dask.yaml", text.replace("OUT", "dask"))
    assert bgsub("batch", local, "--workers", "2").returncode == 1
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        result = bgsub("batch", dask, "--scheduler", cluster.scheduler_address)
    assert result.returncode == 1, result.stderr
    local_rows, dask_rows = summary(tmp_path / "local")[1], summary(tmp_path / "dask")[1]
    assert [r["status"] for r in dask_rows] == ["done", "done", "failed"]
    assert dask_rows[2]["error"] == local_rows[2]["error"] == (
        f"cannot decode video: {tmp_path / 'rec' / 'c.mkv'}")
    for name in ("a", "b"):
        for video in ("mask.mov", "labels.mkv"):
            ours = read_masks(tmp_path / "local" / name / video)
            theirs = read_masks(tmp_path / "dask" / name / video)
            assert len(ours) == len(theirs) > 0
            assert all(np.array_equal(x, y) for x, y in zip(ours, theirs))
        assert (tmp_path / "dask" / name / ".bgsub-manifest.json").exists()


def test_ctrl_c_stops_the_running_recording_cleanly_and_exits_130(tmp_path):
    jobs, folders = three_recordings_one_worker(tmp_path)
    # A shell may start background jobs with SIGINT ignored, and children inherit that.
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        run = subprocess.Popen([sys.executable, "-m", "bgsub", "batch", str(jobs)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    finally:
        signal.signal(signal.SIGINT, saved)
    try:
        deadline = time.monotonic() + 120
        while not (folders[0] / ".bgsub-manifest.json").exists() and time.monotonic() < deadline:
            assert run.poll() is None, run.communicate()
            time.sleep(0.01)
        os.killpg(run.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
        stdout, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "bgsub: interrupted"
    statuses = [r["status"] for r in summary(tmp_path / "out")[1]]
    assert statuses[0] == "done" and "interrupted" in statuses[1:]
    assert "interrupted" in stdout
    for folder, status in zip(folders, statuses):
        if status == "interrupted":
            assert not (folder / ".bgsub-manifest.json").exists()
            assert not (folder / "mask.mov").exists()
            assert not list(folder.glob(".*partial*"))


def test_a_job_may_downscale_and_its_masks_keep_the_input_size(tmp_path):
    make_video(tmp_path / "a.mkv", width=96, height=72)
    jobs = write_jobs(tmp_path / "jobs.yaml", """
        jobs:
          - input: a.mkv
            output: out/full
          - input: a.mkv
            output: out/half
            model: {downscale: 2}
    """)
    result = bgsub("batch", jobs, "--workers", "1", "-q")
    assert result.returncode == 0, result.stderr
    full, half = (read_masks(tmp_path / "out" / name / "mask.mov") for name in ("full", "half"))
    assert len(full) == len(half) == 24
    assert all(m.shape == (72, 96) for m in full + half)
    assert any(not np.array_equal(a, b) for a, b in zip(full, half))  # another model input
    assert np.count_nonzero(half[-1]) > 0
