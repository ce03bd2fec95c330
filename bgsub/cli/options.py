"""Options shared by the commands that build a model: they all become one config dict."""

import click

from bgsub.config import PRESETS, load_config, merge, resolve
from bgsub.yamlfile import parse_yaml
from bgsub.errors import ConfigError
from bgsub.models import MODELS
from bgsub.units import from_text


def model_options(fn):
    """Decorate a command with the model / post-processing options and ``--config``."""
    options = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help="YAML config (see configs/default.yaml); flags override it."),
        click.option("--preset", type=click.Choice(list(PRESETS)),
                     help="Named starting point for the model and post-processing: default, or "
                          "fast (one Gaussian per pixel: a quarter of the CPU, lower F)."),
        click.option("--model", "model_name", type=click.Choice(sorted(MODELS)),
                     help="feedback: Gaussian mixture per pixel with per-pixel feedback "
                          "(default); gmm: the plain mixture; gaussian: one Gaussian per pixel "
                          "(--preset fast)."),
        click.option("--k", type=int, help="Most mixture components per pixel (1..8)."),
        click.option("--threshold", type=float,
                     help="Mahalanobis threshold in standard deviations for foreground."),
        click.option("--learning-rate", type=float,
                     help="Learning rate alpha (default: 1/min(frame, history))."),
        click.option("--history", type=int, help="Frames of memory for the automatic learning rate."),
        click.option("--gray", is_flag=True, default=None, help="Model grayscale frames."),
        click.option("--downscale", type=_downscale, metavar="N|auto",
                     help="Run the model on frames reduced N times per side (area resampling); "
                          "outputs keep the input's size. auto: about 640 pixels wide. "
                          "Default 1."),
        click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
                     help="Any other model parameter, e.g. --param var_min=6 (repeatable)."),
        click.option("--median", type=from_text, metavar="SIZE",
                     help="Median filter aperture on the mask: odd pixels, or a percentage of the "
                          "frame's shorter side such as 2% (0 = off)."),
        click.option("--min-area", type=from_text, metavar="SIZE",
                     help="Drop foreground blobs smaller than this: pixels, or a percentage of "
                          "the frame such as 0.01%."),
        click.option("--roi", help="Region of interest: an image (nonzero = inside)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def init_frames_option(fn):
    """Decorate a command with ``--init-frames N`` (the config's ``model.init_frames``)."""
    return click.option(
        "--init-frames", type=click.IntRange(min=0), metavar="N",
        help="Fit the mixture to the first N frames by EM (docs/em.md) before processing from "
             "frame 1 (default 0: learn online only).")(fn)


def _downscale(text):
    """``--downscale``: ``auto`` or an integer (range checked with the config)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise click.BadParameter(f"expected an integer or auto, got {text!r}") from None


def _parse_param(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--param: expected KEY=VALUE, got {text!r}")
    return key.strip(), parse_yaml(value, f"--param {key.strip()}")[0]


def config_from_options(config_path=None, preset=None, model_name=None, k=None, threshold=None,
                        learning_rate=None, history=None, gray=None, params=(), median=None,
                        min_area=None, roi=None, init_frames=None, downscale=None, extra=None):
    """The resolved config for a command: YAML file (if any), then flags, then ``extra``."""
    model = dict(_parse_param(p) for p in params)
    for key, value in (("name", model_name), ("k", k), ("threshold", threshold),
                       ("learning_rate", learning_rate), ("history", history), ("gray", gray),
                       ("init_frames", init_frames), ("downscale", downscale)):
        if value is not None:
            model[key] = value
    post = {key: value for key, value in (("median", median), ("min_area", min_area), ("roi", roi))
            if value is not None}
    overrides = {"model": model, "postprocess": post}
    if preset is not None:
        overrides["preset"] = preset
    overrides = merge(overrides, extra or {})
    overrides = {key: value for key, value in overrides.items() if value not in ({}, None)}
    if config_path:
        return load_config(config_path, overrides)
    return resolve(overrides, locator=None)

