"""A shortened soak run (benchmarks/soak.py): memory stays flat over thousands of frames."""

import json
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"
FRAMES = 3000
# Generous: a leak of one frame-sized buffer (32x24x3) per frame would add 7 MB, of a
# FrameResult per frame far more; the measured growth is under 1 MB.
MAX_GROWTH_MB = 5.0


def test_memory_stays_flat_through_models_and_pipeline():
    result = subprocess.run([sys.executable, str(SOAK), "--frames", str(FRAMES), "--json"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["frames"] == FRAMES
    for phase in ("gaussian", "gmm", "pipeline"):
        growth = report[phase]["rss_end_mb"] - report[phase]["rss_start_mb"]
        assert growth < MAX_GROWTH_MB, (phase, report[phase])
    assert report["pipeline"]["events"] == FRAMES // 100  # the scene made an event every cycle
