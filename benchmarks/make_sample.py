"""Rebuild the bundled sample data from the CDnet 2014 highway sequence.

    python benchmarks/make_sample.py [--data ../shared/data/highway]

Writes sample_videos/highway_320x240.mp4 (frames 1-400 at 25 fps, MPEG-4 Part 2: the encoder the
pip OpenCV build has that every common player decodes; about 2.3 MB) and the test excerpt
tests/fixtures/highway_excerpt (frames 470-484 in CDnet layout, copied byte for byte, with
temporalROI.txt narrowed to those frames). See sample_videos/README.md for the attribution.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "highway"


def write_clip(data: Path, out: Path, first: int, last: int, fps: float) -> None:
    """Encode input frames ``first..last`` of a CDnet sequence as one video."""
    frames = [data / "input" / f"in{n:06d}.jpg" for n in range(first, last + 1)]
    height, width = cv2.imread(str(frames[0])).shape[:2]
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), fps,
                             (width, height))
    if not writer.isOpened():
        raise SystemExit(f"cannot write {out}")
    for path in frames:
        image = cv2.imread(str(path))
        if image is None:
            raise SystemExit(f"cannot read {path}")
        writer.write(image)
    writer.release()
    print(f"{out}: frames {first}-{last}, {out.stat().st_size / 1e6:.2f} MB")


def write_excerpt(data: Path, out: Path, first: int, last: int) -> None:
    """Copy frames ``first..last`` with their ground truth in CDnet's folder layout."""
    if out.exists():
        shutil.rmtree(out)
    (out / "input").mkdir(parents=True)
    (out / "groundtruth").mkdir()
    for n in range(first, last + 1):
        shutil.copyfile(data / "input" / f"in{n:06d}.jpg", out / "input" / f"in{n:06d}.jpg")
        shutil.copyfile(data / "groundtruth" / f"gt{n:06d}.png",
                        out / "groundtruth" / f"gt{n:06d}.png")
    shutil.copyfile(data / "ROI.bmp", out / "ROI.bmp")
    (out / "temporalROI.txt").write_text(f"{first} {last}\n")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: frames {first}-{last}, {size / 1e3:.0f} kB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CDnet highway folder")
    args = parser.parse_args()
    write_clip(args.data, REPO / "sample_videos" / "highway_320x240.mp4", 1, 400, 25.0)
    write_excerpt(args.data, REPO / "tests" / "fixtures" / "highway_excerpt", 470, 484)


if __name__ == "__main__":
    main()
