"""What a new user meets first, as real processes: file modes of every output, one-line usage
errors, messages that say what is wrong, and no empty folders left behind."""

import os
import socket
import stat
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import bgsub_run, error_line, make_scene, write_video


def bgsub(*args, umask=0o022, **kwargs):
    """``bgsub ARGS`` as a process under ``umask``: the CompletedProcess, output as text."""
    return subprocess.run([sys.executable, "-m", "bgsub", *map(str, args)], capture_output=True,
                          text=True, timeout=300, preexec_fn=lambda: os.umask(umask), **kwargs)


def modes(folder):
    """``{relative path: permission bits}`` of every file under ``folder``."""
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode)
            for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o027, 0o640)])
def test_every_output_gets_the_users_umask(tmp_path, umask, expected):
    video = write_video(tmp_path / "cam.mkv", make_scene(40)[0])
    out = tmp_path / "out"
    result = bgsub("run", "-q", video, "-o", out / "run", "--events", out / "ev.json",
                   "--save-model", out / "model.npz", "--masks-dir", out / "masks", umask=umask)
    assert result.returncode == 0, result.stderr
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(textwrap.dedent(f"""
        summary_dir: {out / 'summary'}
        jobs:
          - input: {video}
            output: {out / 'batch'}
    """))
    result = bgsub("batch", "-q", jobs, umask=umask)
    assert result.returncode == 0, result.stderr
    result = bgsub("train", "-q", video, "-o", out / "trained.npz", "--frames", 20, umask=umask)
    assert result.returncode == 0, result.stderr
    found = modes(out)
    for name in ("run/mask.mov", "ev.json", "model.npz", "masks/bin000001.png", "summary/summary.json",
                 "summary/summary.csv", "batch/.bgsub-manifest.json", "trained.npz"):
        assert name in found, sorted(found)
    assert any(name.startswith("ev/") and name.endswith(".jpg") for name in found)  # snapshots
    wrong = {name: oct(mode) for name, mode in found.items()
             if mode != expected and not name.endswith(".bgsub.lock")}
    assert not wrong


USAGE_ERRORS = {
    "misspelt option": (("run", "--tresh", "3", "x.mp4"), "--threshold"),
    "missing argument": (("run",), "INPUT"),
    "unknown command": (("rnu", "x.mp4"), "rnu"),
}


@pytest.mark.parametrize("case", USAGE_ERRORS, ids=list(USAGE_ERRORS))
def test_usage_errors_are_one_line_exit_2(case):
    args, named = USAGE_ERRORS[case]
    result = bgsub(*args)
    assert result.returncode == 2
    assert named in error_line(result)


def test_usage_error_for_an_output_path_that_is_a_file(tmp_path, video_file):
    (tmp_path / "afile").write_text("")
    result = bgsub("run", video_file, "-o", tmp_path / "afile")
    assert result.returncode == 2
    assert "afile" in error_line(result) and "is a file" in error_line(result)


def test_misspelt_option_suggests_the_one_meant():
    assert "did you mean --threshold?" in error_line(bgsub("run", "--treshold", "3", "x.mp4"))


def test_eval_of_a_file_says_it_is_not_a_sequence_directory(tmp_path, video_file):
    line = error_line(bgsub("eval", video_file))
    assert str(video_file) in line and "is a file, not a sequence directory" in line


def test_batch_of_a_missing_file_says_job_file(tmp_path):
    line = error_line(bgsub("batch", tmp_path / "missing.yaml"))
    assert line == f"job file not found: {tmp_path / 'missing.yaml'}"


def test_batch_with_an_unreachable_scheduler_fails_at_once(tmp_path, video_file):
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(f"jobs:\n  - input: {video_file}\n    output: {tmp_path / 'out'}\n")
    start = time.monotonic()
    result = bgsub("batch", jobs, "--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{port}")
    took = time.monotonic() - start
    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in error_line(result)
    assert took < 8, took  # the interpreter and dask's import take most of it
    assert not (tmp_path / "out").exists()


def test_no_empty_output_folder_when_a_later_output_cannot_be_created(tmp_path, video_file):
    (tmp_path / "blocker").write_text("")  # a file where a folder should go
    out = tmp_path / "new" / "out"
    result = bgsub_run(video_file, "-o", out, "--masks-dir", tmp_path / "blocker" / "masks")
    assert result.returncode == 2
    assert "blocker" in error_line(result)
    assert not (tmp_path / "new").exists()
    result = bgsub_run(video_file, "-o", out, "--save-model", tmp_path / "blocker" / "m.npz")
    assert result.returncode == 2
    assert not (tmp_path / "new").exists()
    result = bgsub_run(video_file, "-o", out, "--events", tmp_path / "blocker" / "ev.json")
    assert result.returncode == 2
    assert not (tmp_path / "new").exists()


def on_a_terminal(*args, cwd=None):
    """``bgsub ARGS`` with stderr on a pseudo-terminal (where the bars show): (exit code,
    what the terminal received)."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # rows, columns
    process = subprocess.Popen([sys.executable, "-m", "bgsub", *map(str, args)], cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    received = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the process closed the terminal
            break
        if not chunk:
            break
        received += chunk
    os.close(leader)
    return process.wait(timeout=300), received.decode(errors="replace")


def test_run_shows_a_bar_with_frames_fps_and_eta(tmp_path):
    video = write_video(tmp_path / "cam.mkv", make_scene(60)[0])
    code, shown = on_a_terminal("run", video, "-o", tmp_path / "out")
    assert code == 0, shown
    assert "100%|" in shown and "60/60 frames" in shown and " frames/s, ETA " in shown


def test_eval_shows_a_bar_per_sequence_and_method(highway_excerpt):
    code, shown = on_a_terminal("eval", highway_excerpt, "--compare", "mog2")
    assert code == 0, shown
    for method in ("bgsub-feedback", "mog2"):
        bar = next(line for line in shown.replace("\r", "\n").splitlines()
                   if line.startswith(f"highway_excerpt {method}") and "15/15 frames" in line)
        assert "fps alone" in bar and "ETA" in bar


def test_batch_shows_a_bar_per_running_recording(tmp_path):
    for name in "ab":
        write_video(tmp_path / f"{name}.mkv", make_scene(150)[0])
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("workers: 2\njobs:\n  - {input: a.mkv, output: out/a}\n"
                    "  - {input: b.mkv, output: out/b}\n")
    code, shown = on_a_terminal("batch", jobs, cwd=tmp_path)
    assert code == 0, shown
    assert "2/2 recordings" in shown and "300/300 frames" in shown
    for name in "ab":  # its own bar while it ran, and its line when done
        assert f"{name}.mkv: " in shown and "/150 frames" in shown
        assert f"{name}.mkv -> out/{name}: 150 frames" in shown
