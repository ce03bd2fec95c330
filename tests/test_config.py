"""Config schema: defaults documented in configs/default.yaml, strict validation with lines."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bgsub.config import DEFAULTS, PRESETS, Config, load_config, make_model_from, resolve
from bgsub.yamlfile import load_yaml
from bgsub.errors import ConfigError
from bgsub.models import FeedbackParams, GaussianParams

ROOT = Path(__file__).resolve().parents[1]


def test_default_yaml_lists_every_option_with_its_default():
    documented = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    assert documented == resolve({}).to_dict()
    assert documented["model"].keys() == {*DEFAULTS["model"], *FeedbackParams.names()}


def test_default_yaml_loads_and_builds_the_default_model(tmp_path):
    config = load_config(ROOT / "configs" / "default.yaml")
    model = make_model_from(config)
    assert model.params == FeedbackParams()


def test_resolve_fills_defaults_and_keeps_overrides():
    config = resolve({"model": {"k": 3}, "outputs": {"overlay_video": True}})
    assert config.model.params.k == 3 and config.model.name == "feedback"
    assert config.outputs.overlay_video and config.outputs.mask_video
    assert config.postprocess.to_dict() == (DEFAULTS["postprocess"]
                                            | PRESETS["default"].get("postprocess", {}))


def _write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("model:\n  name: gmm\n  kk: 3\n", "c.yaml:3: model.kk: unknown key; did you mean k?"),
        ("model:\n  treshold: 3\n", "c.yaml:2: model.treshold: unknown key; did you mean threshold?"),
        # the valid keys listed are the chosen model's
        ("model:\n  name: gaussian\n  zzz: 3\n", "c.yaml:3: model.zzz: unknown key (valid keys: "
         "downscale, gray, history, init_frames, learning_rate, load, name, threshold, var_init, "
         "var_max, var_min)"),
        ("model:\n  name: gmm\n  stationary_frames: 3\n",
         "c.yaml:3: model.stationary_frames: is not a parameter of model 'gmm'"),
        ("events:\n  quiet_frame: 3\n", "c.yaml:2: events.quiet_frame: unknown key; did you mean "
         "quiet_frames?"),
        ("model:\n  k: 12\n", "c.yaml:2: model.k: must be in [1, 8], got 12"),
        ("model:\n  name: gaussian\n  k: 3\n", "c.yaml:3: model.k: is not a parameter of model 'gaussian'"),
        ("postprocess:\n  median: 4\n", "c.yaml:2: postprocess.median: must be odd"),
        ("outputs:\n  overlay_video: yes please\n", "c.yaml:2: outputs.overlay_video: must be true or false"),
        ("preset: fancy\n", "c.yaml:1: preset: must be one of default, fast"),
        ("model: [1, 2]\n", "c.yaml:1: model: must be a mapping"),
        ("model:\n  threshold: -1\n", "c.yaml:2: model.threshold: must be in (0.0, 100.0], got -1"),
        ("model:\n  downscale: 0\n", "c.yaml:2: model.downscale: must be auto or an integer from 1 to 64, got 0"),
        ("model:\n  downscale: half\n", "c.yaml:2: model.downscale: must be auto or an integer"),
    ],
)
def test_bad_values_name_file_line_and_key(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml:3: invalid YAML: expected ',' or ']'"):
        load_config(_write(tmp_path, "model:\n  k: [1\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_apply_after_the_file(tmp_path):
    path = _write(tmp_path, "model:\n  name: gaussian\n  threshold: 2.0\n")
    config = load_config(path, {"model": {"threshold": 3.0}})
    model = make_model_from(config)
    assert model.params == GaussianParams(threshold=3.0)


def test_locator_points_at_items_of_lists(tmp_path):
    data, locator = load_yaml(_write(tmp_path, "jobs:\n  - input: a\n  - input: b\n    model: {k: 3}\n"))
    assert locator.at(("jobs", 1, "model", "k")).line == 4
    assert locator.at(("jobs", 0, "input")).line == 2


def test_roi_path_in_a_file_is_relative_to_the_file(tmp_path, monkeypatch):
    (tmp_path / "site").mkdir()
    path = tmp_path / "site" / "c.yaml"
    path.write_text("postprocess:\n  roi: roi.png\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(path).postprocess.roi == str(tmp_path / "site" / "roi.png")
    assert load_config(path, {"postprocess": {"roi": "x.png"}}).postprocess.roi == "x.png"


def test_replacing_the_model_name_starts_from_that_models_parameters():
    config = resolve({"model": {"threshold": 5.0}})
    gaussian = config.replace("model", name="gaussian")
    assert gaussian.model.params == GaussianParams()
    assert config.replace("model", gray=True).model.params.threshold == 5.0  # same model: kept
    with pytest.raises(ConfigError, match="takes GaussianParams, not FeedbackParams"):
        config.replace("model", name="gaussian", params=config.model.params)


def test_a_config_built_directly_checks_its_preset():
    with pytest.raises(ConfigError, match="^preset: must be one of default, fast, got 'bogus'$"):
        Config(preset="bogus")


def test_flag_help_offers_only_what_the_flag_takes():
    result = subprocess.run([sys.executable, "-m", "bgsub", "run", "--help"],
                            capture_output=True, text=True, timeout=120)
    text = " ".join(result.stdout.split())
    for flag in ("--masks-dir DIR", "--events FILE", "--roi IMAGE", "--learning-rate A"):
        described = text.split(flag, 1)[1].split(" --", 1)[0]
        assert "null" not in described and "true =" not in described, (flag, described)
        assert "polygons [[" not in described, (flag, described)
