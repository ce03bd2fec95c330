"""The start-up benchmark keeps working: one cold and one warm `bgsub run` (timings not checked)."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_cold_and_warm_runs_report_the_first_computed_mask(capsys):
    spec = importlib.util.spec_from_file_location("startup", REPO / "benchmarks" / "startup.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.main(["--model", "gaussian", "--repeats", "1"])
    assert len(result["warm"]) == 1
    for first, total in [result["cold"], *result["warm"]]:
        assert 0 < first <= total
    out = capsys.readouterr().out
    assert "| cold (compiles) |" in out and "| warm |" in out
