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
import re
from dataclasses import dataclass
from typing import Any

import yaml

from bgsub.errors import ConfigError
from bgsub.models import MODELS
from bgsub.units import parse_duration, parse_size

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


@dataclass(frozen=True)
class Location:
    """Where a key was written: ``file:line`` for error messages (empty when not from a file)."""

    file: str = ""
    line: int = 0

    def prefix(self):
        if self.file and self.line:
            return f"{self.file}:{self.line}: "
        return f"{self.file}: " if self.file else ""


class Locator:
    """Maps key paths such as ``("jobs", 1, "model", "k")`` to the YAML line they came from."""

    def __init__(self, file="", node=None):
        self.file = file
        self._lines = {}
        if node is not None:
            self._walk(node, ())

    def _walk(self, node, path):
        self._lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self._lines[path + (key.value,)] = key.start_mark.line + 1
                self._walk_value(value, path + (key.value,))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, path + (index,))

    def _walk_value(self, node, path):
        line = self._lines[path]
        self._walk(node, path)
        self._lines[path] = line  # a key's own line beats its value's

    def at(self, path):
        """The best location for ``path``: its own line, else the nearest parent's."""
        path = tuple(path)
        while path and path not in self._lines:
            path = path[:-1]
        return Location(self.file, self._lines.get(path, 0))


def key_path(path):
    """``("jobs", 1, "model", "k")`` -> ``jobs[1].model.k``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def fail(locator, path, message):
    """Raise the one-line error for the value at ``path``."""
    where = locator.at(path).prefix() if locator else ""
    raise ConfigError(f"{where}{key_path(path)}: {message}")


# A config is a few levels deep and a batch file lists at most thousands of values: anything far
# past this is an attack (an alias bomb expands 9 aliases of 9 aliases ... to billions of values,
# deep nesting exhausts the recursion of every walk over the data).
MAX_DEPTH = 64
MAX_ALIAS_VALUES = 10_000
MAX_COORDINATE = 1_000_000


_BASE_60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, stopping at the first value nested past :data:`MAX_DEPTH` (its
    composer recurses once per level, and its scanner's cost per token grows with the depth)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def resolve(self, kind, value, implicit):
        # YAML 1.1 reads 00:00:01.5 as the base-60 number 1.5 and 01:30 as 90: keep them text,
        # timecodes (bgsub.units), so that 01:30 is never taken for 90 frames.
        if kind is yaml.ScalarNode and implicit[0] and _BASE_60.fullmatch(value):
            return "tag:yaml.org,2002:str"
        return super().resolve(kind, value, implicit)

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} "
                                                  "levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_size(path, root):
    """Refuse a document whose aliases nest it past :data:`MAX_DEPTH` or expand it to more than
    :data:`MAX_ALIAS_VALUES` values beyond the ones written, without expanding it."""
    sizes, depths, written = {}, {}, set()
    stack = [(root, False)]
    while stack:  # iterative post-order: the document may be deeper than Python's recursion
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if not children_done:
            if key in written:  # met again below itself
                raise ConfigError(f"{path}:{node.start_mark.line + 1}: invalid YAML: an alias "
                                  "refers to the value that contains it")
            written.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        sizes[key] = 1 + sum(sizes[id(child)] for child in children)
        depths[key] = 1 + max((depths[id(child)] for child in children), default=0)
        if depths[key] > MAX_DEPTH:
            raise ConfigError(f"{path}:{node.start_mark.line + 1}: invalid YAML: nested deeper "
                              f"than {MAX_DEPTH} levels")
    if sizes[id(root)] - len(written) > MAX_ALIAS_VALUES:
        raise ConfigError(f"{path}: invalid YAML: its aliases expand to more than "
                          f"{MAX_ALIAS_VALUES} values")


def _children(node):
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return node.value
    return []


def parse_yaml(text, where):
    """Parse YAML ``text``: ``(data, node)``, both None for an empty document.

    Any syntax error, nesting past :data:`MAX_DEPTH` or alias expansion past
    :data:`MAX_ALIAS_VALUES` is one ConfigError starting with ``where``.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_size(where, node)
        return loader.construct_document(node), node
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}{line}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()


def load_yaml(path, what="config file"):
    """Parse a YAML file: ``(data, locator)``; any read or syntax error is one ConfigError
    (naming the file as ``what``)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a {what}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {what} {path}: {err}") from None
    data, node = parse_yaml(text, path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return data, Locator(path, node)


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
