"""The stage profile keeps working and its stages add up to the model's apply."""

import pytest

from conftest import load_benchmark


def test_every_stage_is_timed_and_they_add_up(capsys, tmp_path):
    bench = load_benchmark("stages")
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
