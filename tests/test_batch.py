"""The batch library: job-file validation, input expansion, manifests, one recording in-process,
and the local executor's recovery from a dying worker (real spawned processes)."""

import io
import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from conftest import make_scene, read_masks, write_video

from bgsub.batch import (
    BATCH_KEYS,
    JOB_KEYS,
    MANIFEST_NAME,
    BatchProgress,
    Recording,
    format_summary,
    load_batch,
    read_manifest,
    run_batch,
    run_recording,
)
from bgsub.config import ModelConfig, resolve
from bgsub.models import MixtureParams
from bgsub.errors import BgsubError, ConfigError


def write_jobs(folder, text):
    path = Path(folder) / "jobs.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def make_video(path, count=24):
    """A lossless 64x48 video of the moving-square scene."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, make_scene(count, width=64, height=48)[0])


def error_of(path, **kwargs):
    with pytest.raises(ConfigError) as info:
        load_batch(path, **kwargs)
    return str(info.value)


# --- validation ------------------------------------------------------------------------------


def test_out_of_range_value_in_a_job_names_file_line_and_key(tmp_path):
    path = write_jobs(tmp_path, """
        defaults:
          model: {name: gmm, k: 5}
        jobs:
          - input: a.mp4
            output: out/a
          - input: b.mp4
            output: out/b
            model:
              threshold: 3.0
              k: 12
        """)
    assert error_of(path) == f"{path}:10: jobs[1].model.k: must be in [1, 8], got 12"


def test_bad_value_inherited_from_defaults_points_at_the_defaults_line(tmp_path):
    path = write_jobs(tmp_path, """
        defaults:
          model:
            k: 3
        jobs:
          - input: a.mp4
            output: out/a
            model: {name: gaussian}
        """)
    # k is valid for gmm (checked once in defaults) but not for the job's model: the line is
    # where k was written, the key path is the job's.
    assert error_of(path) == f"{path}:3: jobs[0].model.k: is not a parameter of model 'gaussian'"


def test_bad_defaults_are_reported_under_defaults(tmp_path):
    path = write_jobs(tmp_path, """
        defaults:
          postprocess: {median: 4}
        jobs:
          - {input: a.mp4, output: out/a}
        """)
    assert error_of(path) == f"{path}:2: defaults.postprocess.median: must be odd (or 0 to turn it off), got 4"


@pytest.mark.parametrize("text, expected", [
    ("jobz: []\n", "1: jobz: unknown key; did you mean jobs?"),
    ("zzz: []\n", "1: zzz: unknown key (valid keys: defaults, workers, executor, scheduler, "
                  "summary_dir, jobs)"),
    ("jobs:\n  - input: a.mp4\n    output: o\n    modle: {k: 3}\n",
     "4: jobs[0].modle: unknown key; did you mean model?"),
    ("jobs:\n  - input: a.mp4\n    output: o\n    zzz: {k: 3}\n",
     "4: jobs[0].zzz: unknown key (valid keys: input, output, preset, model, postprocess, "
     "outputs, events)"),
    ("jobs:\n  - output: o\n", "2: jobs[0]: missing key 'input'"),
    ("jobs:\n  - input: a.mp4\n    output: 3\n", "3: jobs[0].output: must be a path, got 3"),
    ("jobs: []\n", "1: jobs: must be a list of jobs, each with an input and an output"),
    ("workers: 0\njobs:\n  - {input: a.mp4, output: o}\n",
     "1: workers: must be an integer of at least 1, got 0"),
    ("executor: spark\njobs:\n  - {input: a.mp4, output: o}\n",
     "1: executor: must be one of local, dask, got 'spark'"),
    ("executor: local\nscheduler: tcp://h:8786\njobs:\n  - {input: a.mp4, output: o}\n",
     "2: scheduler: needs executor: dask"),
    ("jobs:\n  - {input: 'rtsp://cam/1', output: o}\n",
     "2: jobs[0].input: must be a file, folder or glob (streams and cameras are for bgsub run "
     "and bgsub live)"),
    ("jobs:\n  - input: a.mp4\n    output: o\n    postprocess: {roi: nowhere.png}\n",
     "4: jobs[0].postprocess.roi: no such ROI image: "),
    ("jobs:\n  - {input: a.mp4, output: o}\n  - {input: b.mp4, output: o}\n",
     "3: jobs[1].output: same output folder as jobs[0]: "),
])
def test_each_kind_of_mistake_is_one_line_with_its_place(tmp_path, text, expected):
    path = write_jobs(tmp_path, text)
    message = error_of(path)
    assert message.startswith(f"{path}:{expected}")
    assert "\n" not in message


def test_missing_inputs_are_not_a_validation_error(tmp_path):
    path = write_jobs(tmp_path, """
        jobs:
          - {input: nowhere.mp4, output: out/x}
          - {input: "nothing/*.mp4", output: out/y}
        """)
    batch = load_batch(path)
    assert [r.input for r in batch.recordings] == [str(tmp_path / "nowhere.mp4"),
                                                   str(tmp_path / "nothing" / "*.mp4")]


def test_job_config_is_defaults_merged_with_the_job(tmp_path):
    path = write_jobs(tmp_path, """
        defaults:
          model: {name: gmm, k: 5, threshold: 2.5}
          outputs: {overlay_video: true}
        jobs:
          - {input: a.mp4, output: out/a}
          - input: b.mp4
            output: out/b
            model: {threshold: 3.0}
            outputs: {masks_dir: pngs}
        """)
    a, b = load_batch(path).recordings
    assert a.config == resolve({"model": {"name": "gmm", "k": 5, "threshold": 2.5},
                                "outputs": {"overlay_video": True}})
    assert b.config.model == ModelConfig(name="gmm", params=MixtureParams(k=5, threshold=3.0))
    assert b.config.outputs.overlay_video is True
    # A relative masks folder belongs to each recording's output folder.
    assert b.config.outputs.masks_dir == str(tmp_path / "out" / "b" / "pngs")


def test_relative_paths_resolve_against_the_job_file_folder(tmp_path, monkeypatch):
    cv2.imwrite(str(tmp_path / "roi.png"), np.full((48, 64), 255, np.uint8))
    write_jobs(tmp_path, """
        summary_dir: reports
        defaults:
          postprocess: {roi: roi.png}
        jobs:
          - {input: rec/a.mp4, output: out/a}
        """)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    batch = load_batch(Path("..") / "jobs.yaml")
    rec = batch.recordings[0]
    assert rec.input == str(tmp_path / "rec" / "a.mp4")
    assert rec.output == str(tmp_path / "out" / "a")
    assert rec.config.postprocess.roi == str(tmp_path / "roi.png")
    assert batch.summary_dir == tmp_path / "reports"
    # Flags override the file; a --summary-dir is relative to where the command runs.
    batch = load_batch(Path("..") / "jobs.yaml", summary_dir="s", workers=3)
    assert batch.summary_dir == elsewhere / "s"
    assert batch.workers == 3


def test_summary_goes_to_the_common_parent_of_the_job_outputs(tmp_path):
    path = write_jobs(tmp_path, """
        jobs:
          - {input: a.mp4, output: out/cam1}
          - {input: b.mp4, output: out/cam2/day1}
        """)
    batch = load_batch(path)
    assert batch.summary_dir == tmp_path / "out"
    assert batch.workers == os.cpu_count()
    assert batch.executor == "local"


def test_a_scheduler_on_the_command_line_means_dask(tmp_path):
    path = write_jobs(tmp_path, "jobs:\n  - {input: a.mp4, output: o}\n")
    batch = load_batch(path, scheduler="tcp://127.0.0.1:8786")
    assert (batch.executor, batch.scheduler) == ("dask", "tcp://127.0.0.1:8786")


def test_the_documented_example_is_valid_and_names_every_option():
    example = Path(__file__).resolve().parents[1] / "configs" / "batch.yaml"
    batch = load_batch(example)
    assert [Path(r.output).name for r in batch.recordings] == ["cam1", "cam2", "highway"]
    data = yaml.safe_load(example.read_text())
    assert sorted(data) == sorted(BATCH_KEYS)
    assert {"input", "output"} <= set(data["jobs"][0])
    assert set(data["defaults"]) == set(JOB_KEYS) - {"input", "output"}


# --- expanding inputs -------------------------------------------------------------------------


def test_a_glob_of_videos_is_one_recording_per_file_in_its_own_subfolder(tmp_path):
    for name in ("cam1/a.mkv", "cam1/b.mkv", "cam1/sub/c.mkv", "cam1/a.avi"):
        make_video(tmp_path / "rec" / name, 3)
    path = write_jobs(tmp_path, """
        jobs:
          - {input: "rec/cam1/**/*.*", output: out/cam1}
        """)
    got = {Path(r.input).relative_to(tmp_path / "rec" / "cam1").as_posix():
           Path(r.output).relative_to(tmp_path / "out" / "cam1").as_posix()
           for r in load_batch(path).recordings}
    # ** matches zero folders too; a.mkv and a.avi would share "a", so they keep their suffix.
    assert got == {"a.mkv": "a_mkv", "a.avi": "a_avi", "b.mkv": "b", "sub/c.mkv": "sub/c"}


def test_image_folders_and_image_globs_are_one_recording_each(tmp_path, write_images):
    frames, _ = make_scene(5, 64, 48)
    write_images(tmp_path / "cdnet" / "highway" / "input", frames)
    write_images(tmp_path / "cdnet" / "office" / "input", frames)
    path = write_jobs(tmp_path, """
        jobs:
          - {input: cdnet/highway/input, output: out/highway}
          - {input: "cdnet/office/input/*.png", output: out/office}
          - {input: "cdnet/*/input", output: out/all}
        """)
    recs = load_batch(path).recordings
    assert [(Path(r.input).relative_to(tmp_path).as_posix(), Path(r.output).relative_to(tmp_path).as_posix())
            for r in recs] == [
        ("cdnet/highway/input", "out/highway"),
        ("cdnet/office/input/*.png", "out/office"),
        ("cdnet/highway/input", "out/all/highway/input"),
        ("cdnet/office/input", "out/all/office/input"),
    ]


def test_outputs_inside_the_input_glob_are_never_taken_for_inputs(tmp_path):
    make_video(tmp_path / "videos" / "a.mkv", 3)
    make_video(tmp_path / "videos" / "out" / "a" / "mask.mov", 3)
    path = write_jobs(tmp_path, """
        jobs:
          - {input: "videos/*", output: videos/out}
        """)
    assert [Path(r.input).name for r in load_batch(path).recordings] == ["a.mkv"]


# --- one recording, in this process ----------------------------------------------------------


def recording(tmp_path, source, config=None, name="rec"):
    return Recording(0, 0, str(source), str(tmp_path / "out" / name), resolve(config or {}))


def test_a_finished_recording_has_a_manifest_that_proves_it_current(tmp_path):
    video = make_video(tmp_path / "a.mkv")
    rec = recording(tmp_path, video)
    result = run_recording(rec)
    assert result["status"] == "done" and result["error"] == ""
    assert result["frames"] == 24 and result["foreground_pct"] > 0
    manifest = read_manifest(rec)
    assert manifest["input"] == str(video)
    assert manifest["outputs"] == [{"path": "mask.mov", "size": (Path(rec.output) / "mask.mov").stat().st_size}]
    assert manifest["config"]["model"]["k"] == 5  # defaults spelled out
    assert len(read_masks(Path(rec.output) / "mask.mov")) == 24

    # Other parameters, another input, a changed input, a damaged output: not current.
    assert read_manifest(recording(tmp_path, video, {"model": {"k": 4}})) is None
    assert read_manifest(Recording(0, 0, str(tmp_path / "b.mkv"), rec.output, rec.config)) is None
    st = video.stat()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert read_manifest(rec) is None
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert read_manifest(rec) is not None
    with open(Path(rec.output) / "mask.mov", "ab") as fh:
        fh.write(b"x")
    assert read_manifest(rec) is None


# The "config" of a manifest that bgsub wrote before configs were typed (nested dicts), for the
# settings below: its recordings must still count as current, not be processed again.
EARLIER_SETTINGS = {"model": {"name": "gmm", "k": 3, "threshold": 5},
                    "postprocess": {"median": 5, "roi": [[0, 0], [60, 0], [60, 40]]},
                    "outputs": {"overlay_video": True}}
EARLIER_MANIFEST_CONFIG = json.loads("""{"preset": "default", "model": {"name": "gmm",
"gray": false, "init_frames": 0, "load": null, "downscale": 1, "learning_rate": null,
"history": 500, "threshold": 5, "var_init": 15.0, "var_min": 10.0, "var_max": 75.0, "k": 3,
"match_threshold": 4.5, "background_ratio": 0.9, "complexity_prior": 0.05, "shadow_tau": 0.0,
"exposure_compensation": true, "jitter_compensation": true, "ghost_frames": 3,
"still_threshold": 2.0}, "postprocess": {"median": 5, "open": 0, "close": 5, "min_area": 0,
"roi": [[0, 0], [60, 0], [60, 40]]}, "outputs": {"mask_video": true, "overlay_video": true,
"background_video": false, "shadow_video": false, "score_video": false, "masks_dir": false,
"overlay_boxes": false, "overlay_timecode": false}, "events": {"file": null, "threshold": 0.5,
"min_frames": 3, "quiet_frames": 15, "pad_before": 0, "pad_after": 0, "min_area": "0.03%",
"snapshots": true, "clips": null}}""")


def test_a_manifest_written_before_typed_configs_is_still_current(tmp_path):
    rec = recording(tmp_path, make_video(tmp_path / "a.mkv"), EARLIER_SETTINGS)
    assert run_recording(rec)["status"] == "done"
    path = Path(rec.output) / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    assert manifest["config"] == EARLIER_MANIFEST_CONFIG
    path.write_text(json.dumps({**manifest, "config": EARLIER_MANIFEST_CONFIG}))
    assert read_manifest(rec) is not None
    path.write_text(json.dumps({**manifest, "config": {**EARLIER_MANIFEST_CONFIG, "preset": "fast"}}))
    assert read_manifest(rec) is None


def test_a_corrupt_input_fails_with_its_reason_and_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("this is not a video\n")
    rec = recording(tmp_path, bad)
    result = run_recording(rec)
    assert result["status"] == "failed"
    assert result["error"] == f"cannot decode video: {bad}"
    assert not (Path(rec.output) / MANIFEST_NAME).exists()
    assert not (Path(rec.output) / "mask.mov").exists()


def test_reprocessing_drops_the_old_manifest_first(tmp_path):
    video = make_video(tmp_path / "a.mkv")
    rec = recording(tmp_path, video)
    assert run_recording(rec)["status"] == "done"
    video.write_text("now corrupt\n")  # the input changed and is now unreadable
    assert run_recording(rec)["status"] == "failed"
    assert not (Path(rec.output) / MANIFEST_NAME).exists()


class StopAfter:
    """A worker channel that asks the recording to stop after ``checks`` progress reports."""

    interval = 0.0

    def __init__(self, checks):
        self.checks = checks
        self.messages = []

    def send(self, message):
        self.messages.append(message)

    def should_stop(self):
        self.checks -= 1
        return self.checks < 0


def test_a_recording_stopped_half_way_leaves_no_video_and_no_manifest(tmp_path):
    video = make_video(tmp_path / "a.mkv", 40)
    rec = recording(tmp_path, video, {"outputs": {"overlay_video": True}})
    channel = StopAfter(checks=6)
    result = run_recording(rec, channel)
    assert result["status"] == "interrupted"
    assert 0 < result["frames"] < 40
    assert sorted(p.name for p in Path(rec.output).iterdir()) == []
    kinds = [m[0] for m in channel.messages]
    assert kinds[:2] == ["start", "open"] and "frames" in kinds


def test_a_queued_recording_asked_to_stop_touches_nothing(tmp_path):
    video = make_video(tmp_path / "a.mkv")
    rec = recording(tmp_path, video)
    assert run_recording(rec)["status"] == "done"
    assert run_recording(rec, StopAfter(checks=0))["status"] == "interrupted"
    assert read_manifest(rec) is not None


# --- progress and summary ---------------------------------------------------------------------


def test_progress_shows_recordings_frames_and_one_line_per_recording(tmp_path):
    stream = io.StringIO()
    progress = BatchProgress(2, stream=stream, bar=True, names={0: str(tmp_path / "a.mkv")})
    rec = Recording(0, 0, str(tmp_path / "a.mkv"), str(tmp_path / "out" / "a"), {})
    progress.message(("open", 0, 40))
    progress.message(("frames", 0, 15))
    progress.draw(force=True)
    progress.finished(rec, {"status": "failed", "error": "cannot decode video: a.mkv",
                            "frames": 0, "fps": 0.0, "foreground_pct": 0.0, "wall_s": 0.1})
    progress.close()
    text = stream.getvalue()
    assert f"{tmp_path / 'a.mkv'}:   0%|" in text and "0/40 frames" in text  # its own bar
    assert "0/2 recordings, 15/40 frames" in text
    assert f"failed   1/2  {tmp_path / 'a.mkv'}: cannot decode video: a.mkv\n" in text
    assert "1/2 recordings, 1 failed | 15/40 frames" in text


# --- the local executor with real worker processes --------------------------------------------


class KillWorker(BatchProgress):
    """Progress that SIGKILLs the worker processing recording ``victim``, ``times`` times: when
    it reports frames (mid-run), or as soon as it starts with ``on_start``."""

    def __init__(self, total, victim, times=1, on_start=False):
        super().__init__(total, stream=io.StringIO(), bar=False)
        self.victim = victim
        self.times = times
        self.on_start = on_start
        self.pid = None

    def message(self, message):
        kind, index, value = message
        if index == self.victim and kind == "start":
            self.pid = value
        if index == self.victim and self.times and (self.on_start or kind == "frames") and self.pid:
            self.times -= 1
            os.kill(self.pid, signal.SIGKILL)
            self.pid = None
        super().message(message)


def three_videos(tmp_path, count):
    for name in "abc":
        make_video(tmp_path / "rec" / f"{name}.mkv", count)
    return write_jobs(tmp_path, """
        workers: 2
        jobs:
          - {input: "rec/*.mkv", output: out}
        """)


def test_a_worker_killed_mid_recording_costs_a_retry_not_the_batch(tmp_path):
    batch = load_batch(three_videos(tmp_path, 150))
    progress = KillWorker(3, victim=0)
    report = run_batch(batch, progress=progress)
    assert progress.times == 0, "the worker was not killed"
    assert [r["status"] for r in report.results] == ["done", "done", "done"]
    assert "a worker process died; retrying" in progress.stream.getvalue()
    for rec in batch.recordings:
        assert read_manifest(rec) is not None
        assert len(read_masks(Path(rec.output) / "mask.mov")) == 150


def test_a_recording_that_always_kills_its_worker_fails_alone(tmp_path):
    batch = load_batch(three_videos(tmp_path, 20))
    report = run_batch(batch, progress=KillWorker(3, victim=1, times=99, on_start=True))
    assert [r["status"] for r in report.results] == ["done", "failed", "done"]
    assert report.results[1]["error"] == "the worker process died while processing it (crash or kill)"
    summary = json.loads(report.summary_json.read_text())
    assert summary["counts"] == {"done": 2, "skipped": 0, "failed": 1, "interrupted": 0}
    assert "1 failed" in format_summary(report)


def test_dask_missing_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what an install without it gives
    path = write_jobs(tmp_path, "executor: dask\njobs:\n  - {input: a.mp4, output: o}\n")
    with pytest.raises(BgsubError, match=r"^the dask executor needs dask.distributed: "
                                          r"pip install 'bgsub\[dask\]'$"):
        load_batch(path)


def test_an_unwritable_summary_folder_fails_before_anything_runs(tmp_path):
    make_video(tmp_path / "a.mkv")
    (tmp_path / "file").write_text("a file, not a folder\n")
    path = write_jobs(tmp_path, """
        summary_dir: file/reports
        jobs:
          - {input: a.mkv, output: out/a}
        """)
    with pytest.raises(BgsubError, match=r"^cannot write to folder .*file/reports: Not a directory$"):
        run_batch(load_batch(path))
    assert not (tmp_path / "out").exists()
