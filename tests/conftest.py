"""Shared fixtures: small real videos and image folders generated on the fly.

The scene is a static textured background with a bright square moving across it, so a
background model has something to learn and something to detect; ``masks`` is the exact
foreground of each frame.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


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
