"""Motion events: the state machine frame by frame, the pipeline output, and ``bgsub run --events``."""

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgsub.config import DEFAULTS, load_config, resolve
from bgsub.errors import ConfigError, SinkError
from bgsub.events import (EventDetector, EventsOutput, burnt_in_overlay, draw_snapshot, timecode,
                          union_box)
from bgsub.outputs import overlay
from bgsub.frames import FrameResult
from bgsub.postprocess import Blob
from bgsub.sources import Frame
from conftest import crossing_scene, start_run

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_videos" / "highway_320x240.mp4"


def feed(detector, percents, start=1, fps=25.0, boxes=None):
    """Feed ``percents`` as frames ``start``...; returns every event, the last ones by finish()."""
    events = []
    for i, percent in enumerate(percents):
        number = start + i
        box = boxes.get(number) if boxes else None
        events += detector.update(number, (number - start) / fps, percent, box, payload=number)
    return events + detector.finish()


def spans(events):
    return [(e.start_frame, e.end_frame) for e in events]


def motion(*runs, length=60, level=5.0):
    """A percentage per frame (1-based): ``level`` inside the given (first, last) runs, else 0."""
    percents = [0.0] * length
    for first, last in runs:
        for number in range(first, last + 1):
            percents[number - 1] = level
    return percents


# --- EventDetector ------------------------------------------------------------------------------

def test_no_motion_no_event():
    assert feed(EventDetector(), [0.0] * 50) == []


def test_a_burst_shorter_than_min_frames_is_no_event():
    assert feed(EventDetector(min_frames=3), motion((10, 11), (20, 20))) == []


def test_event_starts_at_the_first_motion_frame_and_ends_at_the_last():
    events = feed(EventDetector(min_frames=3, quiet_frames=5), motion((10, 19)))
    assert spans(events) == [(10, 19)]
    event = events[0]
    assert event.index == 1 and event.frames == 10
    assert event.start_time == pytest.approx(9 / 25) and event.end_time == pytest.approx(18 / 25)
    assert event.duration == pytest.approx(10 / 25)  # the end frame lasts one frame period


def test_event_is_reported_by_the_quiet_frame_that_closes_it():
    detector = EventDetector(min_frames=2, quiet_frames=4)
    reported = {}
    for number, percent in enumerate(motion((5, 8), length=20), start=1):
        for event in detector.update(number, number / 25, percent):
            reported[number] = event
        assert detector.in_event == (5 < number < 12)  # open from its 2nd frame to the 4th quiet
    assert list(reported) == [12]
    assert spans(reported.values()) == [(5, 8)]


def test_threshold_must_be_exceeded():
    assert feed(EventDetector(threshold=2.0, min_frames=1), [2.0] * 10) == []
    assert spans(feed(EventDetector(threshold=2.0, min_frames=1), [2.01] * 10)) == [(1, 10)]


def test_a_pause_shorter_than_quiet_frames_keeps_one_event():
    events = feed(EventDetector(min_frames=2, quiet_frames=5), motion((10, 14), (19, 25)))
    assert spans(events) == [(10, 25)]
    events = feed(EventDetector(min_frames=2, quiet_frames=4), motion((10, 14), (19, 25)))
    assert spans(events) == [(10, 14), (19, 25)]
    assert [e.index for e in events] == [1, 2]


def test_peak_and_its_payload_are_the_strongest_frame_first_on_ties():
    percents = motion((10, 20))
    percents[14] = percents[16] = 9.0  # frames 15 and 17
    event, = feed(EventDetector(min_frames=3), percents)
    assert (event.peak_frame, event.peak_percent, event.peak_payload) == (15, 9.0, 15)
    assert event.peak_time == pytest.approx(14 / 25)


def test_box_is_the_union_over_the_event_including_quiet_frames_inside_it():
    boxes = {10: (5, 5, 10, 10), 11: (20, 8, 4, 4), 13: (0, 30, 2, 2), 30: (50, 50, 5, 5)}
    percents = motion((10, 12), (14, 15))  # frame 13 is quiet but inside the event
    event, = feed(EventDetector(min_frames=2, quiet_frames=3), percents, boxes=boxes)
    assert event.box == (0, 5, 24, 27)


def test_pad_before_is_clamped_to_the_first_frame_and_to_the_previous_event():
    detector = EventDetector(min_frames=2, quiet_frames=3, pad_before=5)
    assert spans(feed(detector, motion((3, 6), length=20))) == [(1, 6)]
    detector = EventDetector(min_frames=2, quiet_frames=3, pad_before=5)
    # The 2nd event's padding may only reach back to the frame after the 1st event's end.
    assert spans(feed(detector, motion((10, 12), (17, 20), length=30))) == [(5, 12), (13, 20)]


def test_pad_after_extends_the_end_and_delays_the_close():
    detector = EventDetector(min_frames=2, quiet_frames=2, pad_after=6)
    reported = []
    for number, percent in enumerate(motion((10, 12), length=40), start=1):
        reported += [(number, e) for e in detector.update(number, number / 25, percent)]
    (closed_at, event), = reported
    assert (event.start_frame, event.end_frame, closed_at) == (10, 18, 18)


def test_padded_events_never_overlap():
    detector = EventDetector(min_frames=1, quiet_frames=1, pad_before=4, pad_after=4)
    events = feed(detector, motion((10, 10), (16, 16), (30, 31), length=40))
    assert spans(events) == [(6, 14), (15, 20), (26, 35)]


def test_event_open_at_the_end_closes_at_the_last_frame_read():
    assert spans(feed(EventDetector(min_frames=2), motion((50, 60)))) == [(50, 60)]
    # Trailing quiet frames: the event ends at its last motion frame, padding up to the last frame.
    assert spans(feed(EventDetector(min_frames=2, quiet_frames=30), motion((40, 50)))) == [(40, 50)]
    detector = EventDetector(min_frames=2, quiet_frames=30, pad_after=20)
    assert spans(feed(detector, motion((40, 50)))) == [(40, 60)]


def test_frame_counts_follow_the_frames_read_not_their_numbers():
    # An image series may skip numbers (in000470, in000472, ...).
    detector = EventDetector(min_frames=2, quiet_frames=2)
    events = []
    for i, number in enumerate(range(100, 140, 2)):
        events += detector.update(number, i / 25, 5.0 if 4 <= i <= 9 else 0.0)
    assert spans(events) == [(108, 118)] and events[0].frames == 6


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError):
        EventDetector(min_frames=0)
    with pytest.raises(ConfigError):
        EventDetector(pad_after=-1)


@settings(max_examples=200, deadline=None)
@given(
    flags=st.lists(st.booleans(), max_size=120),
    min_frames=st.integers(1, 5),
    quiet_frames=st.integers(0, 8),
    pad_before=st.integers(0, 6),
    pad_after=st.integers(0, 6),
)
def test_events_are_ordered_disjoint_and_cover_every_long_enough_motion_run(
        flags, min_frames, quiet_frames, pad_before, pad_after):
    detector = EventDetector(1.0, min_frames, quiet_frames, pad_before, pad_after)
    events = feed(detector, [5.0 if f else 0.0 for f in flags])
    for event in events:
        assert 1 <= event.start_frame <= event.peak_frame <= event.end_frame <= len(flags)
        assert flags[event.peak_frame - 1]
        assert event.frames == event.end_frame - event.start_frame + 1
    for before, after in zip(events, events[1:]):
        assert before.end_frame < after.start_frame
    run = 0
    for number, flag in enumerate(flags + [False], start=1):
        if flag:
            run += 1
            continue
        if run >= min_frames:  # frames number - run .. number - 1 must lie in one event
            first, last = number - run, number - 1
            assert any(e.start_frame <= first and last <= e.end_frame for e in events)
        run = 0


def test_helpers():
    assert timecode(0) == "00:00:00.000"
    assert timecode(3723.4567) == "01:02:03.457"
    assert union_box(None, (1, 2, 3, 4)) == (1, 2, 3, 4)
    assert union_box((0, 0, 2, 2), (5, 5, 1, 1)) == (0, 0, 6, 6)


# --- EventsOutput -------------------------------------------------------------------------------

def square_results(count=40, present=range(10, 25), shape=(60, 80), box=(30, 20, 12, 10)):
    """FrameResults of a gray frame where a white ``box`` (x, y, w, h) shows in ``present``."""
    height, width = shape
    x, y, w, h = box
    results = []
    for number in range(1, count + 1):
        image = np.full((height, width, 3), 90, np.uint8)
        mask = np.zeros(shape, np.uint8)
        if number in present:
            image[y:y + h, x:x + w] = 255
            mask[y:y + h, x:x + w] = 255
        frame = Frame(number, (number - 1) / 25, image)
        results.append(FrameResult(frame, mask, mask.copy()))
    return results


def events_settings(**changes):
    return resolve({"events": changes}).events


def run_output(output, results):
    for result in results:
        output.write(result)
    output.close()
    return output


def test_json_file_with_times_box_peak_and_snapshot(tmp_path):
    path = tmp_path / "ev.json"
    settings = events_settings(min_frames=3, quiet_frames=5)
    run_output(EventsOutput(path, settings, fps=25, source="cam"), square_results())
    document = json.loads(path.read_text())
    assert document["source"] == "cam" and document["fps"] == 25 and document["frames"] == 40
    event, = document["events"]
    assert event == {
        "event": 1, "start_frame": 10, "end_frame": 24,
        "start_time": 0.36, "end_time": 0.92,
        "start_timecode": "00:00:00.360", "end_timecode": "00:00:00.920",
        "duration": 0.6, "frames": 15,
        "peak_frame": 10, "peak_time": 0.36, "peak_percent": 2.5,  # 120 of 4800 pixels
        "box": [30, 20, 12, 10], "snapshot": "ev/event_001.jpg",
    }
    snapshot = cv2.imread(str(tmp_path / "ev" / "event_001.jpg"))
    assert snapshot.shape == (60, 80, 3)
    # The box is drawn in green just around the square (JPEG: compare loosely).
    edge = snapshot[20, 31:41].astype(int)
    assert (edge[:, 1] - edge[:, 2] > 60).all() and (edge[:, 1] - edge[:, 0] > 60).all()
    assert (snapshot[25, 33:39].astype(int) > 200).all()  # the square itself is not painted
    assert not list(tmp_path.glob(".*partial"))


def test_a_plain_dict_of_some_keys_writes_what_the_typed_section_writes(tmp_path):
    typed, plain = tmp_path / "typed" / "ev.json", tmp_path / "plain" / "ev.json"
    run_output(EventsOutput(typed, events_settings(min_frames=3, quiet_frames=5), fps=25,
                            source="cam"), square_results())
    run_output(EventsOutput(plain, {"min_frames": 3, "quiet_frames": 5}, fps=25, source="cam"),
               square_results())
    assert json.loads(plain.read_text()) == json.loads(typed.read_text())
    with pytest.raises(ConfigError, match=r"^events\.quiet_frames: "):
        EventsOutput(tmp_path / "bad.json", {"quiet_frames": -1})


def test_csv_file_has_one_row_per_event(tmp_path):
    path = tmp_path / "ev.csv"
    results = square_results(count=80, present=set(range(10, 20)) | set(range(50, 60)))
    run_output(EventsOutput(path, events_settings(quiet_frames=5), fps=25), results)
    rows = list(csv.DictReader(path.open()))
    assert [(r["event"], r["start_frame"], r["end_frame"]) for r in rows] == [
        ("1", "10", "19"), ("2", "50", "59")]
    assert rows[1]["start_timecode"] == "00:00:01.960"
    assert (rows[0]["box_x"], rows[0]["box_w"], rows[0]["snapshot"]) == ("30", "12", "ev/event_001.jpg")
    assert sorted(p.name for p in (tmp_path / "ev").iterdir()) == ["event_001.jpg", "event_002.jpg"]


def test_percentage_is_of_the_roi_and_outside_foreground_is_ignored(tmp_path):
    roi = [[0, 0], [39, 0], [39, 59], [0, 59]]  # the left half: 2400 pixels
    results = square_results(box=(30, 20, 12, 10))  # 10 of its 12 columns are inside
    output = run_output(EventsOutput(tmp_path / "ev.json", events_settings(), roi=roi),
                        results)
    event, = output.events
    assert event.peak_percent == pytest.approx(100 * 100 / 2400)
    assert event.box == (30, 20, 10, 10)


def test_min_area_keeps_small_blobs_out_of_the_box(tmp_path):
    results = square_results()
    for result in results[9:24]:
        result.mask[0, 0] = 255  # a speck of noise each frame
    output = run_output(EventsOutput(tmp_path / "ev.json", events_settings(min_area=5)), results)
    assert output.events[0].box == (30, 20, 12, 10)
    output = run_output(EventsOutput(tmp_path / "e2.json", events_settings(min_area=0)), results)
    assert output.events[0].box == (0, 0, 42, 30)


def test_snapshots_can_be_turned_off(tmp_path):
    output = run_output(EventsOutput(tmp_path / "ev.json", events_settings(snapshots=False)),
                        square_results())
    assert output.events[0].snapshot is None
    assert [p.name for p in tmp_path.iterdir()] == ["ev.json"]


def test_close_after_a_partial_run_closes_the_open_event_at_the_last_frame(tmp_path):
    output = run_output(EventsOutput(tmp_path / "ev.json", events_settings()),
                        square_results()[:15])  # stopped (Ctrl-C) while the square is there
    assert spans(output.events) == [(10, 15)]
    assert json.loads((tmp_path / "ev.json").read_text())["events"][0]["end_frame"] == 15


def test_abort_writes_no_events_file_and_removes_the_snapshots(tmp_path):
    path = tmp_path / "ev.json"
    path.write_text("previous run")
    output = EventsOutput(path, events_settings(quiet_frames=2))
    for result in square_results():
        output.write(result)
    assert (tmp_path / "ev" / "event_001.jpg").exists()  # written when the event ended
    output.abort()
    assert path.read_text() == "previous run"
    assert list((tmp_path / "ev").iterdir()) == []


def test_bad_paths(tmp_path):
    with pytest.raises(ConfigError, match="must end in .json, .jsonl or .csv"):
        EventsOutput(tmp_path / "ev.txt", events_settings())
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SinkError, match="cannot write to folder"):
        EventsOutput(blocker / "ev.json", events_settings())


def test_config_validates_the_new_keys():
    assert DEFAULTS["events"]["min_area"] == "0.03%" and DEFAULTS["events"]["snapshots"] is True
    for bad in ({"file": "ev.txt"}, {"min_area": -1}, {"snapshots": "yes"}, {"min_frames": 0},
                {"min_frames": "0f"}, {"pad_before": "2 h"}, {"quiet_frames": -1},
                {"min_area": "1 %%"}, {"pad_after": 1.5}, {"clips": ""}):
        with pytest.raises(ConfigError, match=f"events.{next(iter(bad))}"):
            resolve({"events": bad})


# --- bgsub run --events -------------------------------------------------------------------------

def bgsub(*args):
    return subprocess.run([sys.executable, "-m", "bgsub", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def passing_object_video(path, write_video, count=80, enter=30, leave=45):
    """A static textured scene; a dark block drives across it from ``enter`` to ``leave``."""
    return write_video(path, crossing_scene(count, enters=(enter,), length=leave - enter))


@pytest.mark.parametrize("name", ["ev.json", "ev.csv"])
def test_bgsub_run_writes_events_and_snapshots(tmp_path, write_video, name):
    video = passing_object_video(tmp_path / "pass.mkv", write_video)
    result = bgsub("run", video, "-o", tmp_path / "out", "-q", "--events", tmp_path / name)
    assert result.returncode == 0, result.stderr
    assert f"1 motion events -> {tmp_path / name}" in result.stderr
    if name.endswith(".json"):
        event, = json.loads((tmp_path / name).read_text())["events"]
    else:
        event, = list(csv.DictReader((tmp_path / name).open()))
    assert int(event["start_frame"]) == 30 and 44 <= int(event["end_frame"]) <= 46
    assert event["start_timecode"] == "00:00:01.160"
    assert cv2.imread(str(tmp_path / event["snapshot"])).shape == (72, 96, 3)


def test_events_settings_from_the_config_file(tmp_path, write_video):
    video = passing_object_video(tmp_path / "pass.mkv", write_video)
    config = tmp_path / "c.yaml"
    config.write_text(f"events:\n  file: {tmp_path / 'ev.json'}\n  pad_before: 10\n"
                      "  pad_after: 5\n  snapshots: false\n")
    result = bgsub("run", video, "-o", tmp_path / "out", "-q", "--config", config)
    assert result.returncode == 0, result.stderr
    event, = json.loads((tmp_path / "ev.json").read_text())["events"]
    assert event["start_frame"] == 20 and event["snapshot"] is None
    assert not (tmp_path / "ev").exists()


def test_bad_events_file_name_is_one_line(tmp_path, video_file):
    result = bgsub("run", video_file, "-o", tmp_path / "out", "--events", tmp_path / "ev.txt")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"bgsub: error: events.file: must be a .json, .jsonl or .csv path, got '{tmp_path / 'ev.txt'}'"]


def test_sample_clip_gives_events_with_snapshots(tmp_path):
    events = tmp_path / "ev.json"
    result = bgsub("run", SAMPLE, "-o", tmp_path / "out", "-q", "--max-frames", "120",
                   "--events", events)
    assert result.returncode == 0, result.stderr
    document = json.loads(events.read_text())
    assert document["frames"] == 120 and document["events"]
    for event in document["events"]:
        assert event["peak_percent"] > 0.5 and event["duration"] > 0
        assert cv2.imread(str(tmp_path / event["snapshot"])) is not None


# --- durations in seconds and timecodes ---------------------------------------------------------

@pytest.mark.parametrize("fps", [10, 25, 30, 50])
def test_durations_in_seconds_mean_the_same_time_at_any_frame_rate(tmp_path, fps):
    # The square shows for 0.6 s from 0.4 s; 0.2 s of padding, 0.4 s of quiet, 0.12 s to start.
    count = int(2 * fps)
    first, last = round(0.4 * fps) + 1, round(1.0 * fps)
    results = square_results(count, range(first, last + 1))
    for number, result in enumerate(results, 1):  # timestamps at this rate
        result.frame = Frame(number, (number - 1) / fps, result.frame.image)
    settings = events_settings(pad_before="0.2s", pad_after="00:00:00.2", quiet_frames="0.4s",
                               min_frames="120ms")
    output = run_output(EventsOutput(tmp_path / "ev.json", settings, fps=fps), results)
    pad = round(0.2 * fps)
    event, = output.events
    assert (event.start_frame, event.end_frame) == (first - pad, last + pad)
    assert event.start_time == pytest.approx(0.4 - 0.2, abs=0.5 / fps)
    assert event.duration == pytest.approx(0.6 + 0.4, abs=1.01 / fps)
    recorded = json.loads((tmp_path / "ev.json").read_text())["settings"]
    assert recorded == {"threshold": 0.5, "min_frames": max(round(0.12 * fps), 1),
                        "quiet_frames": round(0.4 * fps), "pad_before": pad, "pad_after": pad}


def test_a_short_burst_is_no_event_when_min_duration_is_longer(tmp_path):
    results = square_results(60, range(10, 16))  # 6 frames: 0.24 s at 25 fps
    long = run_output(EventsOutput(tmp_path / "a.json", events_settings(min_frames="0.3s")),
                      results)
    short = run_output(EventsOutput(tmp_path / "b.json", events_settings(min_frames="0.2s")),
                       square_results(60, range(10, 16)))
    assert long.events == [] and len(short.events) == 1


def test_min_duration_and_quiet_are_other_names_for_the_frame_keys(tmp_path):
    events = resolve({"events": {"min_duration": "0.5s", "quiet": "00:00:01.5"}}).events
    assert events.min_frames == "0.5s" and events.quiet_frames == "00:00:01.5"
    assert "min_duration" not in events.to_dict() and "quiet" not in events.to_dict()
    with pytest.raises(ConfigError, match="events.quiet: is another name for quiet_frames"):
        resolve({"events": {"quiet": 3, "quiet_frames": 4}})
    config = tmp_path / "c.yaml"
    config.write_text("events:\n  threshold: 1\n  quiet: 00:00:01.5\n  pad_before: 01:30\n")
    loaded = load_config(config).events  # YAML would read these as base-60 numbers
    assert loaded.quiet_frames == "00:00:01.5" and loaded.pad_before == "01:30"
    # A command-line flag (the frame key) overrides the file's other name.
    assert load_config(config, {"events": {"quiet_frames": 7}}).events.quiet_frames == 7
    config.write_text("events:\n  threshold: 1\n  quiet: 1.5 s\n  min_duration: 0f\n")
    with pytest.raises(ConfigError, match=r"c.yaml:4: events.min_duration: must be at least 1"):
        load_config(config)


def test_percent_min_area_scales_with_the_frame(tmp_path):
    # A 12x10 square is 120 pixels: above 2% of a 60x80 frame (96), below 3% (144).
    for share, boxed in (("2%", True), ("3%", False)):
        output = run_output(EventsOutput(tmp_path / f"{share}.json",
                                         events_settings(min_area=share)), square_results())
        assert (output.events[0].box == (30, 20, 12, 10)) is boxed
        assert output.min_area == (96 if boxed else 144)


# --- the JSON Lines log ---------------------------------------------------------------------------

def test_jsonl_gets_each_event_as_it_ends(tmp_path):
    path = tmp_path / "ev.jsonl"
    path.write_text("an earlier run's line\n")
    output = EventsOutput(path, events_settings(min_frames=3, quiet_frames=5), fps=25)
    assert path.read_text() == ""
    results = square_results(80, present=[*range(10, 25), *range(50, 60)])
    for result in results[:28]:  # the first event ends with the 5th quiet frame, frame 29
        output.write(result)
    assert path.read_text() == ""
    output.write(results[28])
    first, = [json.loads(line) for line in path.read_text().splitlines()]
    assert (first["event"], first["start_frame"], first["end_frame"]) == (1, 10, 24)
    assert first == output.events[0].to_dict()
    for result in results[29:]:
        output.write(result)
    output.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["start_frame"] for line in lines] == [10, 50]
    assert path.read_text().endswith("\n") and not list(tmp_path.glob(".*partial"))


def test_jsonl_lines_written_stay_when_the_run_fails(tmp_path):
    path = tmp_path / "ev.jsonl"
    output = EventsOutput(path, events_settings(quiet_frames=2), fps=25)
    for result in square_results(40):
        output.write(result)
    output.abort()
    assert len(path.read_text().splitlines()) == 1
    assert not (tmp_path / "ev" / "event_001.jpg").exists()


def test_the_jsonl_log_shows_events_while_a_stream_run_goes_on(tmp_path, camera):
    # A paced camera: a square crosses for 10 frames, then 90 still frames, over and over.
    background = np.full((72, 96, 3), 90, np.uint8)
    background[:, ::8] = 140

    def visits():
        for i in range(10_000):
            frame = background.copy()
            if i % 100 < 10 and i >= 100:
                x = 6 * (i % 100)
                frame[20:40, x:x + 20] = (40, 200, 240)
            yield frame

    cam = camera([visits()], fps=50)
    log = tmp_path / "ev.jsonl"
    run = start_run(cam.url, tmp_path / "out", "--events", log, "--quiet-duration", "0.2s",
                    "--event-clips", tmp_path / "clips", "--pad-before", "0.1s")
    try:
        deadline = time.monotonic() + 120
        while not log.is_file() or not log.read_text():
            assert run.poll() is None, run.communicate()[1]
            assert time.monotonic() < deadline, "no event line within 120 s"
            time.sleep(0.1)
        assert run.poll() is None  # the run is still going: the line came as the event ended
        first = json.loads(log.read_text().splitlines()[0])
    finally:
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
    assert first["event"] == 1 and first["frames"] >= 3
    assert run.returncode == 130, stderr
    assert json.loads(log.read_text().splitlines()[0]) == first
    # A camera's clips are encoded from its frames: the event exactly, padding included.
    assert first["clip"] == "clips/video.event0001.mp4"
    assert first["clip_start_frame"] == first["start_frame"]
    assert len(read_all(tmp_path / first["clip"])) == first["clip_frames"] == first["frames"]


# --- burn-in on the overlay video ---------------------------------------------------------------

def test_burn_in_draws_the_boxes_and_the_timecode_frame_and_event():
    result, = square_results(1, present=[1], shape=(120, 160), box=(30, 20, 24, 20))
    result.frame = Frame(1234, 49.36, result.frame.image)
    plain = overlay(result.frame.image, result.mask)
    boxes = burnt_in_overlay(True, False)(result)
    # Without an events output the blobs come from the mask: a green box just around the square.
    assert (boxes[20, 32:52, 1] > 200).all() and (boxes[20, 32:52, 2] < 60).all()
    assert (boxes[19, 32:52] == plain[19, 32:52]).all() and (boxes[60:] == plain[60:]).all()
    result.blobs, result.event = [Blob(100, 60, 10, 10, 100)], 3
    stamped = burnt_in_overlay(True, True)(result)
    expected = draw_snapshot(plain, result.blobs, "00:00:49.360  frame 1234  event 3")
    np.testing.assert_array_equal(stamped, expected)  # the events output's blobs, and its event
    result.event = None
    unstamped = burnt_in_overlay(False, True)(result)
    np.testing.assert_array_equal(unstamped,
                                  draw_snapshot(plain, [], "00:00:49.360  frame 1234"))
    assert (unstamped[:90] == plain[:90]).all() and (unstamped[100:] != plain[100:]).any()


def test_bgsub_run_burns_boxes_and_event_numbers_into_the_overlay(tmp_path, write_video):
    video = passing_object_video(tmp_path / "pass.mkv", write_video, count=80)
    result = bgsub("run", video, "-o", tmp_path / "out", "-q", "--events", tmp_path / "ev.json",
                   "--overlay-boxes", "--overlay-timecode", "--quiet-duration", "5")
    assert result.returncode == 0, result.stderr
    plain = bgsub("run", video, "-o", tmp_path / "plain", "-q", "--overlay")
    assert plain.returncode == 0, plain.stderr
    event, = json.loads((tmp_path / "ev.json").read_text())["events"]
    stamped = read_all(tmp_path / "out" / "overlay.mp4")
    bare = read_all(tmp_path / "plain" / "overlay.mp4")
    assert len(stamped) == len(bare) == 80
    text_rows = slice(72 - 16, 72)
    for number in (10, event["start_frame"] + 5, 70):
        stamp, base = stamped[number - 1].astype(int), bare[number - 1].astype(int)
        assert np.abs(stamp[text_rows] - base[text_rows]).mean() > 10  # a label in every frame
    # Inside the event a green box is drawn around the block (rows 30..45); none before it.
    inside = event["start_frame"] + 5
    x = 4 * (inside - 30)
    rows, cols = np.nonzero(green_added(stamped[inside - 1], bare[inside - 1])[:56])
    assert rows.min() <= 30 and rows.max() >= 45 and cols.min() <= x and cols.max() >= x + 19
    assert rows.max() - rows.min() < 30 and cols.max() - cols.min() < 36  # and tight around it
    assert not green_added(stamped[9], bare[9])[:56].any()


def green_added(stamped, bare):
    """Pixels drawn in green on ``stamped`` that ``bare`` (the same frame) does not have."""
    s, b = stamped.astype(int), bare.astype(int)
    green = (s[..., 1] - s[..., 2] > 60) & (s[..., 1] - s[..., 0] > 60)
    return green & (np.abs(s - b).sum(axis=2) > 60)


def read_all(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(frame)
    return frames
