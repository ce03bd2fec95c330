"""Output sinks: real files written and read back with OpenCV."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import read_video

from bgsub.errors import SinkError
from bgsub.sinks import ImageSequenceSink, VideoSink, bilevel_png


def _one_line(err: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(err.value)
    return str(err.value)


# --- VideoSink ----------------------------------------------------------------------------------

@pytest.mark.parametrize("ext", [".mov", ".mkv", ".avi"])
def test_masks_round_trip_losslessly(tmp_path, scene, ext):
    path = tmp_path / f"mask{ext}"
    with VideoSink(path, 25) as sink:
        for number, mask in enumerate(scene[1], start=1):
            sink.write(number, mask)
    back = read_video(path)
    assert len(back) == len(scene[1])
    for mask, frame in zip(scene[1], back):
        assert np.array_equal(frame[..., 0], mask)
        assert np.array_equal(frame[..., 1], mask) and np.array_equal(frame[..., 2], mask)


def test_colour_frames_round_trip_losslessly_in_mkv(tmp_path, scene):
    path = tmp_path / "overlay.mkv"
    with VideoSink(path, 25) as sink:
        for number, frame in enumerate(scene[0], start=1):
            sink.write(number, frame)
    assert all(np.array_equal(a, b) for a, b in zip(read_video(path), scene[0]))


def test_png_video_round_trips_colour_and_keeps_a_fractional_rate(tmp_path, scene):
    path = tmp_path / "overlay.mov"
    with VideoSink(path, 30000 / 1001) as sink:
        assert sink.codec == "png "
        for number, frame in enumerate(scene[0], start=1):
            sink.write(number, frame)
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(29.97, abs=1e-3)
    capture.release()
    back = read_video(path)
    assert len(back) == len(scene[0])
    assert all(np.array_equal(a, b) for a, b in zip(back, scene[0]))


def test_png_video_holds_shadow_labels_exactly(tmp_path):
    # Masks carry three values; every one must come back as written, in every frame.
    rng = np.random.default_rng(3)
    labels = [rng.choice(np.uint8([0, 127, 255]), (48, 64)) for _ in range(5)]
    path = tmp_path / "labels.mov"
    with VideoSink(path, 25) as sink:
        for number, image in enumerate(labels, start=1):
            sink.write(number, image)
    assert all(np.array_equal(a[..., 1], b) for a, b in zip(read_video(path), labels))


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (5, 9), (4, 17), (48, 64), (33, 250)])
def test_bilevel_png_is_the_mask_for_opencv_and_for_ffmpeg(shape):
    # Widths that fill the last byte of a row and widths that leave it part empty; every value a
    # mask could hold, nonzero coming back as 255. Two decoders: OpenCV's libpng and FFmpeg's own.
    import av

    rng = np.random.default_rng(sum(shape))
    mask = rng.choice(np.uint8([0, 1, 127, 254, 255]), shape)
    expected = np.where(mask > 0, 255, 0).astype(np.uint8)
    encoded = bilevel_png(mask)
    assert np.array_equal(cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_UNCHANGED),
                          expected)
    codec = av.CodecContext.create("png", "r")
    (frame,) = codec.decode(av.Packet(encoded))
    assert frame.format.name == "monob"
    assert np.array_equal(frame.to_ndarray(format="gray"), expected)


def test_binary_png_video_keeps_one_bit_a_pixel_and_every_mask(tmp_path, scene):
    import av

    path = tmp_path / "mask.mov"
    with VideoSink(path, 25, binary=True) as sink:
        for number, mask in enumerate(scene[1], start=1):
            sink.write(number, mask)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "monob"
        decoded = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    assert len(decoded) == len(scene[1])
    assert all(np.array_equal(a, b) for a, b in zip(decoded, scene[1]))
    assert all(np.array_equal(a[..., 2], b) for a, b in zip(read_video(path), scene[1]))


def test_binary_is_ignored_by_a_colour_video(tmp_path, scene):
    path = tmp_path / "overlay.mov"
    with VideoSink(path, 25, binary=True) as sink:
        for number, frame in enumerate(scene[0], start=1):
            sink.write(number, frame)
    assert all(np.array_equal(a, b) for a, b in zip(read_video(path), scene[0]))


def test_mp4_is_written_lossy_but_complete(tmp_path, scene):
    path = tmp_path / "overlay.mp4"
    with VideoSink(path, 25) as sink:
        assert sink.codec == "mp4v"
        for number, frame in enumerate(scene[0], start=1):
            sink.write(number, frame)
    back = read_video(path)
    assert len(back) == 20
    assert cv2.PSNR(back[10], scene[0][10]) > 25


def test_colour_follows_is_color(tmp_path, scene):
    gray_path, colour_path = tmp_path / "g.mkv", tmp_path / "c.mkv"
    with VideoSink(gray_path, 25, is_color=False) as gray, \
            VideoSink(colour_path, 25, is_color=True) as colour:
        gray.write(1, scene[0][0])     # BGR into a gray video
        colour.write(1, scene[1][0])   # a mask into a colour video
    expected = cv2.cvtColor(scene[0][0], cv2.COLOR_BGR2GRAY)
    assert np.array_equal(read_video(gray_path)[0][..., 0], expected)
    assert np.array_equal(read_video(colour_path)[0][..., 2], scene[1][0])


@pytest.mark.parametrize("ext", [".mov", ".mkv"])
def test_partial_name_while_open_final_name_after_close(tmp_path, scene, ext):
    path = tmp_path / "out" / f"mask{ext}"
    sink = VideoSink(path, 25)
    sink.write(1, scene[1][0])
    assert sink.partial_path == tmp_path / "out" / f".mask.partial{ext}"
    assert sink.partial_path.exists() and not path.exists()
    sink.close()
    assert path.exists() and not sink.partial_path.exists()
    assert len(read_video(path)) == 1


def test_existing_output_is_replaced_only_on_close(tmp_path, scene):
    path = tmp_path / "mask.mkv"
    path.write_bytes(b"previous run")
    sink = VideoSink(path, 25)
    sink.write(1, scene[1][0])
    assert path.read_bytes() == b"previous run"
    sink.close()
    assert len(read_video(path)) == 1


def test_abort_removes_the_partial_file(tmp_path, scene):
    sink = VideoSink(tmp_path / "mask.mkv", 25)
    sink.write(1, scene[1][0])
    sink.abort()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", [".mov", ".mkv"])
def test_ctrl_c_inside_with_keeps_a_playable_file(tmp_path, scene, ext):
    path = tmp_path / f"mask{ext}"
    with pytest.raises(KeyboardInterrupt), VideoSink(path, 25) as sink:
        for number, mask in enumerate(scene[1][:7], start=1):
            sink.write(number, mask)
        raise KeyboardInterrupt
    back = read_video(path)
    assert len(back) == 7
    assert np.array_equal(back[6][..., 0], scene[1][6])


@pytest.mark.parametrize("ext", [".mov", ".mkv"])
def test_other_exception_inside_with_removes_the_file(tmp_path, scene, ext):
    with pytest.raises(ZeroDivisionError), VideoSink(tmp_path / f"mask{ext}", 25) as sink:
        sink.write(1, scene[1][0])
        1 / 0  # noqa: B018
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", [".mov", ".mkv"])
def test_killed_process_leaves_only_the_partial_name(tmp_path, ext):
    path = tmp_path / f"mask{ext}"
    script = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        from bgsub.sinks import VideoSink
        sink = VideoSink({str(path)!r}, 25)
        for number in range(1, 6):
            sink.write(number, np.full((24, 32), 255 * (number % 2), np.uint8))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == -9, result.stderr.decode()
    assert [p.name for p in tmp_path.iterdir()] == [f".mask.partial{ext}"]


def test_frame_of_another_size_is_an_error(tmp_path, scene):
    sink = VideoSink(tmp_path / "mask.mkv", 25)
    sink.write(1, scene[1][0])
    with pytest.raises(SinkError) as err:
        sink.write(2, scene[1][0][:36, :48])
    assert _one_line(err).startswith("frame 2 is 48x36 but the video is 96x72")
    sink.abort()


def test_close_without_frames_creates_nothing(tmp_path):
    VideoSink(tmp_path / "mask.mkv", 25).close()
    assert list(tmp_path.iterdir()) == []


def test_write_after_close_is_an_error(tmp_path, scene):
    sink = VideoSink(tmp_path / "mask.mkv", 25)
    sink.write(1, scene[1][0])
    sink.close()
    with pytest.raises(SinkError):
        sink.write(2, scene[1][1])


def test_unknown_codec_is_refused_on_first_write(tmp_path, scene):
    sink = VideoSink(tmp_path / "mask.mkv", 25, codec="ZZZZ")
    with pytest.raises(SinkError) as err:
        sink.write(1, scene[1][0])
    assert _one_line(err) == f"cannot open a ZZZZ video writer for {tmp_path / 'mask.mkv'}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs", [{"fps": 0}, {"fps": 25, "codec": "FFV"}])
def test_bad_arguments(tmp_path, kwargs):
    with pytest.raises(SinkError):
        VideoSink(tmp_path / "mask.mkv", **kwargs)


def test_unknown_extension_without_codec(tmp_path):
    with pytest.raises(SinkError) as err:
        VideoSink(tmp_path / "mask.xyz", 25)
    assert "unsupported video extension '.xyz'" in _one_line(err)


def test_rename_failure_is_a_sink_error(tmp_path, scene):
    path = tmp_path / "mask.mkv"
    sink = VideoSink(path, 25)
    sink.write(1, scene[1][0])
    (path / "in-the-way").mkdir(parents=True)  # a non-empty folder where the file should go
    with pytest.raises(SinkError) as err:
        sink.close()
    assert _one_line(err).startswith(f"cannot finish {path}:")
    assert not sink.partial_path.exists()


def _unwritable_folders(tmp_path):
    regular_file = tmp_path / "a-file"
    regular_file.write_text("x")
    # Root ignores permission bits, so use places no one can create files in.
    return [regular_file / "out", Path("/proc/bgsub-test-out")]


def test_unwritable_output_folder(tmp_path):
    for folder in _unwritable_folders(tmp_path):
        with pytest.raises(SinkError) as err:
            VideoSink(folder / "mask.mkv", 25)
        assert _one_line(err).startswith(f"cannot write to folder {folder}:")
        with pytest.raises(SinkError) as err:
            ImageSequenceSink(folder)
        assert _one_line(err).startswith(f"cannot write to folder {folder}:")


def test_parents_are_created(tmp_path, scene):
    with VideoSink(tmp_path / "a" / "b" / "mask.mkv", 25) as sink:
        sink.write(1, scene[1][0])
    assert (tmp_path / "a" / "b" / "mask.mkv").exists()


@pytest.mark.parametrize("ext", [".mkv", ".mov"])
def test_disk_full_is_a_sink_error(tiny_filesystem, ext):
    noise = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    with pytest.raises(SinkError) as err, VideoSink(tiny_filesystem / f"v{ext}", 25) as sink:
        for number in range(1, 200):  # 200 incompressible frames are ~11 MB
            sink.write(number, np.roll(noise, number, axis=1))
    assert "no space left" in _one_line(err).lower()
    assert list(tiny_filesystem.iterdir()) == []
    images = ImageSequenceSink(tiny_filesystem / "pngs")
    with pytest.raises(SinkError) as err:
        for number in range(1, 200):
            images.write(number, np.roll(noise, number, axis=1))
    assert "No space left on device" in _one_line(err)
    assert not [p for p in (tiny_filesystem / "pngs").iterdir() if p.name.startswith(".")]


# --- ImageSequenceSink --------------------------------------------------------------------------

def test_image_sequence_uses_cdnet_names_and_round_trips(tmp_path, scene):
    with ImageSequenceSink(tmp_path / "results") as sink:
        for offset, mask in enumerate(scene[1][:3]):
            sink.write(470 + offset, mask)
    names = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert names == ["bin000470.png", "bin000471.png", "bin000472.png"]
    back = cv2.imread(str(tmp_path / "results" / "bin000471.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(back, scene[1][1])


def test_image_sequence_naming_options(tmp_path, scene):
    sink = ImageSequenceSink(tmp_path, prefix="bg_", ext="jpg", digits=4)
    sink.write(7, scene[0][0])
    assert sink.path_for(7) == tmp_path / "bg_0007.jpg"
    assert cv2.imread(str(tmp_path / "bg_0007.jpg")).shape == (72, 96, 3)


def test_image_sequence_abort_keeps_finished_files(tmp_path, scene):
    with pytest.raises(RuntimeError), ImageSequenceSink(tmp_path) as sink:
        sink.write(1, scene[1][0])
        raise RuntimeError("model failed")
    assert [p.name for p in tmp_path.iterdir()] == ["bin000001.png"]


def test_image_sequence_unknown_extension(tmp_path):
    with pytest.raises(SinkError):
        ImageSequenceSink(tmp_path, ext=".xyz")


def test_image_sequence_clear_removes_only_its_own_names(tmp_path, scene):
    sink = ImageSequenceSink(tmp_path, prefix="bin", digits=6)
    for number in (1, 2, 1000000):
        sink.write(number, scene[1][0])
    for name in ("bin01.png", "bin000003.jpg", "xbin000004.png", "notes.txt"):
        (tmp_path / name).write_text("not a mask of this sink")
    assert sink.clear() == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bin000003.jpg", "bin01.png", "notes.txt", "xbin000004.png"]
