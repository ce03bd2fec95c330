"""Regenerate the figures the docs show from the current defaults.

    python benchmarks/docs_figures.py [--no-screenshot]

* the summary line of ``bgsub run`` on the bundled sample, quoted in README.md (its frame count
  and mean foreground are exact; tests/test_docs.py checks them, the time and fps are this
  machine's);
* docs/live_screenshot.png: the view of ``bgsub live --source sample_videos/highway_320x240.mp4
  --no-realtime --show-background`` at frame 158, as its snapshot key saves it (panes and status
  strip), from a real window on a private Xvfb display.

Needs Xvfb for the screenshot (apt-get install xvfb).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_videos" / "highway_320x240.mp4"
SCREENSHOT = REPO / "docs" / "live_screenshot.png"
FRAME = 158


def summary_line(workdir: Path) -> str:
    """The last line ``bgsub run`` prints for the sample with every default."""
    result = subprocess.run([sys.executable, "-m", "bgsub", "run", "-q", str(SAMPLE), "-o",
                             str(workdir / "sample")], capture_output=True, text=True, check=True)
    line = result.stderr.strip().splitlines()[-1]
    return line.replace(str(workdir / "sample"), "out/sample")


def live_view(workdir: Path):
    """The live window's view at frame :data:`FRAME`, from a real window under Xvfb."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0",
                               "1280x1024x24", "-nolisten", "tcp", "-noreset"],
                              pass_fds=(write_end,), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        with os.fdopen(read_end) as numbers:
            display = ":" + numbers.readline().strip()
        env = dict(os.environ, DISPLAY=display)
        env.pop("WAYLAND_DISPLAY", None)
        subprocess.run([sys.executable, "-m", "bgsub", "live", "--source", str(SAMPLE),
                        "--no-realtime", "--show-background", "--snapshot-after", str(FRAME),
                        "--max-frames", str(FRAME), "--snapshot-dir", str(workdir / "shots")],
                       env=env, check=True, capture_output=True, timeout=600)
    finally:
        server.terminate()
        server.wait(timeout=10)
    (view,) = (workdir / "shots").glob(f"*_f{FRAME:06d}_view.png")
    return cv2.imread(str(view))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-screenshot", action="store_true", help="only the summary line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print(f"README summary line: {summary_line(workdir)}")
        if not args.no_screenshot:
            cv2.imwrite(str(SCREENSHOT), live_view(workdir), [cv2.IMWRITE_PNG_COMPRESSION, 9])
            print(f"wrote {SCREENSHOT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
