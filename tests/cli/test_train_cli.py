"""``bgsub train`` and ``--init-frames`` end to end, as real processes on real files."""

import subprocess
import sys

import numpy as np

from conftest import make_scene, read_masks

import bgsub


def bgsub_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bgsub", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def f_measure(masks, truths):
    """F over all frames, pixels counted together."""
    masks, truths = np.stack(masks) > 0, np.stack(truths) > 0
    tp = np.count_nonzero(masks & truths)
    return 2 * tp / (np.count_nonzero(masks) + np.count_nonzero(truths))


def test_train_then_load_model_finds_the_object_from_the_first_frame(tmp_path, write_video):
    # The square is in every frame and covers any pixel in at most 3 of the 100 (under the
    # 10% that background_ratio 0.9 leaves to foreground).
    frames, truths = make_scene(100, raster=True)
    clip = write_video(tmp_path / "busy.mkv", frames)
    model_path = tmp_path / "model.npz"
    trained = bgsub_cli("train", clip, "-o", model_path, "--frames", 100, "--k", 3)
    assert trained.returncode == 0, trained.stderr
    assert "fitted 100 frames" in trained.stderr
    assert bgsub.load_model(model_path).frames_seen == 100
    ran = bgsub_cli("run", clip, "--load-model", model_path, "-o", tmp_path / "out", "-q")
    assert ran.returncode == 0, ran.stderr
    masks = read_masks(tmp_path / "out" / "mask.mov")
    assert f_measure(masks[:1], truths[:1]) >= 0.9
    assert f_measure(masks, truths) >= 0.9
    # Learning online from the same first frame, the model has nothing to find there.
    online = bgsub_cli("run", clip, "-o", tmp_path / "online", "-q")
    assert online.returncode == 0, online.stderr
    assert f_measure(read_masks(tmp_path / "online" / "mask.mov")[:10], truths[:10]) < 0.5


def test_init_frames_processes_every_frame_with_the_fitted_model(tmp_path, write_video):
    frames, truths = make_scene(100, raster=True)
    clip = write_video(tmp_path / "busy.mkv", frames)
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  init_frames: 100\n  k: 3\n")
    for args in (["--init-frames", 100, "--k", 3], ["--config", config]):
        out = tmp_path / f"out{len(args)}"
        ran = bgsub_cli("run", clip, *args, "-o", out, "-q")
        assert ran.returncode == 0, ran.stderr
        masks = read_masks(out / "mask.mov")
        assert len(masks) == 100
        assert f_measure(masks[:1], truths[:1]) >= 0.9
        assert f_measure(masks, truths) >= 0.9


def test_a_clip_shorter_than_the_frames_asked_for_is_one_line(tmp_path, video_file):
    result = bgsub_cli("train", video_file, "-o", tmp_path / "m.npz", "--frames", 21)
    assert result.returncode == 2
    assert result.stderr.strip() == f"bgsub: error: {video_file}: has 20 frames, --frames asks for 21"
    assert not (tmp_path / "m.npz").exists()


def test_train_refuses_the_single_gaussian_and_run_refuses_a_refit_checkpoint(tmp_path,
                                                                               video_file):
    result = bgsub_cli("train", video_file, "-o", tmp_path / "m.npz", "--model", "gaussian")
    assert result.returncode == 2 and "has no EM fit" in result.stderr
    result = bgsub_cli("run", video_file, "--model", "gaussian", "--init-frames", 3, "-o",
                       tmp_path / "g")
    assert result.returncode == 2
    assert result.stderr.strip() == ("bgsub: error: model.init_frames: the EM fit is for the "
                                     "mixtures (gmm, feedback), not model 'gaussian'")
    assert bgsub_cli("train", video_file, "-o", tmp_path / "m.npz", "--frames", 20).returncode == 0
    result = bgsub_cli("run", video_file, "--load-model", tmp_path / "m.npz", "--init-frames", 5,
                       "-o", tmp_path / "out")
    assert result.returncode == 2 and "leave out --init-frames" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_batch_jobs_start_from_a_checkpoint_or_a_fit(tmp_path, write_video):
    frames, truths = make_scene(100, raster=True)
    clip = write_video(tmp_path / "busy.mkv", frames)
    trained = bgsub_cli("train", clip, "-o", tmp_path / "model.npz", "--frames", 100, "-q")
    assert trained.returncode == 0, trained.stderr
    batch = tmp_path / "batch.yaml"
    batch.write_text(f"""jobs:
  - {{input: {clip}, output: {tmp_path / 'loaded'}, model: {{load: model.npz}}}}
  - {{input: {clip}, output: {tmp_path / 'fitted'}, model: {{init_frames: 100}}}}
""")
    ran = bgsub_cli("batch", batch)
    assert ran.returncode == 0, ran.stderr  # the checkpoint's path is relative to the file
    for name in ("loaded", "fitted"):
        masks = read_masks(tmp_path / name / "mask.mov")
        assert len(masks) == 100
        assert f_measure(masks[:1], truths[:1]) >= 0.9, name


def test_a_missing_checkpoint_in_a_config_is_one_line(tmp_path, video_file):
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  load: nowhere.npz\n")
    ran = bgsub_cli("run", video_file, "--config", config, "-o", tmp_path / "out")
    assert ran.returncode == 2
    assert ran.stderr.strip() == f"bgsub: error: model checkpoint not found: {tmp_path / 'nowhere.npz'}"


def test_recurrence_and_keep_ratio_reach_the_fit(tmp_path, write_video):
    """A square that stops for the clip's second half over a flat background: by default the
    fit keeps one component where it stood (one visit); `--recurrence 0 --keep-ratio 1` keeps
    the square's colour as a second component there."""
    frames = [np.full((48, 64, 3), 60, np.uint8) for _ in range(40)]
    for frame in frames[20:]:
        frame[16:32, 24:40] = 200
    clip = write_video(tmp_path / "stop.mkv", frames)
    counts = {}
    for name, extra in (("default", ()), ("all", ("--recurrence", 0, "--keep-ratio", 1))):
        path = tmp_path / f"{name}.npz"
        trained = bgsub_cli("train", clip, "-o", path, "--frames", 40, "--k", 3, *extra)
        assert trained.returncode == 0, trained.stderr
        counts[name] = bgsub.load_model(path).n_components.reshape(48, 64)[24, 32]
    assert counts == {"default": 1, "all": 2}
