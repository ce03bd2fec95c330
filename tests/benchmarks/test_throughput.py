"""The throughput benchmark keeps working: it runs here on tiny frames (timings not checked)."""

import numpy as np
import pytest

from conftest import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("throughput")


def test_frames_come_from_the_bundled_clip_without_the_dataset(bench, tmp_path):
    frames, description = bench.load_frames(5, data=tmp_path / "missing")
    assert len(frames) == 5
    assert all(f.shape == (240, 320, 3) and f.dtype == np.uint8 for f in frames)
    assert "highway_320x240.mp4" in description


def test_rows_cover_every_method_and_size_with_consistent_numbers(bench):
    rng = np.random.default_rng(0)
    source = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(6)]
    rows = bench.throughput_rows(source, [(32, 24), (16, 12)], k=3, warmup=3, count=3, repeats=2)
    assert [(r["size"], r["method"]) for r in rows] == [
        (size, method)
        for size in ("32x24", "16x12")
        for method in ("bgsub-default", "bgsub-default-downscale-2", "bgsub-default-downscale-4",
                       "bgsub-fast", "bgsub-gmm", "mog2", "mog2-shadows")
    ]
    for size in ("32x24", "16x12"):
        group = {r["method"]: r for r in rows if r["size"] == size}
        reference = group["mog2"]["fps"]
        assert group["mog2"]["ratio"] == 1.0
        for r in group.values():
            w, h = map(int, size.split("x"))
            assert r["fps"] > 0 and r["cpu_ms"] >= 0
            assert r["ratio"] == pytest.approx(r["fps"] / reference)
            assert r["mpx_s"] == pytest.approx(r["fps"] * w * h / 1e6)
            assert r["spread"][0] <= r["fps"] <= r["spread"][1]
        assert group["bgsub-default"]["k"] == 3 and group["bgsub-fast"]["k"] is None


def test_state_sizes_match_the_models(bench):
    rows = {(r["method"], r["k"]): r["bytes"] for r in bench.state_rows([1, 5])}
    assert rows == {
        ("bgsub-fast", None): 24,
        # components, their count, the still count; the default adds D and the last labels
        ("bgsub-default", 1): 27,
        ("bgsub-gmm", 1): 22,
        ("mog2", 1): 21,
        ("bgsub-default", 5): 107,
        ("bgsub-gmm", 5): 102,
        ("mog2", 5): 101,
    }


def test_touched_bytes_follow_the_live_components(bench):
    model = bench.bgsub.FeedbackMixture(k=3)
    model.apply(np.zeros((4, 5, 3), np.uint8))
    # one live component of 5 float32 read and written, D read and written, count, previous
    # label, its dilation, still count, 3 frame bytes, the label; 3 byte passes of 2, a screen
    assert bench.touched_bytes(model) == (2 * 20 + 8 + 4 + 3 + 1 + 6 + 1, 1.0)
    model.n_components[:10] = 3  # half the pixels with three
    assert bench.touched_bytes(model) == (2 * 20 * 2 + 8 + 4 + 3 + 1 + 6 + 1, 2.0)
    assert bench.memory_bandwidth(megabytes=4, repeats=1) > 0


def test_command_line_prints_the_tables(bench, capsys, tmp_path):
    bench.main(["--sizes", "32x24", "--repeats", "1", "--frames", "2", "--warmup", "2",
                "--k-sweep", "1,2", "--k-sweep-size", "16x12", "--bandwidth-mb", "8",
                "--data", str(tmp_path / "missing")])
    out = capsys.readouterr().out
    assert "| frame size | method | K | fps | Mpx/s | x MOG2 |" in out
    assert out.count("| 32x24 |") == 7  # seven methods at the one size
    assert "memory bound of bgsub-default at 32x24: " in out and "x the bound), MOG2" in out
    assert out.count("| 16x12 |") == 4  # the default and MOG2 at K = 1 and 2
    assert "| bgsub-default | 5 | 107 |" in out and "| mog2 | 2 | 41 |" in out
