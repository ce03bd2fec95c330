"""Shared fixtures: small real videos and image folders generated on the fly.

The scene is a static textured background with a bright square moving across it, so a
background model has something to learn and something to detect; ``masks`` is the exact
foreground of each frame.
"""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import itertools
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def crossing_scene(count: int, enters=(30,), length: int = 15) -> list[np.ndarray]:
    """``count`` BGR frames of a static textured scene that a dark block drives across, from
    each frame number in ``enters`` for ``length`` more frames (4 px a frame, left to right)."""
    rng = np.random.default_rng(7)
    background = np.clip(rng.normal(128, 4, (72, 96, 3)) + np.linspace(0, 60, 96)[None, :, None],
                         0, 255).astype(np.uint8)
    frames = []
    for number in range(1, count + 1):
        frame = background.copy()
        for enter in enters:
            if enter <= number <= enter + length:
                x = 4 * (number - enter)
                frame[30:46, x:x + 20] = (20, 30, 200)
        frames.append(frame)
    return frames


def make_scene(count: int, width: int = 96, height: int = 72, side: int = 12,
               raster: bool = False):
    """``count`` BGR frames of a square moving over a fixed texture, and its 0/255 masks.

    The square moves diagonally, or with ``raster`` sweeps the frame row by row in steps of 4
    pixels, so that no pixel is covered in more than ``side / 4`` frames of a 110-frame sweep."""
    rng = np.random.default_rng(1234)
    yy, xx = np.mgrid[0:height, 0:width]
    base = (60 + 40 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).astype(np.float32)
    background = np.stack([base, base * 0.8 + 20, base * 0.6 + 40], axis=2)
    background += rng.normal(0, 6, background.shape)
    background = np.clip(background, 0, 255).astype(np.uint8)
    frames, masks = [], []
    per_row = (width - side) // 4 + 1
    for i in range(count):
        if raster:
            x, y = 4 * (i % per_row), side * (i // per_row) % (height - side)
        else:
            x, y = (3 * i) % (width - side), (2 * i) % (height - side)
        frame = background.copy()
        frame[y:y + side, x:x + side] = (40, 200, 240)
        mask = np.zeros((height, width), np.uint8)
        mask[y:y + side, x:x + side] = 255
        frames.append(frame)
        masks.append(mask)
    return frames, masks


def write_video(path: Path, frames, fps: float = 25.0, codec: str = "FFV1") -> Path:
    """Write ``frames`` (all gray or all BGR) with OpenCV; returns ``path``."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*codec), fps,
                             (width, height), frames[0].ndim == 3)
    assert writer.isOpened(), f"test setup: cannot write {path}"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def read_video(path: Path) -> list[np.ndarray]:
    """Every frame of the video at ``path`` as OpenCV decodes it (BGR)."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    assert capture.isOpened(), f"cannot read back {path}"
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    return frames


def read_masks(path: Path) -> list[np.ndarray]:
    """Every frame of a mask video as a 2-D uint8 array (the first channel of OpenCV's BGR)."""
    return [frame[:, :, 0] for frame in read_video(path)]


def write_images(folder: Path, frames, pattern: str = "in{:06d}.png", start: int = 1) -> Path:
    """Write ``frames`` as ``pattern.format(start + i)`` files in ``folder``; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        assert cv2.imwrite(str(folder / pattern.format(start + i)), frame)
    return folder


@pytest.fixture(name="write_video")
def write_video_fixture():
    """:func:`write_video`, for tests: ``write_video(path, frames, fps=25.0, codec="FFV1")``."""
    return write_video


@pytest.fixture(name="write_images")
def write_images_fixture():
    """:func:`write_images`, for tests: ``write_images(folder, frames, pattern, start)``."""
    return write_images


@pytest.fixture
def scene():
    """20 frames of the moving-square scene: ``(frames, masks)``."""
    return make_scene(20)


@pytest.fixture
def video_file(tmp_path, scene):
    """A lossless 20-frame 96x72 BGR .mkv of the scene at 25 fps."""
    return write_video(tmp_path / "scene.mkv", scene[0])


@pytest.fixture
def image_folder(tmp_path, scene):
    """A CDnet-style folder of the scene: in000470.png … in000489.png."""
    return write_images(tmp_path / "input", scene[0], start=470)


@pytest.fixture
def highway_excerpt():
    """The shipped CDnet highway excerpt (frames 470-484): a folder with input/, groundtruth/,
    ROI.bmp and temporalROI.txt."""
    return FIXTURES / "highway_excerpt"


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 256 kB tmpfs, where the machine allows mounting one."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs",
                              str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


# --- bgsub run as a process, and a camera to feed it ---------------------------------------------

def bgsub_run(*args, **kwargs):
    """``bgsub run -q ARGS`` as a process: the CompletedProcess, output as text."""
    return subprocess.run([sys.executable, "-m", "bgsub", "run", "-q", *map(str, args)],
                          capture_output=True, text=True, timeout=300, **kwargs)


def error_line(result):
    """The one line a failed run printed; fails the test on anything else."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("bgsub: error: "), result.stderr
    return lines[0][len("bgsub: error: "):]


def final_outputs(folder):
    """Files in ``folder`` that carry a final name (no hidden partials)."""
    return sorted(p.name for p in Path(folder).iterdir() if not p.name.startswith("."))


class MjpegCamera:
    """An IP camera on localhost: multipart JPEG over HTTP, like most surveillance cameras.

    Each connection gets the next of ``sessions`` (iterables of frames), paced at ``fps``; once
    they are used up the camera answers 404, so the client's reconnects fail.
    """

    def __init__(self, sessions, fps=200.0):
        self.sessions = list(sessions)
        self.period = 1.0 / fps
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if not camera.sessions:
                    self.send_error(404)
                    return
                frames = camera.sessions.pop(0)
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace;boundary=frame")
                self.end_headers()
                with contextlib.suppress(OSError):
                    for frame in frames:
                        data = cv2.imencode(".jpg", frame)[1].tobytes()
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         b"Content-Length: %d\r\n\r\n%s\r\n" % (len(data), data))
                        time.sleep(camera.period)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/video.mjpg"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def camera():
    """``camera(sessions, fps=200.0)`` starts an :class:`MjpegCamera`; all close at the end."""
    made = []

    def start(sessions, fps=200.0):
        made.append(MjpegCamera(sessions, fps))
        return made[-1]

    yield start
    for cam in made:
        cam.close()


def moving_square_forever(shape=(72, 96)):
    """An endless stream of a square circling over a fixed background."""
    height, width = shape
    background = np.full((height, width, 3), 80, np.uint8)
    background[:, ::8] = 140
    for i in itertools.count():
        frame = background.copy()
        x, y = (3 * i) % (width - 12), (2 * i) % (height - 12)
        frame[y:y + 12, x:x + 12] = (40, 200, 240)
        yield frame


def start_run(url, out, *extra):
    """``bgsub run -q URL -o OUT EXTRA`` started in the background: the Popen."""
    return subprocess.Popen(
        [sys.executable, "-m", "bgsub", "run", "-q", url, "-o", str(out), *map(str, extra)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_frames(folder, count, process, timeout=180):
    """Wait until the run has written ``count`` PNG masks into ``folder`` (its progress)."""
    deadline = time.monotonic() + timeout
    while not folder.is_dir() or len(list(folder.glob("*.png"))) < count:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"{count} masks never appeared in {folder}"
        time.sleep(0.05)


def load_benchmark(name):
    """``benchmarks/<name>.py`` as a module (the folder is no package; its scripts import each
    other, so it is on the import path while the module loads)."""
    folder = str(Path(__file__).resolve().parents[1] / "benchmarks")
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(name, f"{folder}/{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module
