"""The many-streams benchmark keeps working: tiny recordings through real batch commands."""

import pytest

from conftest import load_benchmark


def test_local_and_dask_rows_for_each_number_of_recordings(capsys, tmp_path):
    bench = load_benchmark("streams")
    rows = bench.main(["--size", "64x48", "--frames", "4", "--streams", "1,2", "--dask",
                       "--data", str(tmp_path / "missing")])
    assert [(r["executor"], r["streams"], r["workers"]) for r in rows] == [
        ("local", 1, 1), ("local", 2, 2), ("dask", 1, 2), ("dask", 2, 2)]
    for r in rows:
        assert r["fps"] > 0 and r["cpu_ms"] > 0
        assert r["cameras_per_core"] == pytest.approx(1000 / (25 * r["cpu_ms"]))
    out = capsys.readouterr().out
    assert "| cameras of 64x48 at 25 fps per core |" in out and out.count("| dask |") == 2
