"""The mask writing benchmark keeps working: a few small masks through every writer."""

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_writer_runs_and_bgsubs_reads_back_exactly(capsys, tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("mask_writing",
                                                      REPO / "benchmarks" / "mask_writing.py")
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    results = bench.main(["--size", "64x48", "--frames", "4", "--repeats", "1",
                          "--data", str(tmp_path / "missing")])
    assert set(results) == set(bench.WRITERS)
    assert all(ms > 0 and size > 0 for ms, size, _ in results.values())
    assert results["bgsub mask.mov (PNG, no filter, RLE zlib)"][2] is True
    assert results["OpenCV FFV1 .mkv"][2] is True
    out = capsys.readouterr().out
    assert "4 masks of the default model" in out and "| bgsub mask.mov" in out
