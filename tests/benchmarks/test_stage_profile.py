"""The stage profile keeps working and its stages add up to the model's apply."""

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_every_stage_is_timed_and_they_add_up(capsys, tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("stages", REPO / "benchmarks" / "stages.py")
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    original = bench.mixture.stripes.run
    stages, apply_ms, post_ms, shares = bench.main(["--size", "64x48", "--warmup", "3",
                                                    "--frames", "3",
                                                    "--data", str(tmp_path / "missing")])
    assert bench.mixture.stripes.run is original  # the module is left as it was
    assert {"mixture kernel", "ghost absorption", "exposure compensation",
            "shake estimate and compensation", "feedback state (dilated last labels)",
            "copy of the labels", "rest of apply"} == set(stages)
    assert stages["mixture kernel"] > 0 and post_ms > 0
    assert sum(stages.values()) == pytest.approx(apply_ms)
    assert shares.sum() == pytest.approx(1.0) and shares[0] == 0  # every pixel keeps a component
    assert "| **FeedbackMixture.apply** |" in capsys.readouterr().out
