"""Event clips cut out of real video files: copied packets where the stream allows, re-encoded
otherwise; checked by decoding them with OpenCV and probing them with ffprobe."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from conftest import crossing_scene

from bgsub.clips import ClipCutter
from bgsub.errors import SinkError

FFPROBE = shutil.which("ffprobe")


def textured_frames(count, shape=(72, 96), seed=3):
    """A texture panning one pixel a frame: each frame's content tells its number, and the
    encoder predicts most frames from the one before (keyframes only now and then)."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (shape[0], shape[1] + count, 3)), (5, 5), 2)
    texture = texture.astype(np.uint8)
    return [np.ascontiguousarray(texture[:, i:i + shape[1]]) for i in range(count)]


def decode(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def probe(path):
    """ffprobe's frame count (decoding every frame), start time and duration of ``path``."""
    out = subprocess.run([FFPROBE, "-v", "error", "-count_frames", "-select_streams", "v:0",
                          "-show_entries", "stream=nb_read_frames,start_time,r_frame_rate",
                          "-show_entries", "format=duration", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    stream = data["streams"][0]
    return (int(stream["nb_read_frames"]), float(stream["start_time"]),
            float(data["format"]["duration"]))


def h264_with_b_frames(path, frames, fps=25):
    """An H.264 file whose frames are reordered (B-frames), as most cameras write them."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.max_b_frames = 2
        stream.codec_context.options = {"g": "20"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def keyframes(path):
    """1-based numbers of the keyframes of ``path`` (constant 25 fps from time 0)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [round(packet.pts * stream.time_base * 25) + 1
                for packet in container.demux(stream) if packet.size and packet.is_keyframe]


def test_mpeg4_clips_copy_the_packets_from_the_keyframe_before_the_event(tmp_path, write_video):
    frames = textured_frames(60)
    video = write_video(tmp_path / "cam.mp4", frames, codec="mp4v")
    source = decode(video)  # the input as a player shows it (MPEG-4 is lossy)
    keys = keyframes(video)
    assert keys[:3] == [1, 13, 25]  # OpenCV's MPEG-4 writer: a keyframe every 12 frames
    cutter = ClipCutter(video, tmp_path / "clips")
    for index, (start, end) in enumerate([(30, 41), (13, 13), (1, 5), (50, 60)], 1):
        clip = cutter.cut(index, start, end)
        first = max(k for k in keys if k <= start)
        assert clip.copied and clip.path == tmp_path / "clips" / f"cam.event{index:04d}.mp4"
        assert (clip.start_frame, clip.frames) == (first, end - first + 1)
        got = decode(clip.path)
        assert len(got) == clip.frames
        for offset, image in enumerate(got):  # the very same pictures: packets copied
            np.testing.assert_array_equal(image, source[clip.start_frame - 1 + offset])
        if FFPROBE:
            assert probe(clip.path) == (clip.frames, 0.0, pytest.approx(clip.frames / 25))
    assert not list((tmp_path / "clips").glob(".*"))


def test_intra_only_clips_are_exact(tmp_path, write_video):
    frames = textured_frames(40)
    video = write_video(tmp_path / "cam.avi", frames, codec="MJPG")  # every frame a keyframe
    source = decode(video)
    clip = ClipCutter(video, tmp_path / "clips").cut(7, 17, 29)
    assert clip.copied and clip.path.name == "cam.event0007.avi"
    assert (clip.start_frame, clip.frames) == (17, 13)
    got = decode(clip.path)
    assert len(got) == 13
    for offset, image in enumerate(got):
        np.testing.assert_array_equal(image, source[16 + offset])


def test_lossless_clips_hold_the_input_frames_themselves(tmp_path, write_video):
    frames = textured_frames(40)
    video = write_video(tmp_path / "cam.mkv", frames)  # FFV1 in Matroska, lossless
    first = max(k for k in keyframes(video) if k <= 17)
    clip = ClipCutter(video, tmp_path / "clips").cut(1, 17, 29)
    assert clip.copied and clip.path.name == "cam.event0001.mkv"
    assert (clip.start_frame, clip.frames) == (first, 29 - first + 1)
    got = decode(clip.path)
    assert len(got) == clip.frames
    for offset, image in enumerate(got):
        np.testing.assert_array_equal(image, frames[first - 1 + offset])


def test_reordered_streams_are_re_encoded_exactly(tmp_path):
    frames = textured_frames(60)
    video = h264_with_b_frames(tmp_path / "cam.mp4", frames)
    source = decode(video)
    clip = ClipCutter(video, tmp_path / "clips").cut(1, 23, 41)
    assert not clip.copied and (clip.start_frame, clip.frames) == (23, 19)
    got = decode(clip.path)
    assert len(got) == 19
    for offset, image in enumerate(got):  # re-encoded (lossy): nearest to its own source frame
        errors = [np.abs(image.astype(int) - s.astype(int)).mean() for s in source]
        assert int(np.argmin(errors)) == 22 + offset
    if FFPROBE:
        assert probe(clip.path) == (19, 0.0, pytest.approx(19 / 25))


def test_a_range_past_the_end_is_an_error_and_leaves_nothing(tmp_path, write_video):
    video = write_video(tmp_path / "cam.mkv", textured_frames(10))
    cutter = ClipCutter(video, tmp_path / "clips")
    with pytest.raises(SinkError, match="cannot write event clip .*cam.event0001.mkv"):
        cutter.cut(1, 5, 12)
    assert list((tmp_path / "clips").iterdir()) == []


def test_abort_removes_the_clips(tmp_path, write_video):
    video = write_video(tmp_path / "cam.mkv", textured_frames(10))
    cutter = ClipCutter(video, tmp_path / "clips")
    paths = [cutter.cut(1, 1, 3).path, cutter.cut(2, 6, 8).path]
    assert all(p.is_file() for p in paths)
    cutter.abort()
    assert not any(p.exists() for p in paths)


# --- bgsub run --events --event-clips -----------------------------------------------------------

def bgsub(*args):
    return subprocess.run([sys.executable, "-m", "bgsub", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def two_visits(count=120):
    """A static scene; a dark block crosses it in frames 30..45 and again in 80..95."""
    return crossing_scene(count, enters=(30, 80))


@pytest.mark.parametrize("suffix, codec", [(".mp4", "mp4v"), (".avi", "MJPG")])
def test_bgsub_run_writes_a_clip_per_event_matching_the_events_file(tmp_path, write_video,
                                                                   suffix, codec):
    video = write_video(tmp_path / f"cam{suffix}", two_visits(), codec=codec)
    source = decode(video)
    result = bgsub("run", video, "-o", tmp_path / "out", "-q", "--events", tmp_path / "ev.json",
                   "--event-clips", tmp_path / "clips", "--pad-before", "0.2s",
                   "--pad-after", "4", "--quiet-duration", "00:00:00.4")
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "ev.json").read_text())
    assert document["settings"]["pad_before"] == 5 and document["settings"]["quiet_frames"] == 10
    events = document["events"]
    assert len(events) == 2
    for event in events:
        clip = tmp_path / event["clip"]
        assert clip == tmp_path / "clips" / f"cam.event{event['event']:04d}{suffix}"
        # The clip covers the event, from a keyframe at or before its padded start to its end.
        assert event["clip_start_frame"] <= event["start_frame"]
        assert event["clip_start_frame"] + event["clip_frames"] - 1 == event["end_frame"]
        if codec == "MJPG":  # every frame a keyframe: the clip is the event exactly
            assert event["clip_start_frame"] == event["start_frame"]
            assert event["clip_frames"] == event["frames"]
        got = decode(clip)
        assert len(got) == event["clip_frames"]
        assert cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT) == event["clip_frames"]
        for offset, image in enumerate(got):
            np.testing.assert_array_equal(image, source[event["clip_start_frame"] - 1 + offset])
        if FFPROBE:
            frames, start, duration = probe(clip)
            assert (frames, start) == (event["clip_frames"], 0.0)
            assert duration == pytest.approx(event["clip_frames"] / 25)
            if codec == "MJPG":  # exact: the clip lasts as long as the event says
                assert duration == pytest.approx(event["duration"])


def test_event_clips_in_csv_and_from_the_config_file(tmp_path, write_video):
    video = write_video(tmp_path / "cam.avi", two_visits(), codec="MJPG")
    config = tmp_path / "c.yaml"
    config.write_text(f"events:\n  file: {tmp_path / 'ev.csv'}\n  clips: {tmp_path / 'clips'}\n"
                      "  min_duration: 0.12s\n  quiet: 00:00:00.4\n")
    result = bgsub("run", video, "-o", tmp_path / "out", "-q", "--config", config)
    assert result.returncode == 0, result.stderr
    rows = list(__import__("csv").DictReader((tmp_path / "ev.csv").open()))
    assert len(rows) == 2
    for row in rows:
        assert row["clip"] == f"clips/cam.event{int(row['event']):04d}.avi"
        assert len(decode(tmp_path / row["clip"])) == int(row["clip_frames"]) == int(row["frames"])


@pytest.mark.parametrize("pad_before", [0, 3])
def test_clips_of_an_image_folder_are_encoded_from_the_frames(tmp_path, write_images, pad_before):
    frames = two_visits()
    folder = write_images(tmp_path / "frames", frames, start=101)  # numbered 101..220
    result = bgsub("run", folder, "-o", tmp_path / "out", "-q", "--events", tmp_path / "ev.json",
                   "--event-clips", tmp_path / "clips", "--pad-before", pad_before,
                   "--pad-after", 4, "--quiet-duration", 10)
    assert result.returncode == 0, result.stderr
    events = json.loads((tmp_path / "ev.json").read_text())["events"]
    assert len(events) == 2
    for event in events:
        assert event["clip"] == f"clips/frames.event{event['event']:04d}.mp4"
        # Exactly the event: no keyframes to start from, the frames themselves are encoded.
        assert event["clip_start_frame"] == event["start_frame"]
        assert event["clip_frames"] == event["frames"] == event["end_frame"] - event["start_frame"] + 1
        got = decode(tmp_path / event["clip"])
        assert len(got) == event["frames"]
        for offset, image in enumerate(got):  # MPEG-4: close to its own frame, not another's
            own = frames[event["start_frame"] - 101 + offset].astype(int)
            assert np.abs(image.astype(int) - own).mean() < 4
        if FFPROBE:
            count, start, duration = probe(tmp_path / event["clip"])
            assert (count, start) == (event["frames"], 0.0)
            assert duration == pytest.approx(event["duration"])
    assert events[0]["start_frame"] == 130 - pad_before  # frame 30 of the video, padded


def test_event_clips_need_an_events_file(tmp_path, write_video):
    video = write_video(tmp_path / "cam.mkv", two_visits(20))
    result = bgsub("run", video, "-o", tmp_path / "out", "--event-clips", tmp_path / "clips")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "bgsub: error: events.clips: event clips need an events file (events.file, --events)"]


def test_batch_jobs_write_event_clips_in_their_output_folder(tmp_path, write_video):
    for name in ("a", "b"):
        write_video(tmp_path / f"{name}.avi", two_visits(), codec="MJPG")
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("defaults:\n  events: {file: ev.jsonl, clips: clips, quiet: 0.4s}\n"
                    "jobs:\n  - {input: a.avi, output: out/a}\n"
                    "  - {input: b.avi, output: out/b, events: {quiet_frames: 40}}\n")
    result = bgsub("batch", jobs, "--workers", "1")
    assert result.returncode == 0, result.stderr
    for name, count in (("a", 2), ("b", 1)):  # b's 40 quiet frames join its two visits
        lines = (tmp_path / "out" / name / "ev.jsonl").read_text().splitlines()
        assert len(lines) == count
        for line in lines:
            event = json.loads(line)
            clip = tmp_path / "out" / name / event["clip"]
            assert clip.parent == Path(tmp_path / "out" / name / "clips")
            assert len(decode(clip)) == event["clip_frames"] == event["frames"]


@pytest.mark.parametrize("settings", [
    {"quiet_frames": 5}, {"quiet_frames": 3, "pad_after": 6}, {"quiet_frames": 6, "pad_after": 6},
    {"pad_before": 8, "min_frames": 4, "quiet_frames": 12, "pad_after": 2},
])
def test_frame_clips_hold_exactly_each_event(tmp_path, settings):
    # Two visits, the second still going when the input ends (closed by close()).
    from bgsub.config import resolve
    from bgsub.events import EventsOutput
    from bgsub.frames import FrameResult
    from bgsub.sources import Frame

    frames = textured_frames(70)
    present = {*range(10, 21), *range(24, 27), *range(45, 71)}
    events_settings = resolve({"events": {**settings, "clips": str(tmp_path / "clips"),
                                          "file": str(tmp_path / "ev.json")}}).events
    output = EventsOutput(tmp_path / "ev.json", events_settings, fps=25, source="cam/")
    for number, image in enumerate(frames, 1):
        mask = np.zeros(image.shape[:2], np.uint8)
        if number in present:
            mask[10:40, 10:40] = 255
        output.write(FrameResult(Frame(number, (number - 1) / 25, image), mask, mask))
    output.close()
    assert len(output.events) == 2
    for event in output.events:
        clip = tmp_path / event.clip["clip"]
        assert clip.name == f"cam.event{event.index:04d}.mp4"
        got = decode(clip)
        assert len(got) == event.clip["clip_frames"] == event.frames
        for offset, image in enumerate(got):  # each frame nearest to its own input frame
            errors = [np.abs(image.astype(int) - f.astype(int)).mean() for f in frames]
            assert int(np.argmin(errors)) == event.start_frame - 1 + offset
