"""The numbers the docs quote from the current defaults, rerun (benchmarks/docs_figures.py
regenerates them)."""

import re
import subprocess
import sys
from pathlib import Path

import bgsub

ROOT = Path(__file__).resolve().parent.parent


def test_readme_summary_line_is_what_a_run_of_the_sample_prints(tmp_path):
    quoted = re.search(r"`(done: (\d+) frames in [\d.]+ s \([\d.]+ fps\), mean foreground "
                       r"([\d.]+)%) -> out/sample`", (ROOT / "README.md").read_text())
    assert quoted, "the README's example summary line is missing"
    result = subprocess.run([sys.executable, "-m", "bgsub", "run", "-q",
                             ROOT / "sample_videos" / "highway_320x240.mp4", "-o", tmp_path],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    printed = re.search(r"done: (\d+) frames in .* mean foreground ([\d.]+)%", result.stderr)
    assert printed.groups() == quoted.groups()[1:]


def test_live_docs_state_the_default_models_parameters():
    live = " ".join((ROOT / "docs" / "live.md").read_text().split())
    params = bgsub.FeedbackParams()
    assert (f"`feedback threshold {params.threshold:.2f} learning rate auto history "
            f"{params.history} k {params.k}`") in live
