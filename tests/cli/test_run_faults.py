"""``bgsub run`` on bad input and under faults, as a real process: one readable line, the right exit
code, never a traceback for a user error, and no output that looks complete when it is not.

(A missing input file is covered in tests/cli/test_run.py; sources and sinks on their own in
tests/test_sources.py and tests/test_sinks.py.)
"""

import json
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import (bgsub_run, error_line, final_outputs, moving_square_forever, read_video,
                      start_run, wait_for_frames)

import bgsub

ROOT = Path(__file__).resolve().parents[2]


# --- bad input ----------------------------------------------------------------------------------

def _empty_video(path, codec):
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*codec), 25,
                             (96, 72), True)
    writer.release()
    return path


def test_unreadable_inputs_are_one_line_exit_2(tmp_path, scene, write_video):
    mp4 = write_video(tmp_path / "scene.mp4", scene[0], codec="mp4v")
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("this is not a video\n")
    # An MP4 cut in the middle loses its index (written at the end): nothing can be decoded.
    (tmp_path / "cut.mp4").write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])
    cases = {
        "empty.mp4": "empty file: ",
        "text.mp4": "cannot decode video: ",
        "cut.mp4": "cannot decode video: ",
        _empty_video(tmp_path / "zero.mkv", "FFV1").name: "cannot decode video: ",
        _empty_video(tmp_path / "zero.avi", "MJPG").name: "video has no frames: ",
    }
    for name, text in cases.items():
        result = bgsub_run(tmp_path / name, "-o", tmp_path / "out")
        assert result.returncode == 2, (name, result.stderr)
        assert error_line(result) == text + str(tmp_path / name)
        assert not (tmp_path / "out" / "mask.mov").exists()


def test_truncated_video_keeps_the_frames_before_the_cut(tmp_path, scene, write_video):
    full = write_video(tmp_path / "full.mkv", scene[0] * 2)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    result = bgsub_run(cut, "-o", tmp_path / "out")
    assert result.returncode == 1, result.stderr  # ran, but the input failed part of the way
    read = len(read_video(cut))
    assert 5 < read < 40
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"video ended after {read} of 40 frames (truncated or damaged?): {cut}"
    assert lines[1].startswith(f"done: {read} frames")
    assert lines[1].endswith(f", input: cut short after {read} of 40 frames -> {tmp_path / 'out'}")
    assert lines[2] == (f"bgsub: error: {cut} ended early (cut short after {read} of 40 frames); "
                        f"the outputs hold the {read} frames read")
    assert len(lines) == 3 and "Traceback" not in result.stderr
    assert len(read_video(tmp_path / "out" / "mask.mov")) == read


def test_one_pixel_frames_are_refused_for_video_but_give_png_masks(tmp_path, write_images):
    folder = write_images(tmp_path / "dots", [np.full((1, 1, 3), 10 * i, np.uint8) for i in range(8)])
    result = bgsub_run(folder, "-o", tmp_path / "out")
    assert result.returncode == 2
    assert error_line(result) == ("frames of 1x1 are too small for a video (at least 2x2; write "
                                  f"PNG masks instead): {tmp_path / 'out' / 'mask.mov'}")
    assert not (tmp_path / "out").exists()  # nor the folder the run created
    result = bgsub_run(folder, "-o", tmp_path / "out", "--no-mask-video", "--masks-dir",
                       tmp_path / "masks")
    assert result.returncode == 0, result.stderr
    masks = sorted((tmp_path / "masks").iterdir())
    assert len(masks) == 8
    assert cv2.imread(str(masks[-1]), cv2.IMREAD_UNCHANGED).shape == (1, 1)


def test_odd_sized_frames_in_every_output(tmp_path, scene, write_images):
    folder = write_images(tmp_path / "odd", [f[:71, :95].copy() for f in scene[0]])
    result = bgsub_run(folder, "-o", tmp_path / "out", "--overlay", "--background",
                       "--shadow-video", "--events", tmp_path / "ev.json", "--masks-dir",
                       tmp_path / "masks")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == ("frames are 95x71 but videos need even sizes: "
                                             "videos are written at 94x70")
    videos = {name: read_video(tmp_path / "out" / name)
              for name in ("mask.mov", "overlay.mp4", "background.mp4", "labels.mkv")}
    for name, frames in videos.items():
        assert len(frames) == 20 and frames[0].shape[:2] == (70, 94), name
    # The video is the PNG mask without its last row and column: cropped, never resampled.
    pngs = sorted((tmp_path / "masks").iterdir())
    for number in (5, 19):
        png = cv2.imread(str(pngs[number]), cv2.IMREAD_UNCHANGED)
        assert png.shape == (71, 95)
        assert np.array_equal(videos["mask.mov"][number][:, :, 0], png[:70, :94])


@pytest.mark.parametrize("kind", ["gray", "bgra", "uint16"])
def test_gray_bgra_and_16_bit_images_are_converted(tmp_path, scene, write_images, kind):
    convert = {
        "gray": lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY),
        "bgra": lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2BGRA),
        "uint16": lambda f: f.astype(np.uint16) * 257,  # the high byte is the 8-bit value
    }[kind]
    folder = write_images(tmp_path / kind, [convert(f) for f in scene[0]])
    result = bgsub_run(folder, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    # The same masks as the 8-bit BGR original gives (as gray for a gray input).
    original = write_images(tmp_path / "bgr", scene[0])
    result = bgsub_run(original, "-o", tmp_path / "ref", *(["--gray"] if kind == "gray" else []))
    assert result.returncode == 0, result.stderr
    masks = read_video(tmp_path / "out" / "mask.mov")
    expected = read_video(tmp_path / "ref" / "mask.mov")
    assert len(masks) == 20 and all(np.array_equal(a, b) for a, b in zip(masks, expected))
    assert any(m.any() for m in masks)


def test_float_images_are_refused_clearly(tmp_path, scene):
    folder = tmp_path / "float"
    folder.mkdir()
    for i, frame in enumerate(scene[0][:3]):
        assert cv2.imwrite(str(folder / f"f{i:03d}.tiff"), frame.astype(np.float32) / 255)
    result = bgsub_run(folder, "-o", tmp_path / "out")
    assert result.returncode == 2
    assert error_line(result).startswith("unsupported pixel type float32 (need 8- or 16-bit): ")


# --- a camera that reconnects at another resolution --------------------------------------------

def test_resolution_change_mid_stream_keeps_one_playable_video(tmp_path, scene, camera):
    small = [cv2.resize(f, (64, 48)) for f in scene[0][10:]]
    cam = camera([scene[0][:10], small])
    result = bgsub_run(cam.url, "-o", tmp_path / "out", "--overlay", "--masks-dir",
                       tmp_path / "masks", "--events", tmp_path / "ev.json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert ("bgsub: warning: frame size changed from (72, 96, 3) to (48, 64, 3): model "
            "re-initialised") in result.stderr.splitlines()
    for name in ("mask.mov", "overlay.mp4"):
        frames = read_video(tmp_path / "out" / name)
        assert len(frames) == 20 and {f.shape[:2] for f in frames} == {(72, 96)}, name
    assert set(np.unique(np.stack(read_video(tmp_path / "out" / "mask.mov")))) <= {0, 255}
    # PNG masks keep each frame's own size.
    sizes = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape for p in sorted((tmp_path / "masks").iterdir())]
    assert sizes == [(72, 96)] * 10 + [(48, 64)] * 10
    assert json.loads((tmp_path / "ev.json").read_text())["frames"] == 20


# --- output faults ------------------------------------------------------------------------------

def test_unwritable_output_places_are_one_line_before_any_work(tmp_path, video_file):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for args, text in [
        (("-o", blocker / "out"), f"cannot write to folder {blocker / 'out'}: "),
        (("-o", "/proc/bgsub-out"), "cannot write to folder /proc/bgsub-out: "),
        (("-o", tmp_path / "o", "--masks-dir", blocker / "m"), f"cannot write to folder {blocker / 'm'}: "),
        (("-o", tmp_path / "o", "--events", blocker / "ev.json"), f"cannot write to folder {blocker}: "),
        (("-o", tmp_path / "o", "--save-model", blocker / "m.npz"), f"cannot write to folder {blocker}: "),
    ]:
        result = bgsub_run(video_file, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert error_line(result).startswith(text), result.stderr
        assert "done:" not in result.stderr


def test_running_out_of_disk_is_one_line_and_leaves_nothing_that_looks_complete(
        tmp_path, tiny_filesystem, write_video):
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(120)]
    video = write_video(tmp_path / "noise.mkv", noise)  # incompressible: ~7 MB of outputs
    out = tiny_filesystem / "out"
    result = bgsub_run(video, "-o", out, "--overlay", "--events", out / "ev.json")
    assert result.returncode == 2, result.stderr
    assert "no space left on device" in error_line(result).lower()
    assert not out.exists()  # partial files are removed, and the folder the run created


# --- signals ------------------------------------------------------------------------------------

@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_stop_signal_finalises_every_output_with_the_frames_so_far(tmp_path, camera, signum, code):
    cam = camera([moving_square_forever()], fps=100)
    out = tmp_path / "out"
    process = start_run(cam.url, out, "--overlay", "--events", tmp_path / "ev.json",
                        "--save-model", tmp_path / "m.npz", "--masks-dir", tmp_path / "masks")
    wait_for_frames(tmp_path / "masks", 20, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert lines[-1] == "bgsub: interrupted"
    summary = next(line for line in lines if line.startswith("interrupted after "))
    frames = int(summary.split()[2])
    assert frames >= 20
    assert final_outputs(out) == ["mask.mov", "overlay.mp4"]
    assert not [p for p in out.iterdir() if "partial" in p.name]
    masks = read_video(out / "mask.mov")
    assert len(masks) == frames
    assert masks[-1][:, :, 0].any()  # the last frame holds the square: the file ends cleanly
    assert len(read_video(out / "overlay.mp4")) == frames
    events = json.loads((tmp_path / "ev.json").read_text())
    assert events["frames"] == frames
    assert events["events"][-1]["end_frame"] == frames  # the open event closed at the last frame
    # The signal is held while a frame goes through the model: the model learned what was written.
    assert bgsub.load_model(tmp_path / "m.npz").frames_seen == frames


def test_sigkill_leaves_no_output_that_looks_complete(tmp_path, camera):
    cam = camera([moving_square_forever()], fps=100)
    out = tmp_path / "out"
    process = start_run(cam.url, out, "--overlay", "--events", tmp_path / "ev.json",
                        "--save-model", tmp_path / "m.npz", "--masks-dir", tmp_path / "masks")
    wait_for_frames(tmp_path / "masks", 20, process)
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert final_outputs(out) == []
    assert not (tmp_path / "ev.json").exists() and not (tmp_path / "m.npz").exists()
    # The lock file stays with the dead run's pid: the next run takes it over.
    assert {p.name for p in out.iterdir()} <= {".mask.partial.mov", ".overlay.partial.mp4",
                                               ".bgsub.lock"}

