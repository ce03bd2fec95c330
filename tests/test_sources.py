"""Frame sources over real files written by OpenCV in temporary folders."""

from __future__ import annotations

import functools
import http.server
import logging
import threading
import time

import cv2
import numpy as np
import pytest

from bgsub.errors import ConfigError, SourceError
from bgsub.sources import (
    Reconnect,
    Pacer,
    normalize_image,
    open_source,
    quiet_opencv,
    reopen_with_backoff,
)


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# --- videos -------------------------------------------------------------------------------------

def test_video_frames_are_numbered_from_one_with_timestamps(video_file, scene):
    with open_source(video_file) as source:
        frames = list(source)
        assert source.kind == "video"
        assert source.size == (96, 72)
        assert source.fps == 25.0
        assert source.frame_count == 20
    assert [f.number for f in frames] == list(range(1, 21))
    assert frames[5].timestamp == pytest.approx(5 / 25)
    # FFV1 is lossless: the decoded frames are the written ones.
    assert all(np.array_equal(f.image, s) for f, s in zip(frames, scene[0]))


def test_video_is_decoded_on_one_ffmpeg_thread(video_file):
    # The pipeline's reader thread is the decoder's parallelism; FFmpeg's own frame threads
    # would take CPU time from the model's cores.
    with open_source(video_file) as source:
        assert source._capture.get(cv2.CAP_PROP_N_THREADS) == 1


def test_video_spec_can_be_a_path_object_or_string(video_file):
    assert open_source(str(video_file)).frame_count == open_source(video_file).frame_count


def test_missing_path(tmp_path):
    with pytest.raises(SourceError) as err:
        open_source(tmp_path / "nope.mp4")
    assert _one_line(err) == f"no such file or folder: {tmp_path / 'nope.mp4'}"


def test_empty_file(tmp_path):
    (tmp_path / "empty.mp4").touch()
    with pytest.raises(SourceError) as err:
        open_source(tmp_path / "empty.mp4")
    assert _one_line(err).startswith("empty file:")


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video\n" * 50)
    with pytest.raises(SourceError) as err:
        open_source(path)
    assert _one_line(err) == f"cannot decode video: {path}"


def test_video_with_zero_frames(tmp_path):
    path = tmp_path / "zero.avi"
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"FFV1"), 25,
                             (32, 24))
    writer.release()
    assert path.stat().st_size > 0  # a container with headers and no frame
    with pytest.raises(SourceError) as err:
        open_source(path)
    assert _one_line(err) == f"video has no frames: {path}"


@pytest.mark.parametrize("ext", [".mkv", ".avi"])
def test_truncated_video_yields_what_it_can_then_warns(tmp_path, write_video, scene, caplog, ext):
    full = write_video(tmp_path / f"full{ext}", scene[0])
    cut = tmp_path / f"cut{ext}"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    with caplog.at_level(logging.WARNING, logger="bgsub.sources"), open_source(cut) as source:
        frames = list(source)
    assert 0 < len(frames) < 20
    assert np.array_equal(frames[0].image, scene[0][0])
    assert "truncated" in caplog.text and str(cut) in caplog.text


def test_realtime_paces_video_without_changing_frames(video_file):
    with open_source(video_file, realtime=True) as paced, open_source(video_file) as plain:
        assert [f.number for f in paced] == [f.number for f in plain]


def _pacer_on_a_fake_clock(start):
    """A 10 fps :class:`Pacer` whose clock is ``now[0]`` and whose sleeps advance it; returns
    ``(pacer, now, slept)``."""
    now = [start]
    slept = []

    def sleep(seconds):
        slept.append(round(seconds, 6))
        now[0] += seconds

    return Pacer(10.0, clock=lambda: now[0], sleep=sleep), now, slept


def test_pacer_sleeps_until_each_frames_due_time_and_never_for_late_frames():
    pacer, now, slept = _pacer_on_a_fake_clock(100.0)
    pacer.wait(0)          # starts the clock, no wait
    now[0] += 0.03
    pacer.wait(1)          # due at +0.1: sleeps 0.07
    now[0] += 0.5          # consumer slow: frame 2 (due +0.2) is late
    pacer.wait(2)
    assert slept == [0.07]


def test_time_the_pacer_is_held_is_not_playback_time():
    pacer, now, slept = _pacer_on_a_fake_clock(0.0)
    pacer.wait(0)
    with pacer.held():     # paused for 5 s
        now[0] += 5.0
    pacer.wait(1)          # still due 0.1 s after frame 0 in playback time
    assert slept == [0.1]


def test_a_stopped_pacer_ends_its_wait_at_once():
    pacer = Pacer(0.01)    # one frame every 100 s
    pacer.wait(0)
    threading.Timer(0.2, pacer.stop).start()
    started = time.monotonic()
    pacer.wait(1)
    assert time.monotonic() - started < 30
    started = time.monotonic()
    pacer.wait(2)          # and every later wait returns at once
    assert time.monotonic() - started < 1


# --- image folders and globs --------------------------------------------------------------------

def test_cdnet_folder_numbers_frames_from_file_names(image_folder, scene):
    with open_source(image_folder) as source:
        frames = list(source)
        assert source.kind == "images"
        assert source.frame_count == 20
        assert source.fps == 25.0
        assert source.size == (96, 72)
    assert [f.number for f in frames] == list(range(470, 490))
    assert frames[0].name == "in000470.png"
    assert frames[3].timestamp == pytest.approx(3 / 25)
    assert np.array_equal(frames[7].image, scene[0][7])


def test_wallflower_folder_keeps_zero_and_skips_ground_truth(tmp_path, write_images, scene):
    folder = write_images(tmp_path / "trees", scene[0][:6], pattern="b{:05d}.bmp", start=0)
    cv2.imwrite(str(folder / "hand_segmented_00003.BMP"), scene[1][3])
    (folder / "script.txt").write_text("frames 0-5\n")
    with open_source(folder) as source:
        frames = list(source)
    assert [f.number for f in frames] == [0, 1, 2, 3, 4, 5]
    assert all(f.name.startswith("b") for f in frames)


def test_folder_is_read_in_natural_order(tmp_path, write_images, scene):
    folder = tmp_path / "frames"
    for n in (1, 2, 10, 9):
        write_images(folder, [scene[0][n]], pattern="f{}.png", start=n)
    with open_source(folder) as source:
        assert [f.number for f in source] == [1, 2, 9, 10]


def test_extensions_are_case_insensitive(tmp_path, write_images, scene):
    folder = write_images(tmp_path / "upper", scene[0][:3], pattern="IMG{:03d}.PNG")
    with open_source(folder) as source:
        assert [f.number for f in source] == [1, 2, 3]


def test_two_equally_large_series_are_ambiguous(tmp_path, write_images, scene):
    folder = write_images(tmp_path / "mixed", scene[0][:3], pattern="in{:06d}.png")
    write_images(folder, scene[1][:3], pattern="gt{:06d}.png")
    with pytest.raises(SourceError) as err:
        open_source(folder)
    assert "pass a glob" in _one_line(err)


def test_glob_selects_files(tmp_path, write_images, scene):
    folder = write_images(tmp_path / "both", scene[0][:4], pattern="in{:06d}.png")
    write_images(folder, scene[1][:5], pattern="gt{:06d}.png")
    with open_source(str(folder / "in*.png")) as source:
        frames = list(source)
    assert [f.number for f in frames] == [1, 2, 3, 4]
    assert frames[0].image.ndim == 3  # the BGR inputs, not the gray masks


def test_glob_matching_nothing(tmp_path):
    with pytest.raises(SourceError) as err:
        open_source(str(tmp_path / "*.png"))
    assert _one_line(err).startswith("no images match:")


def test_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError) as err:
        open_source(tmp_path)
    assert _one_line(err) == f"no images in folder: {tmp_path}"


def test_unreadable_image_is_skipped_and_counted_or_named_when_strict(image_folder, caplog):
    bad = image_folder / "in000475.png"
    bad.write_bytes(b"garbage, not a png")
    with caplog.at_level(logging.WARNING, logger="bgsub.sources"), open_source(image_folder) as source:
        numbers = [frame.number for frame in source]
    assert numbers == [n for n in range(470, 490) if n != 475] and source.skipped == 1
    assert caplog.messages == [f"skipped an unreadable image: {bad}"]
    with open_source(image_folder, strict=True) as source, pytest.raises(SourceError) as err:
        list(source)
    assert _one_line(err) == f"cannot read image: {bad}"


def test_unreadable_first_images_are_skipped_but_not_all_of_them(image_folder):
    for number in (470, 471):
        (image_folder / f"in{number:06d}.png").write_bytes(b"garbage")
    with open_source(image_folder) as source:
        assert [frame.number for frame in source][:2] == [472, 473] and source.skipped == 2
    for path in image_folder.iterdir():
        path.write_bytes(b"garbage")
    with pytest.raises(SourceError) as err:
        open_source(image_folder)
    assert _one_line(err) == f"no readable images: {image_folder}"


def test_image_of_another_size_keeps_its_size(image_folder, scene):
    cv2.imwrite(str(image_folder / "in000480.png"), cv2.resize(scene[0][0], (48, 36)))
    with open_source(image_folder) as source:
        shapes = [frame.image.shape for frame in source]
    assert shapes[10] == (36, 48, 3) and shapes[:10] + shapes[11:] == [(72, 96, 3)] * 19


def test_image_fps_is_settable_and_validated(image_folder):
    with open_source(image_folder, fps=10) as source:
        assert source.fps == 10.0
        assert [f.timestamp for f in source][:2] == [0.0, 0.1]
    with pytest.raises(ConfigError):
        open_source(image_folder, fps=0)


def test_shipped_highway_excerpt(highway_excerpt):
    with open_source(highway_excerpt / "input") as source:
        frames = list(source)
        assert source.size == (320, 240)
    assert [f.number for f in frames] == list(range(470, 485))
    assert frames[0].image.shape == (240, 320, 3)


# --- pixel formats ------------------------------------------------------------------------------

def test_bgra_16bit_and_gray_files_become_uint8(tmp_path, scene):
    bgr = scene[0][0]
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    bgra[..., 3] = 7
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    cv2.imwrite(str(tmp_path / "b.png"), bgr.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "c.png"), scene[1][0])
    assert cv2.imread(str(tmp_path / "b.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    images = {}
    for name in ("a", "b", "c"):
        with open_source(tmp_path / f"{name}.png") as source:
            images[name] = next(iter(source)).image
    assert images["a"].dtype == np.uint8 and np.array_equal(images["a"], bgr)
    assert images["b"].dtype == np.uint8 and np.array_equal(images["b"], bgr)
    assert images["c"].shape == (72, 96) and np.array_equal(images["c"], scene[1][0])


def test_gray_frames_in_a_colour_folder_are_converted(tmp_path, write_images, scene):
    folder = write_images(tmp_path / "f", scene[0][:2], pattern="in{:06d}.png")
    cv2.imwrite(str(folder / "in000003.png"), cv2.cvtColor(scene[0][2], cv2.COLOR_BGR2GRAY))
    with open_source(folder) as source:
        assert [f.image.shape for f in source] == [(72, 96, 3)] * 3


def test_float_images_are_refused():
    with pytest.raises(SourceError) as err:
        normalize_image(np.zeros((4, 4, 3), np.float32), "x.tif")
    assert _one_line(err) == "unsupported pixel type float32 (need 8- or 16-bit): x.tif"


def test_float_tiff_file_is_refused(tmp_path):
    path = tmp_path / "depth.tiff"
    assert cv2.imwrite(str(path), np.ones((8, 8), np.float32))
    with pytest.raises(SourceError) as err:
        open_source(path)
    assert "float32" in _one_line(err) and str(path) in str(err.value)


def test_single_channel_3d_is_squeezed():
    assert normalize_image(np.zeros((4, 5, 1), np.uint8), "x").shape == (4, 5)


# --- cameras and streams ------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [7, "7"])
def test_absent_camera(spec):
    with pytest.raises(SourceError) as err:
        open_source(spec)
    assert _one_line(err) == "camera 7 is not available"


def test_unreachable_stream():
    with pytest.raises(SourceError) as err:
        open_source("rtsp://127.0.0.1:1/cam")
    assert _one_line(err) == "cannot open stream: rtsp://127.0.0.1:1/cam"


def _serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_http_file_is_a_finite_stream(video_file):
    server, base = _serve(functools.partial(_Quiet, directory=str(video_file.parent)))
    try:
        with open_source(f"{base}/{video_file.name}") as source:
            assert source.kind == "stream" and not source.live  # read as a file, not dropped
            frames = list(source)
    finally:
        server.shutdown()
    assert [f.number for f in frames] == list(range(1, 21))
    assert source.ended == "end of stream" and not source.cut_short


def test_http_file_cut_short_says_so(tmp_path, scene, write_video):
    full = write_video(tmp_path / "full.mkv", scene[0] * 2)
    (tmp_path / "cut.mkv").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    server, base = _serve(functools.partial(_Quiet, directory=str(tmp_path)))
    try:
        with open_source(f"{base}/cut.mkv") as source:
            read = len(list(source))
    finally:
        server.shutdown()
    assert 5 < read < 40 and source.cut_short
    assert source.ended == f"cut short after {read} of 40 frames"


def _mjpeg_handler(jpegs, connections):
    """An IP-camera-like multipart MJPEG server that sends ``jpegs`` then drops the client."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            connections.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace;boundary=frame")
            self.end_headers()
            for jpeg in jpegs:
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d"
                                 b"\r\n\r\n%s\r\n" % (len(jpeg), jpeg))

        def log_message(self, *args):
            pass

    return Handler


def test_live_stream_reconnects_then_gives_up_cleanly(scene, caplog):
    jpegs = [cv2.imencode(".jpg", frame)[1].tobytes() for frame in scene[0][:4]]
    connections = []
    server, base = _serve(_mjpeg_handler(jpegs, connections))
    numbers = []
    with caplog.at_level(logging.WARNING, logger="bgsub.sources"):
        with open_source(f"{base}/cam", reconnect=Reconnect(delays=(0.01, 0.01))) as source:
            assert source.kind == "stream" and source.frame_count is None and source.live
            for frame in source:
                numbers.append(frame.number)
                if len(numbers) == 6:  # mid second connection: the camera goes away
                    server.shutdown()
                    server.server_close()
    # 4 frames per connection, 2 connections, then both reconnect tries fail.
    assert numbers == list(range(1, 9))
    assert len(connections) == 2
    assert "giving up" in caplog.text
    assert source.ended == "stream lost after 2 reconnects" and not source.cut_short


def test_reopen_with_backoff_waits_each_delay_until_success():
    slept, results = [], iter([None, None, "capture"])
    assert reopen_with_backoff(lambda: next(results), (0.5, 1, 2), slept.append) == "capture"
    assert slept == [0.5, 1, 2]
    slept.clear()
    assert reopen_with_backoff(lambda: None, (0.5, 1), slept.append) is None
    assert slept == [0.5, 1]


def test_quiet_opencv_restores_the_log_level_after_overlapping_uses():
    before = cv2.getLogLevel()
    outer = quiet_opencv()
    outer.__enter__()
    with quiet_opencv():
        assert cv2.getLogLevel() == 0
    assert cv2.getLogLevel() == 0  # the outer use is still silent
    outer.__exit__(None, None, None)
    assert cv2.getLogLevel() == before
