"""benchmarks/mask_digests.py, as a real process on a small image folder: the same masks give the
same digest, other masks (another model) a different one and exit 1 against the first."""

import json
import subprocess
import sys
from pathlib import Path

from conftest import make_scene, write_images

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "mask_digests.py"


def digests(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def test_digests_tell_equal_masks_from_different_ones(tmp_path):
    frames, _ = make_scene(30)
    folder = write_images(tmp_path / "scene", frames)
    first = digests(folder, "-o", tmp_path / "a.json")
    assert first.returncode == 0, first.stderr
    recorded = json.loads((tmp_path / "a.json").read_text())
    assert recorded["scene"]["frames"] == 30 and len(recorded["scene"]["sha256"]) == 64
    again = digests(folder, "--against", tmp_path / "a.json")
    assert again.returncode == 0 and "same" in again.stdout
    other = digests(folder, "--against", tmp_path / "a.json", "--", "--preset", "fast")
    assert other.returncode == 1 and "DIFFERENT" in other.stdout
