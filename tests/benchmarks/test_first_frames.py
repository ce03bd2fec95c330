"""The first-frames benchmark keeps working: both allocations, each in a fresh process."""

from conftest import load_benchmark


def test_both_allocations_are_timed_in_fresh_processes(capsys, tmp_path):
    bench = load_benchmark("first_frames")
    runs = bench.main(["--size", "96x64", "--frames", "3", "--repeats", "1",
                       "--data", str(tmp_path / "missing")])  # the bundled clip's frames
    assert set(runs) == {"bgsub (small pages)", "np.zeros"}
    for values in runs.values():
        assert len(values) == 1
        user, system = values[0]
        assert user > 0 and system >= 0
    assert bench.mixture.zeroed_state is bench.zeroed_state  # this process's module is untouched
    out = capsys.readouterr().out
    assert "| bgsub (small pages) |" in out and "| np.zeros |" in out
