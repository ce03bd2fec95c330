"""The end-to-end benchmark keeps working: a tiny clip through both commands (timings not checked)."""

from conftest import load_benchmark


def test_both_commands_run_on_a_tiny_clip(capsys, tmp_path):
    bench = load_benchmark("end_to_end")
    result = bench.main(["--size", "64x48", "--frames", "6", "--repeats", "1",
                         "--data", str(tmp_path / "missing")])
    seconds, budget = result["seconds"], result["budget"]
    assert set(seconds) == {"opencv", "bgsub", "bgsub-fast", "bgsub-auto"}
    assert all(len(runs) == 1 and runs[0] > 0 for runs in seconds.values())
    assert {"MOG2.apply", "FeedbackMixture.apply (default)", "FFV1 mask encoding",
            "bgsub mask.mov writing"} <= set(budget)
    assert all(ms > 0 for ms in budget.values())  # raw CPU times: every stage did some work
    out = capsys.readouterr().out
    assert "6 frames of" in out and "at 64x48" in out
    assert "| bgsub run (defaults) |" in out and "| OpenCV loop" in out
    assert "| bgsub run --preset fast |" in out and "| bgsub run --downscale auto |" in out
    assert "| FFV1 mask encoding |" in out and "fps bound on" in out
    assert "Bound: bgsub's defaults can run at most" in out and "1.5x needs a budget" in out


def test_decoding_is_timed_over_every_frame(tmp_path):
    bench = load_benchmark("end_to_end")
    video = tmp_path / "clip.mp4"
    count, _ = bench.make_clip(video, (64, 48), 7, tmp_path / "missing")
    frames, ms = bench.decoded(video)
    assert len(frames) == count == 7
    assert ms > 0
