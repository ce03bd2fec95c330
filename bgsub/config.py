"""One configuration schema for the Python API, the CLI flags, ``--config`` YAML and batch jobs.

A configuration has four sections (every option, its default and its meaning are listed in
``configs/default.yaml``, which the tests keep equal to :data:`DEFAULTS`):

* ``model``: ``name`` (``feedback`` | ``gmm`` | ``gaussian``), ``gray`` and the model's own
  parameters (:class:`~bgsub.models.params.MixtureParams`,
  :class:`~bgsub.models.params.GaussianParams`, :class:`~bgsub.models.params.FeedbackParams`);
* ``postprocess``: filtering of the raw mask (median, morphology, blob area, region of interest);
* ``outputs``: which files ``bgsub run`` writes;
* ``events``: motion-event detection.

``preset`` picks a named starting point for ``model`` and ``postprocess``; explicit values win.
Validation is strict: an unknown key, a wrong type or an out-of-range value raises one
:class:`~bgsub.errors.ConfigError` naming the file, line and key path.
"""

import copy
import difflib
import os
from typing import Any

from bgsub.errors import ConfigError
from bgsub.models import MODELS
from bgsub.units import parse_duration, parse_size
from bgsub.yamlfile import MAX_COORDINATE, fail, load_yaml

DEFAULTS: dict[str, Any] = {
    "preset": "default",
    "model": {"name": "feedback", "gray": False, "init_frames": 0, "load": None, "downscale": 1},
    "postprocess": {
        "median": "4%",
        "open": 0,
        "close": 5,
        "min_area": 0,
        "roi": None,
    },
    "outputs": {
        "mask_video": True,
        "overlay_video": False,
        "background_video": False,
        "shadow_video": False,
        "score_video": False,
        "masks_dir": False,
        "overlay_boxes": False,
        "overlay_timecode": False,
    },
    "events": {
        "file": None,
        "threshold": 0.5,
        "min_frames": 3,
        "quiet_frames": 15,
        "pad_before": 0,
        "pad_after": 0,
        "min_area": "0.03%",
        "snapshots": True,
        "clips": None,
    },
}

# Named starting points: a preset's values apply before the user's own.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # Per-pixel feedback on the mixture (docs/quality.md): higher F, about half the speed.
    # One Gaussian per pixel: a quarter of the default's CPU per 1080p frame, for many cameras
    # at once (mean F 0.58 against 0.80 on the seven sequences of docs/quality.md).
    "fast": {"model": {"name": "gaussian"}},
}

SECTIONS = ("model", "postprocess", "outputs", "events")


def merge(base, override):
    """Deep-merge mapping ``override`` onto a copy of ``base`` (override wins, leaf by leaf)."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(locator, path, value, lo, hi=None):
    if not _is_int(value):
        fail(locator, path, f"must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        fail(locator, path, f"must be {bound}, got {value}")


def _check_bool(locator, path, value):
    if not isinstance(value, bool):
        fail(locator, path, f"must be true or false, got {value!r}")


def unknown_key(key, allowed):
    """The message for ``key`` outside ``allowed``: the closest valid key when one is close (a
    misspelling), else the list of valid keys."""
    close = difflib.get_close_matches(str(key), [str(k) for k in allowed], n=1)
    if close:
        return f"unknown key; did you mean {close[0]}?"
    return f"unknown key (valid keys: {', '.join(map(str, allowed))})"


def _check_keys(locator, path, section, allowed):
    if not isinstance(section, dict):
        fail(locator, path, f"must be a mapping, got {type(section).__name__}")
    for key in section:
        if key not in allowed:
            fail(locator, path + (key,), unknown_key(key, sorted(allowed)))


def _validate_model(locator, path, model):
    if not isinstance(model, dict):
        fail(locator, path, f"must be a mapping, got {type(model).__name__}")
    name = model.get("name")
    if not isinstance(name, str) or name not in MODELS:
        fail(locator, path + ("name",), f"must be one of {', '.join(MODELS)}, got {name!r}")
    # The keys of the chosen model; another model's parameter is named as such.
    allowed = {*MODEL_KEYS, *MODELS[name].params_class.names()}
    for key in model:
        if key not in allowed and any(key in cls.params_class.names() for cls in MODELS.values()):
            fail(locator, path + (key,), f"is not a parameter of model {name!r}")
    _check_keys(locator, path, model, allowed)
    _check_bool(locator, path + ("gray",), model.get("gray"))
    _check_int(locator, path + ("init_frames",), model.get("init_frames"), 0)
    downscale = model.get("downscale")
    if downscale != "auto" and not (_is_int(downscale) and 1 <= downscale <= MAX_DOWNSCALE):
        fail(locator, path + ("downscale",), f"must be auto or an integer from 1 to "
             f"{MAX_DOWNSCALE}, got {downscale!r}")
    load = model.get("load")
    if load is not None and not (isinstance(load, str) and load):
        fail(locator, path + ("load",), f"must be the path of a checkpoint, got {load!r}")
    if model.get("init_frames") and not hasattr(MODELS[name], "fit"):
        fail(locator, path + ("init_frames",), "the EM fit is for the mixtures (gmm, feedback), "
             f"not model {name!r}")
    if load is not None and model.get("init_frames"):
        fail(locator, path + ("init_frames",), "a model loaded from a checkpoint is not refitted "
             "(leave out load or init_frames)")
    params = model_params(model)
    try:
        MODELS[name].params_class(**params)
    except ConfigError as err:
        key, _, message = str(err).partition(": ")
        if key in params:
            fail(locator, path + (key,), message)
        fail(locator, path, str(err))


def _check_pixels(locator, path, value, hi=None):
    """Pixels (an integer, at most ``hi``) or a percentage of the frame (``"0.01%"``)."""
    if _is_int(value):
        _check_int(locator, path, value, 0, hi)
        return
    try:
        parse_size(value)
    except ValueError as err:
        fail(locator, path, str(err))


def _check_duration(locator, path, value, lo=0):
    """Frames (an integer of at least ``lo``), seconds (``"2s"``) or a timecode."""
    if _is_int(value):
        _check_int(locator, path, value, lo)
        return
    try:
        frames, _ = parse_duration(value)
    except ValueError as err:
        fail(locator, path, str(err))
    if frames is not None and frames < lo:
        fail(locator, path, f"must be at least {lo}, got {value!r}")


def _validate_postprocess(locator, path, post):
    _check_keys(locator, path, post, DEFAULTS["postprocess"])
    for key in ("median", "open", "close"):
        _check_pixels(locator, path + (key,), post[key], 99)
    if _is_int(post["median"]) and post["median"] > 1 and post["median"] % 2 == 0:
        fail(locator, path + ("median",), f"must be odd (or 0 to turn it off), got {post['median']}")
    _check_pixels(locator, path + ("min_area",), post["min_area"])
    roi = post["roi"]
    if roi is not None and not isinstance(roi, (str, list)):
        fail(locator, path + ("roi",), "must be an image path or a list of polygons [[x, y], ...]")
    if isinstance(roi, list):
        _validate_polygons(locator, path + ("roi",), roi)


def _validate_polygons(locator, path, roi):
    polygons = roi if roi and isinstance(roi[0], list) and roi[0] and isinstance(roi[0][0], list) else [roi]
    for index, polygon in enumerate(polygons):
        ok = isinstance(polygon, list) and len(polygon) >= 3 and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) for v in p)
            for p in polygon
        )
        if not ok:
            fail(locator, path, f"polygon {index} must be at least three [x, y] points")
        for value in (v for p in polygon for v in p):
            # NaN passes no bound; OpenCV fills polygons in 32-bit fixed point.
            if not -MAX_COORDINATE <= value <= MAX_COORDINATE:
                fail(locator, path, f"polygon {index}: coordinates must be finite numbers within "
                                    f"+-{MAX_COORDINATE}, got {value!r}")


def _validate_outputs(locator, path, outputs):
    _check_keys(locator, path, outputs, DEFAULTS["outputs"])
    for key in ("mask_video", "overlay_video", "background_video", "shadow_video", "score_video",
                "overlay_boxes", "overlay_timecode"):
        _check_bool(locator, path + (key,), outputs[key])
    masks_dir = outputs["masks_dir"]
    if not isinstance(masks_dir, (bool, str)):
        fail(locator, path + ("masks_dir",), f"must be true, false or a folder, got {masks_dir!r}")


def _validate_events(locator, path, events):
    _check_keys(locator, path, events, DEFAULTS["events"])
    file = events["file"]
    if file is not None and (not isinstance(file, str)
                             or not file.lower().endswith((".json", ".jsonl", ".csv"))):
        fail(locator, path + ("file",), f"must be a .json, .jsonl or .csv path, got {file!r}")
    clips = events["clips"]
    if clips is not None and not (isinstance(clips, str) and clips):
        fail(locator, path + ("clips",), f"must be a folder, got {clips!r}")
    if clips is not None and file is None:
        fail(locator, path + ("clips",), "event clips need an events file (events.file, --events)")
    threshold = events["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 100:
        fail(locator, path + ("threshold",), f"must be a percentage in [0, 100], got {threshold!r}")
    _check_duration(locator, path + ("min_frames",), events["min_frames"], 1)
    for key in ("quiet_frames", "pad_before", "pad_after"):
        _check_duration(locator, path + (key,), events[key])
    _check_pixels(locator, path + ("min_area",), events["min_area"])
    _check_bool(locator, path + ("snapshots",), events["snapshots"])


# Other names of two event settings, for durations: ``min_duration: 0.5s``, ``quiet: 1.5s``.
EVENT_ALIASES = {"min_duration": "min_frames", "quiet": "quiet_frames"}


def canonical(settings, locator=None, path=()):
    """``settings`` (a partial config) with the events' other names (:data:`EVENT_ALIASES`)
    replaced by the keys they stand for; both names at once is an error."""
    events = settings.get("events") if isinstance(settings, dict) else None
    if not isinstance(events, dict) or not EVENT_ALIASES.keys() & events.keys():
        return settings
    events = dict(events)
    for alias, key in EVENT_ALIASES.items():
        if alias in events:
            if key in events:
                fail(locator, path + ("events", alias), f"is another name for {key}; give one "
                     "of them")
            # Checked under the name it was given, on its own line.
            _check_duration(locator, path + ("events", alias), events[alias],
                            1 if key == "min_frames" else 0)
            events[key] = events.pop(alias)
    return {**settings, "events": events}


# Keys of the model section that are not the model class's parameters.
MODEL_KEYS = ("name", "gray", "init_frames", "load", "downscale")
MAX_DOWNSCALE = 64


def model_params(model):
    """The model section without ``name``, ``gray``, ``init_frames``, ``load`` and
    ``downscale``: keyword arguments for the model class."""
    return {k: v for k, v in model.items() if k not in MODEL_KEYS}


def resolve(settings=None, *, locator=None, path=()):
    """Validate ``settings`` (a partial config) and return the complete config dict.

    The preset named in ``settings`` (default ``"default"``) applies first, then the settings.
    Errors name the key path under ``path`` and, when ``locator`` knows it, the file and line.
    """
    settings = settings or {}
    if not isinstance(settings, dict):
        fail(locator, path, "must be a mapping")
    _check_keys(locator, path, settings, DEFAULTS)
    settings = canonical(settings, locator, path)
    preset = settings.get("preset", "default")
    if not isinstance(preset, str) or preset not in PRESETS:
        fail(locator, path + ("preset",), f"must be one of {', '.join(PRESETS)}, got {preset!r}")
    config = merge(merge(DEFAULTS, PRESETS[preset]), settings)
    validators = {
        "model": _validate_model,
        "postprocess": _validate_postprocess,
        "outputs": _validate_outputs,
        "events": _validate_events,
    }
    for section, validate in validators.items():
        validate(locator, path + (section,), config[section])
    return config


def load_config(path, overrides=None):
    """Read a ``--config`` YAML file, apply ``overrides`` (from CLI flags) and validate."""
    data, locator = load_yaml(path)
    resolve(data, locator=locator)  # report file errors with their lines before merging flags
    data = canonical(data, locator)  # the flags set the events' keys, not their other names
    # A path written in the file is relative to the file, not to where bgsub runs.
    here = os.path.dirname(os.path.abspath(path))
    for section, key in (("postprocess", "roi"), ("model", "load")):
        value = data.get(section, {}).get(key)
        if isinstance(value, str):
            data[section][key] = os.path.join(here, value)
    return resolve(merge(data, overrides), locator=locator)


def make_model_from(config):
    """Build the model a resolved config describes (behind
    :class:`~bgsub.models.downscaled.Downscaled` when ``downscale`` is not 1)."""
    from bgsub.models import make_model

    model = config["model"]
    return downscaled(make_model(model["name"], **model_params(model)), model["downscale"])


def downscaled(model, setting):
    """``model`` itself for ``downscale`` 1, else ``model`` seeing frames reduced by ``setting``."""
    from bgsub.models.downscaled import Downscaled

    return model if setting == 1 else Downscaled(model, setting)
