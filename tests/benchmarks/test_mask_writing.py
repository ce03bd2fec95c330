"""The mask writing benchmark keeps working: a few small masks through every writer."""

from conftest import load_benchmark


def test_every_writer_runs_and_bgsubs_reads_back_exactly(capsys, tmp_path):
    bench = load_benchmark("mask_writing")
    results = bench.main(["--size", "64x48", "--frames", "4", "--repeats", "1",
                          "--data", str(tmp_path / "missing")])
    assert set(results) == set(bench.WRITERS)
    assert all(ms > 0 and size > 0 for ms, size, _ in results.values())
    assert results["bgsub mask.mov (1-bit PNG, no filter, RLE zlib)"][2] is True
    assert results["8-bit PNG .mov, no filter, RLE zlib"][2] is True
    assert results["OpenCV FFV1 .mkv"][2] is True
    out = capsys.readouterr().out
    assert "4 masks of the default model" in out and "| bgsub mask.mov" in out
