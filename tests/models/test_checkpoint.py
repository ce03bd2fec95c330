"""Model checkpoints: ``model.save`` / ``bgsub.load_model`` and ``bgsub run --save-model/--load-model``."""

import json
import zipfile
import subprocess
import sys

import numpy as np
import pytest

from conftest import read_masks

import bgsub
from bgsub.errors import BgsubError
from bgsub.models.base import CHECKPOINT_FORMAT

MODELS = [("gmm", {"k": 3, "threshold": 3.5}), ("gaussian", {"threshold": 3.0, "history": 50})]


def frames(count, shape=(12, 16, 3), seed=0):
    """A noisy static scene with a block passing through: something to learn and detect."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, shape).astype(np.float32)
    out = []
    for i in range(count):
        frame = base + rng.normal(0, 2, shape)
        if i % 7 == 3:
            frame[2:6, 3:9] = 250
        out.append(np.clip(frame, 0, 255).astype(np.uint8))
    return out


def state(model):
    return [np.asarray(part) for part in model.components()]


def one_line(err):
    text = str(err.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("name,params", MODELS)
@pytest.mark.parametrize("shape", [(12, 16, 3), (9, 11)])
def test_round_trip_keeps_parameters_state_and_frame_count(tmp_path, name, params, shape):
    model = bgsub.make_model(name, **params)
    for frame in frames(20, shape):
        model.apply(frame)
    model.save(tmp_path / "m.npz")
    loaded = bgsub.load_model(tmp_path / "m.npz")
    assert type(loaded) is type(model) and loaded.params == model.params
    assert loaded.frames_seen == 20 and loaded.shape == shape
    for a, b in zip(state(loaded), state(model)):
        assert np.array_equal(a, b)
    assert np.array_equal(loaded.background_image(), model.background_image())


@pytest.mark.parametrize("name,params", MODELS)
def test_loaded_model_continues_exactly_like_the_original(tmp_path, name, params):
    seq = frames(40)
    model = bgsub.make_model(name, **params)
    for frame in seq[:25]:
        model.apply(frame)
    model.save(tmp_path / "m.npz")
    loaded = bgsub.load_model(tmp_path / "m.npz", shape=seq[0].shape)
    for frame in seq[25:]:
        assert np.array_equal(loaded.apply(frame), model.apply(frame))
        assert np.array_equal(loaded.labels, model.labels)
    for a, b in zip(state(loaded), state(model)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("name,params", MODELS)
def test_loaded_model_does_not_reinitialise_on_its_first_frame(tmp_path, name, params):
    seq = frames(30)
    model = bgsub.make_model(name, **params)
    for frame in seq[:21]:
        if not np.array_equal(frame[2:6, 3:9], np.full((4, 6, 3), 250)):
            model.apply(frame)
    model.save(tmp_path / "m.npz")
    intruder = seq[21].copy()
    intruder[6:11, 8:15] = 255 - intruder[6:11, 8:15]
    mask = bgsub.load_model(tmp_path / "m.npz").apply(intruder)
    # A fresh model's first frame is all background; a resumed one sees the intruder at once.
    assert mask[6:11, 8:15].mean() > 200
    assert not bgsub.make_model(name, **params).apply(intruder).any()


def test_model_saved_before_any_frame_loads_fresh(tmp_path):
    bgsub.GaussianMixture(k=2).save(tmp_path / "m.npz")
    loaded = bgsub.load_model(tmp_path / "m.npz", shape=(4, 4, 3))
    assert loaded.shape is None and loaded.frames_seen == 0 and loaded.params.k == 2
    assert not loaded.apply(np.zeros((4, 4, 3), np.uint8)).any()


def test_other_frame_size_is_refused_in_one_line(tmp_path):
    model = bgsub.GaussianMixture()
    model.apply(frames(1)[0])
    model.save(tmp_path / "m.npz")
    with pytest.raises(BgsubError) as err:
        bgsub.load_model(tmp_path / "m.npz", shape=(24, 32, 3))
    assert one_line(err) == (f"{tmp_path / 'm.npz'}: checkpoint was learned on frames of shape "
                             "(12, 16, 3), not (24, 32, 3)")
    with pytest.raises(BgsubError):
        bgsub.load_model(tmp_path / "m.npz", shape=(12, 16))  # gray frames of the same size


def rewrite(path, change_meta=None, change_arrays=None):
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        arrays = {k: data[k] for k in data.files if k != "meta"}
    if change_meta:
        change_meta(meta)
    if change_arrays:
        change_arrays(arrays)
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


def test_other_format_version_is_refused_in_one_line(tmp_path):
    path = tmp_path / "m.npz"
    model = bgsub.SingleGaussian()
    model.apply(frames(1)[0])
    model.save(path)
    rewrite(path, lambda meta: meta.update(format=CHECKPOINT_FORMAT + 1))
    with pytest.raises(BgsubError) as err:
        bgsub.load_model(path)
    assert one_line(err) == (f"{path}: checkpoint format {CHECKPOINT_FORMAT + 1} is not supported "
                             f"(this bgsub reads format {CHECKPOINT_FORMAT})")


def test_damaged_state_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    model = bgsub.GaussianMixture()
    model.apply(frames(1)[0])
    model.save(path)
    rewrite(path, change_arrays=lambda arrays: arrays.update(mixture=arrays["mixture"][:10]))
    with pytest.raises(BgsubError, match="'mixture' is missing or has the wrong shape"):
        bgsub.load_model(path)


def test_files_that_are_no_checkpoint_are_one_line_errors(tmp_path):
    good = tmp_path / "good.npz"
    model = bgsub.GaussianMixture()
    model.apply(frames(1)[0])
    model.save(good)
    (tmp_path / "truncated.npz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "text.npz").write_text("hello\n")
    (tmp_path / "empty.npz").write_bytes(b"")
    np.save(tmp_path / "array.npy", np.zeros(3))
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    np.savez(tmp_path / "listmeta.npz", meta=np.array("[1, 2]"))
    np.savez(tmp_path / "partial.npz", meta=np.array(json.dumps({"format": CHECKPOINT_FORMAT})))
    cases = {
        "missing.npz": "model checkpoint not found",
        "truncated.npz": "not a bgsub model checkpoint",
        "text.npz": "not a bgsub model checkpoint",
        "empty.npz": "not a bgsub model checkpoint",
        "array.npy": "not a bgsub model checkpoint",
        "other.npz": "not a bgsub model checkpoint",
        "listmeta.npz": "not a bgsub model checkpoint",
        "partial.npz": "its metadata lacks model, params, frames_seen, shape",
        ".": "cannot read model checkpoint",
    }
    for name, text in cases.items():
        with pytest.raises(BgsubError) as err:
            bgsub.load_model(tmp_path / name)
        assert text in one_line(err), name


def test_save_is_atomic(tmp_path):
    model = bgsub.GaussianMixture()
    model.apply(frames(1)[0])
    target = tmp_path / "m.npz"
    target.mkdir()  # the final rename cannot replace a folder
    with pytest.raises(OSError):
        model.save(target)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    target.rmdir()
    model.save(target)
    model.save(target)  # replaces the previous checkpoint
    assert bgsub.load_model(target).frames_seen == 1
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


# --- bgsub run --save-model / --load-model ------------------------------------------------------

BLOCK = (slice(20, 44), slice(30, 62))  # rows, columns of the parked vehicle


def street(count, parked_until=0, seed=0):
    """A 96x72 static street with camera noise; a vehicle is parked until frame ``parked_until``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:72, 0:96]
    base = 90 + 50 * np.sin(xx / 6.0) * np.cos(yy / 9.0)
    background = np.stack([base, base * 0.9 + 15, base * 0.7 + 30], axis=2)
    out = []
    for number in range(1, count + 1):
        frame = background + rng.normal(0, 2.0, background.shape)
        if number <= parked_until:
            frame[BLOCK] = (30, 40, 170)
        out.append(np.clip(frame, 0, 255).astype(np.uint8))
    return out


def bgsub_run(*args):
    return subprocess.run([sys.executable, "-m", "bgsub", "run", "-q", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def ghost(masks, first, last):
    """Mean share of foreground where the vehicle was, frames ``first``..``last`` (1-based)."""
    return float(np.mean([(m[BLOCK] > 0).mean() for m in masks[first - 1:last]]))


def test_restart_with_the_saved_model_shows_no_ghost(tmp_path, write_video):
    # Run 1: the empty street. Run 2 (after a restart): a parked vehicle leaves at frame 150.
    before = write_video(tmp_path / "before.mkv", street(100, seed=1))
    after = write_video(tmp_path / "after.mkv", street(180, parked_until=150, seed=2))
    result = bgsub_run(before, "-o", tmp_path / "run1", "--save-model", tmp_path / "cam.npz")
    assert result.returncode == 0, result.stderr
    result = bgsub_run(after, "-o", tmp_path / "fresh")
    assert result.returncode == 0, result.stderr
    result = bgsub_run(after, "-o", tmp_path / "resumed", "--load-model", tmp_path / "cam.npz")
    assert result.returncode == 0, result.stderr
    fresh = read_masks(tmp_path / "fresh" / "mask.mov")
    resumed = read_masks(tmp_path / "resumed" / "mask.mov")
    assert len(fresh) == len(resumed) == 180
    # A fresh model learned the vehicle as background: where it was, a ghost stays for frames.
    assert ghost(fresh, 151, 158) > 0.5
    assert ghost(resumed, 151, 158) < 0.02
    # The resumed model saw the vehicle arrive as foreground; the fresh one never did.
    assert ghost(resumed, 1, 3) > 0.9 and ghost(fresh, 1, 3) < 0.02


def test_checkpoint_of_another_frame_size_is_one_line(tmp_path, write_video, video_file):
    other = write_video(tmp_path / "small.mkv", [f[:48, :64].copy() for f in street(5)])
    assert bgsub_run(other, "-o", tmp_path / "a", "--save-model", tmp_path / "m.npz").returncode == 0
    result = bgsub_run(video_file, "-o", tmp_path / "b", "--load-model", tmp_path / "m.npz")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"bgsub: error: {tmp_path / 'm.npz'}: the checkpoint was learned on 64x48 frames, "
        "the input is 96x72"]
    assert not (tmp_path / "b" / "mask.mov").exists()


def test_load_model_refuses_model_flags_and_bad_files(tmp_path, video_file):
    assert bgsub_run(video_file, "-o", tmp_path / "a", "--save-model", tmp_path / "m.npz").returncode == 0
    (tmp_path / "junk.npz").write_text("junk")
    for args, text in [
        (("--load-model", tmp_path / "m.npz", "--k", "3"), "leave out --k"),
        (("--load-model", tmp_path / "m.npz", "--model", "gmm", "--param", "var_min=5"),
         "leave out --model, --param"),
        (("--load-model", tmp_path / "m.npz", "--preset", "fast"), "leave out --preset"),
        (("--load-model", tmp_path / "none.npz"), "model checkpoint not found"),
        (("--load-model", tmp_path / "junk.npz"), "not a bgsub model checkpoint"),
        (("--save-model", tmp_path / "a-file" / "m.npz"), "cannot write to folder"),
    ]:
        (tmp_path / "a-file").write_text("x")
        result = bgsub_run(video_file, "-o", tmp_path / "b", *args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and text in lines[0], (args, result.stderr)


def test_gray_checkpoint_makes_the_run_gray(tmp_path, video_file):
    result = bgsub_run(video_file, "-o", tmp_path / "a", "--gray", "--save-model", tmp_path / "g.npz")
    assert result.returncode == 0, result.stderr
    assert bgsub.load_model(tmp_path / "g.npz").shape == (72, 96)
    result = bgsub_run(video_file, "-o", tmp_path / "b", "--load-model", tmp_path / "g.npz",
                       "--save-model", tmp_path / "g2.npz")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr  # no re-initialisation
    assert bgsub.load_model(tmp_path / "g2.npz").frames_seen == 40


def saved_gmm(path, shape=(12, 16, 3)):
    """A mixture checkpoint after 3 frames of ``shape``."""
    model = bgsub.GaussianMixture(k=3)
    for frame in frames(3, shape):
        model.apply(frame)
    model.save(path)
    return path


@pytest.mark.parametrize("change, message", [
    ({"params": [1, 2]}, "checkpoint params must be a mapping, got [1, 2]"),
    ({"params": {"k": 3, "threshold": float("nan")}},
     "checkpoint parameter threshold: must be a finite number, got nan"),
    ({"params": {"k": 3, "dynamics_gain": 1.0}}, "checkpoint parameter gmm: unknown parameter"),
    ({"model": ["gmm"]}, "checkpoint model must be one of gaussian, gmm, feedback, got ['gmm']"),
    ({"frames_seen": "3"}, "checkpoint frames_seen must be a whole number of at least 0, got '3'"),
    ({"frames_seen": -1}, "checkpoint frames_seen must be a whole number of at least 0, got -1"),
    ({"frames_seen": float("nan")}, "checkpoint frames_seen must be a whole number"),
    ({"shape": [12, 16, 3, 1]}, "checkpoint shape must be [height, width] or [height, width, channels]"),
    ({"shape": [12, -16, 3]}, "checkpoint shape must be"),
    ({"shape": "12x16"}, "checkpoint shape must be"),
    ({"shape": [12, 16, 9]}, "checkpoint shape must be"),
    # 3.6 TiB if it were allocated before the arrays were checked
    ({"shape": [600_000, 400_000, 3]}, "checkpoint state 'mixture' is missing or has the wrong "
                                       "shape for 600000x400000x3 frames"),
    ({"shape": [16, 12, 3]}, None),  # same pixel count, other layout: accepted as written
])
def test_malformed_metadata_is_one_line(tmp_path, change, message):
    path = saved_gmm(tmp_path / "m.npz")
    rewrite(path, lambda meta: meta.update(change))
    if message is None:
        assert bgsub.load_model(path).shape == (16, 12, 3)
        return
    with pytest.raises(BgsubError) as err:
        bgsub.load_model(path)
    assert one_line(err).startswith(f"{path}: {message}")


@pytest.mark.parametrize("key, value", [("mixture", np.nan), ("mixture", np.inf),
                                        ("n_components", 9), ("n_components", 0)])
def test_state_with_nan_infinity_or_impossible_counts_is_refused(tmp_path, key, value):
    path = saved_gmm(tmp_path / "m.npz")

    def spoil(arrays):
        arrays[key] = arrays[key].copy()
        arrays[key].flat[5] = value

    rewrite(path, change_arrays=spoil)
    with pytest.raises(BgsubError) as err:
        bgsub.load_model(path)
    assert one_line(err).startswith(f"{path}: checkpoint state {key!r} ")


def test_entries_the_format_does_not_define_are_never_read(tmp_path):
    path = saved_gmm(tmp_path / "m.npz")
    # An undecodable extra entry: reading it would fail, so the load proves it was skipped.
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("junk.npy", b"\x93NUMPY garbage" * 1000)
    loaded = bgsub.load_model(path)
    assert loaded.frames_seen == 3 and loaded.shape == (12, 16, 3)


def test_oversized_metadata_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "m.npz"
    np.savez_compressed(path, meta=np.array(" " * (2 << 20)))
    with pytest.raises(BgsubError) as err:
        bgsub.load_model(path)
    assert "its metadata is over 1048576 bytes" in one_line(err)
