"""``bgsub run`` end to end, as a real process on real files."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from conftest import read_masks

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_videos" / "highway_320x240.mp4"


def bgsub(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bgsub", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_sample_clip_gives_a_mask_video_with_every_frame(tmp_path):
    result = bgsub("run", SAMPLE, "-o", tmp_path / "out", "--overlay")
    assert result.returncode == 0, result.stderr
    expected = int(cv2.VideoCapture(str(SAMPLE)).get(cv2.CAP_PROP_FRAME_COUNT))
    masks = read_masks(tmp_path / "out" / "mask.mov")
    assert len(masks) == expected == 400
    assert set(np.unique(np.stack(masks))) <= {0, 255}
    moving = np.mean([m.mean() / 255 for m in masks[100:]])
    assert 0.005 < moving < 0.3  # cars are found, the road is not
    assert len(read_masks(tmp_path / "out" / "overlay.mp4")) == expected
    assert f"done: {expected} frames" in result.stderr
    assert not list((tmp_path / "out").glob(".*partial*"))


def test_the_sample_clip_s_exposure_change_stays_background(tmp_path):
    # When the white truck passes, the camera stops down and the road darkens from ~207 to ~144
    # (frames 290-311): without exposure compensation up to 41% of those frames was foreground.
    shares = {}
    for name, args in (("on", []), ("off", ["--param", "exposure_compensation=false"])):
        result = bgsub("run", SAMPLE, "-o", tmp_path / name, "-q", *args)
        assert result.returncode == 0, result.stderr
        masks = read_masks(tmp_path / name / "mask.mov")
        shares[name] = [m.mean() / 255 for m in masks[289:311]]
    assert max(shares["on"]) < 0.2  # the truck itself, leaving
    assert max(shares["off"]) > 0.3


def test_image_folder_keeps_cdnet_frame_numbers(tmp_path, highway_excerpt):
    result = bgsub("run", highway_excerpt / "input", "-o", tmp_path / "out",
                   "--masks-dir", tmp_path / "masks", "--no-mask-video")
    assert result.returncode == 0, result.stderr
    inputs = sorted(p.name for p in (highway_excerpt / "input").iterdir())
    names = sorted(p.name for p in (tmp_path / "masks").iterdir())
    assert names == [n.replace("in", "bin").replace(".jpg", ".png") for n in inputs]
    assert names[0] == "bin000470.png"
    assert not (tmp_path / "out" / "mask.mov").exists()


def test_wallflower_style_folder_writes_one_mask_per_frame(tmp_path, scene, write_images):
    folder = write_images(tmp_path / "wt", scene[0], pattern="b{:05d}.bmp", start=0)
    cv2.imwrite(str(folder / "hand_segmented_00005.BMP"), scene[1][5])
    result = bgsub("run", folder, "--masks-dir", tmp_path / "m", "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert names == [f"bin{i:06d}.png" for i in range(len(scene[0]))]


def test_gray_gaussian_run_with_flags(tmp_path, video_file):
    result = bgsub("run", video_file, "-o", tmp_path / "o", "--model", "gaussian", "--gray",
                   "--threshold", "3", "--learning-rate", "0.05", "--median", "0")
    assert result.returncode == 0, result.stderr
    assert len(read_masks(tmp_path / "o" / "mask.mov")) == 20


def test_config_file_and_flag_override(tmp_path, video_file):
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  k: 3\noutputs:\n  background_video: true\n")
    result = bgsub("run", video_file, "-o", tmp_path / "o", "--config", config, "--k", "2")
    assert result.returncode == 0, result.stderr
    assert len(read_masks(tmp_path / "o" / "background.mp4")) == 20


def test_user_errors_are_one_line_exit_2(tmp_path):
    for args, text in [
        (("run", tmp_path / "missing.mp4"), "no such file or folder"),
        (("run", SAMPLE, "--k", "0", "-o", tmp_path / "o"), "model.k: must be in [1, 8], got 0"),
        (("run", SAMPLE, "--param", "bogus=1", "-o", tmp_path / "o"), "model.bogus: unknown key"),
        (("run", SAMPLE, "--config", tmp_path / "none.yaml"), "config file not found"),
    ]:
        result = bgsub(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert text in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_version_and_help():
    result = bgsub("--version")
    assert result.returncode == 0 and "bgsub, version" in result.stdout
    result = bgsub("run", "--help")
    assert result.returncode == 0 and "--learning-rate" in result.stdout


def test_top_level_help_lists_every_command():
    result = bgsub("--help")
    assert result.returncode == 0
    commands = result.stdout.split("Commands:")[1].split()
    assert {"run", "live", "batch", "eval"} <= set(commands)


def test_run_does_not_import_the_other_commands():
    # Start-up time: `bgsub run` loads neither the batch, live nor eval machinery.
    code = ("import sys; from bgsub.cli import cli; cli.get_command(None, 'run'); "
            "print(sorted(m for m in ('bgsub.batch', 'bgsub.live', 'bgsub.evaluate', "
            "'bgsub.pipeline') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "['bgsub.pipeline']", result.stderr


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "bgsub"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "bgsub, version" in result.stdout


def test_downscale_keeps_every_output_at_the_input_size(tmp_path, video_file):
    # 96x72 frames at --downscale 2: the model works at 48x36, the files stay 96x72 (the
    # post-processing works on the enlarged masks, so its sizes stay in input pixels).
    out = tmp_path / "out"
    result = bgsub("run", video_file, "-o", out, "-q", "--downscale", "2", "--overlay",
                   "--masks-dir", out / "masks", "--save-model", tmp_path / "m.npz")
    assert result.returncode == 0, result.stderr
    masks = read_masks(out / "mask.mov")
    assert len(masks) == 20 and masks[0].shape == (72, 96)
    assert np.count_nonzero(masks[-1]) > 0
    assert read_masks(out / "overlay.mp4")[0].shape == (72, 96)
    assert cv2.imread(str(out / "masks" / "bin000001.png"), 0).shape == (72, 96)
    # The checkpoint holds the reduced state: it resumes only at the same reduction.
    resumed = bgsub("run", video_file, "-o", tmp_path / "again", "-q", "--downscale", "2",
                    "--load-model", tmp_path / "m.npz")
    assert resumed.returncode == 0, resumed.stderr
    refused = bgsub("run", video_file, "-o", tmp_path / "full", "-q",
                    "--load-model", tmp_path / "m.npz")
    assert refused.returncode != 0
    assert "learned on 48x36 frames, the input is 96x72" in refused.stderr
    assert "Traceback" not in refused.stderr
