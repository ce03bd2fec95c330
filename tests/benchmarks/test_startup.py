"""The start-up benchmark keeps working: one cold and one warm `bgsub run` (timings not checked)."""

from conftest import load_benchmark


def test_cold_and_warm_runs_report_the_first_computed_mask(capsys):
    bench = load_benchmark("startup")
    result = bench.main(["--model", "gaussian", "--repeats", "1"])
    assert len(result["warm"]) == 1
    for first, total in [result["cold"], *result["warm"]]:
        assert 0 < first <= total
    out = capsys.readouterr().out
    assert "| cold (compiles) |" in out and "| warm |" in out
