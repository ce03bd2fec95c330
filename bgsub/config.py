"""One configuration schema for the Python API, the CLI flags, ``--config`` YAML and batch jobs.

A configuration has four sections, each a frozen dataclass whose fields carry their default, the
values they take, one line of help and their command-line flag (:func:`bgsub.schema.option`);
validation, the click options, ``configs/default.yaml`` and the README's reference tables are
derived from them (``python -m bgsub.config_reference`` rewrites the generated files):

* ``model``: ``name`` (``feedback`` | ``gmm`` | ``gaussian``), ``gray`` and the model's own
  parameters (:class:`~bgsub.models.params.MixtureParams`,
  :class:`~bgsub.models.params.GaussianParams`, :class:`~bgsub.models.params.FeedbackParams`);
* ``postprocess``: filtering of the raw mask (median, morphology, blob area, region of interest);
* ``outputs``: which files ``bgsub run`` writes;
* ``events``: motion-event detection.

``preset`` picks a named starting point for ``model`` and ``postprocess``; explicit values win.
:func:`resolve` and :func:`load_config` return a :class:`Config`. Validation is strict: an
unknown key, a wrong type or an out-of-range value raises one
:class:`~bgsub.errors.ConfigError` naming the file, line and key path.
"""

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from bgsub.models import MODELS
from bgsub.models.params import GaussianParams
from bgsub.schema import (Boolean, Count, Duration, Factor, FlagOrFolder, Invalid, OneOf, Path,
                          Percent, Region, Section, Size, check_options, option, option_of, options,
                          unknown_key, yaml_text)
from bgsub.yamlfile import fail, load_yaml

# Named starting points: a preset's values apply before the user's own.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "fast": {"model": {"name": "gaussian"}},
}
# What each preset is for (the --preset help, configs/default.yaml, the README).
PRESET_HELP = {
    # Per-pixel feedback on the mixture (docs/quality.md): higher F, about half the speed of gmm.
    "default": "the mixture with per-pixel feedback",
    # For many cameras at once (mean F 0.58 against 0.80 on the seven sequences of
    # docs/quality.md).
    "fast": "one Gaussian per pixel: a quarter of the CPU per 1080p frame, lower F",
}
MAX_DOWNSCALE = 64


@dataclass(frozen=True)
class ModelConfig(Section):
    """The ``model`` section: which model, how it sees frames, and its parameters (``params``,
    an instance of the model's ``params_class``; YAML states them beside the other keys)."""

    summary = ("the model and its parameters (bgsub.FeedbackParams, MixtureParams, "
               "GaussianParams; see The models)")

    name: str = option("feedback", OneOf(tuple(MODELS)), "feedback: Gaussian mixture per pixel "
                       "with per-pixel feedback | gmm: the plain mixture | gaussian: one Gaussian "
                       "per pixel (preset fast)", flag="--model")
    gray: bool = option(False, Boolean(), "convert frames to grayscale before the model (faster, "
                        "no shadow detection)", flag="--gray")
    init_frames: int = option(0, Count(0), "> 0: fit the mixture to the first N frames by EM "
                              "(docs/em.md), then process from frame 1; 0 = learn online only",
                              flag="--init-frames", metavar="N")
    load: str | None = option(None, Path("the path of a checkpoint"), "a checkpoint (bgsub train, "
                              "--save-model) to start from: its model and parameters replace this "
                              "section's")
    downscale: int | str = option(1, Factor(MAX_DOWNSCALE), "N: the model sees frames reduced N "
                                  "times per side (area resampling), outputs are scaled back; "
                                  "auto = about 640 pixels wide", flag="--downscale",
                                  metavar="N|auto")
    params: GaussianParams = field(default=None)  # type: ignore[assignment]  # the model's defaults

    def check_together(self):
        model = MODELS[self.name]
        if self.init_frames and not hasattr(model, "fit"):
            raise Invalid("init_frames", "the EM fit is for the mixtures (gmm, feedback), not "
                                         f"model {self.name!r}")
        if self.load is not None and self.init_frames:
            raise Invalid("init_frames", "a model loaded from a checkpoint is not refitted (leave "
                                         "out load or init_frames)")
        if self.params is None:
            object.__setattr__(self, "params", model.params_class())
        elif type(self.params) is not model.params_class:
            raise Invalid(None, f"model {self.name!r} takes {model.params_class.__name__}, not "
                                f"{type(self.params).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """The section as YAML states it: every parameter spelled out beside the other keys."""
        return {**super().to_dict(), **self.params.to_dict()}


@dataclass(frozen=True)
class PostprocessConfig(Section):
    """The ``postprocess`` section: filtering of the raw mask, in this order."""

    summary = ("filters on the raw mask, in this order; sizes: pixels, or \"N%\" of the frame "
               "(apertures: of its shorter side; areas: of its pixels)")

    median: int | str = option("4%", Size(99, odd=True), "median filter aperture on the mask: odd "
                               "pixels, or % of the shorter side (9 px at 320x240, 43 at 1080p; "
                               "0 = off)", flag="--median", metavar="SIZE")
    open: int | str = option(0, Size(99), "morphological opening, elliptic kernel size (0 = off): "
                             "removes specks")
    close: int | str = option(5, Size(99), "morphological closing, elliptic kernel size (0 = off): "
                              "fills holes (a % can cost: 3% is 33 px at 1080p, ~50 ms more a "
                              "frame; benchmarks/scale_boxes.py)")
    min_area: int | str = option(0, Size(), "drop foreground blobs smaller than this many pixels, "
                                 "or e.g. \"0.01%\" of the frame (0 = keep all)",
                                 flag="--min-area", metavar="SIZE")
    roi: str | list | None = option(None, Region(), "region of interest: image path (nonzero = "
                                    "inside) or polygons [[x, y], ...]", flag="--roi",
                                    metavar="IMAGE", flag_help="region of interest: an image "
                                    "(nonzero = inside); polygons go in a --config file")


@dataclass(frozen=True)
class OutputsConfig(Section):
    """The ``outputs`` section: what ``bgsub run`` writes into its output folder."""

    summary = "what `bgsub run` writes into its output folder"

    mask_video: bool = option(True, Boolean(), "mask.mov: 255 foreground, 0 background "
                              "(1-bit PNG frames, lossless)", flag="--mask-video/--no-mask-video")
    overlay_video: bool = option(False, Boolean(), "overlay.mp4: the input with the foreground "
                                 "tinted red", flag="--overlay")
    background_video: bool = option(False, Boolean(), "background.mp4: the learned background "
                                    "image, every frame", flag="--background")
    shadow_video: bool = option(False, Boolean(), "labels.mkv: 255 foreground, 127 shadow, 0 "
                                "background (lossless)", flag="--shadow-video")
    score_video: bool = option(False, Boolean(), "score.mkv: heat map of each pixel's distance "
                               "(sigmas) to its background, 0..12 on a fixed scale, threshold "
                               "marked (gmm, feedback)", flag="--score-video")
    masks_dir: bool | str = option(False, FlagOrFolder(), "true = OUTDIR/masks/binNNNNNN.png "
                                   "(CDnet naming), or a folder path", flag="--masks-dir",
                                   metavar="DIR", flag_help="also write one PNG mask per frame "
                                   "into DIR (binNNNNNN.png, CDnet naming)")
    overlay_boxes: bool = option(False, Boolean(), "burn the blob boxes (events.min_area) into "
                                 "overlay.mp4 (turns it on)", flag="--overlay-boxes")
    overlay_timecode: bool = option(False, Boolean(), "burn the timecode, frame number and open "
                                    "event's number into overlay.mp4 (turns it on)",
                                    flag="--overlay-timecode")


@dataclass(frozen=True)
class EventsConfig(Section):
    """The ``events`` section: motion events (durations: frames, seconds or a timecode, at the
    input's frame rate)."""

    summary = ("motion events (bgsub run --events FILE.json|.jsonl|.csv); durations: frames (15), "
               "seconds (\"2s\", \"500ms\") or a timecode (\"00:00:01.5\"), at the input's fps")

    file: str | None = option(None, Path("", (".json", ".jsonl", ".csv")), "where to write the "
                              "events (.jsonl: one line per event as it ends, flushed), snapshots "
                              "beside it; null = no events", flag="--events", metavar="FILE",
                              flag_help="write motion events to FILE.json or FILE.csv (at the "
                              "end) or FILE.jsonl (one line per event as it ends), snapshots "
                              "beside it")
    threshold: float = option(0.5, Percent(), "foreground % (of the ROI) above which a frame "
                              "counts as motion")
    min_frames: int | str = option(3, Duration(1), "motion needed to start an event (also written "
                                   "min_duration)", flag="--min-duration", metavar="TIME")
    quiet_frames: int | str = option(15, Duration(), "time without motion that ends an event (also "
                                     "written quiet)", flag="--quiet-duration", metavar="TIME")
    pad_before: int | str = option(0, Duration(), "time added before each event",
                                   flag="--pad-before", metavar="TIME")
    pad_after: int | str = option(0, Duration(), "time added after each event",
                                  flag="--pad-after", metavar="TIME")
    min_area: int | str = option("0.03%", Size(), "blobs smaller than this (pixels, or % of the "
                                 "frame: 23 px at 320x240, 622 px at 1080p) get no box")
    snapshots: bool = option(True, Boolean(), "JPEG of each event's peak frame with the blob "
                             "boxes, in FILE_stem/")
    clips: str | None = option(None, Path("a folder"), "a folder: one video per event "
                               "(INPUT_STEM.eventNNNN.EXT), cut out of an input video file or "
                               "encoded from a camera's, stream's or image folder's frames",
                               flag="--event-clips", metavar="DIR")

    def check_together(self):
        if self.clips is not None and self.file is None:
            raise Invalid("clips", "event clips need an events file (events.file, --events)")


@dataclass(frozen=True)
class Config:
    """A complete, validated configuration (:func:`resolve`, :func:`load_config`)."""

    preset: str = option("default", OneOf(tuple(PRESETS)), " | ".join(
        f"{name}: {text}" for name, text in PRESET_HELP.items()), flag="--preset")
    model: ModelConfig = field(default_factory=ModelConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    events: EventsConfig = field(default_factory=EventsConfig)

    def __post_init__(self):
        check_options(self)  # the preset; the sections check themselves

    def to_dict(self) -> dict[str, Any]:
        """The config as nested dicts, YAML's shape, every model parameter spelled out."""
        return {"preset": self.preset,
                **{name: getattr(self, name).to_dict() for name in SECTION_CLASSES}}

    def replace(self, section: str, **changes: Any) -> "Config":
        """This config with ``changes`` to the keys of ``section``; another model ``name``
        without ``params`` starts from that model's default parameters."""
        current = getattr(self, section)
        if section == "model" and changes.get("name", current.name) != current.name:
            changes.setdefault("params", None)
        return dataclasses.replace(
            self, **{section: dataclasses.replace(current, **changes)})


SECTION_CLASSES: dict[str, type[Section]] = {
    "model": ModelConfig, "postprocess": PostprocessConfig, "outputs": OutputsConfig,
    "events": EventsConfig}
# Keys of the model section that are not the model class's parameters.
MODEL_KEYS = tuple(ModelConfig.keys())
# The defaults before any preset, as a partial YAML config (the model's own parameters are
# the model class's defaults).
DEFAULTS: dict[str, Any] = {"preset": "default",
                            **{name: cls.defaults() for name, cls in SECTION_CLASSES.items()}}


def default_text(path: tuple[str, ...]) -> str:
    """The default of the setting at ``path`` (``("model", "k")``) as YAML writes it; a model
    parameter whose default differs between models gives each: ``10.0 (feedback, gmm), 4.0
    (gaussian)``."""
    section, key = path if len(path) == 2 else ("", path[0])
    if section == "model" and key not in MODEL_KEYS:
        defaults = {name: default for name, model in MODELS.items()
                    for k, _, default in options(model.params_class) if k == key}
        by_value: dict[str, list[str]] = {}
        for name in sorted(defaults, key=lambda name: name != DEFAULTS["model"]["name"]):
            by_value.setdefault(yaml_text(defaults[name]), []).append(name)
        if len(by_value) == 1:
            return next(iter(by_value))
        return ", ".join(f"{value} ({', '.join(names)})" for value, names in by_value.items())
    cls = SECTION_CLASSES[section] if section else Config
    return yaml_text(next(default for k, _, default in options(cls) if k == key))


def merge(base, override):
    """Deep-merge mapping ``override`` onto a copy of ``base`` (override wins, leaf by leaf)."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _check_keys(locator, path, section, allowed):
    if not isinstance(section, dict):
        fail(locator, path, f"must be a mapping, got {type(section).__name__}")
    for key in section:
        if key not in allowed:
            fail(locator, path + (key,), unknown_key(key, sorted(allowed)))


def _check_value(locator, path, cls, key, value):
    """Check ``value`` as the setting ``key`` of ``cls``; the error names ``path``."""
    try:
        option_of(cls, key).kind.check(value)
    except ValueError as err:
        fail(locator, path, str(err))


def _section(cls, locator, path, data):
    """The section ``cls`` of a config from its mapping ``data``; one error at ``path``."""
    _check_keys(locator, path, data, cls.keys())
    try:
        return cls(**data)
    except Invalid as err:
        fail(locator, path + ((err.key,) if err.key else ()), err.message)


def _model_section(locator, path, data):
    """The model section: the common keys (:class:`ModelConfig`), then the chosen model's
    parameters; another model's parameter is named as such."""
    if not isinstance(data, dict):
        fail(locator, path, f"must be a mapping, got {type(data).__name__}")
    name = data.get("name")
    _check_value(locator, path + ("name",), ModelConfig, "name", name)
    params_class = MODELS[name].params_class
    allowed = {*MODEL_KEYS, *params_class.names()}
    for key in data:
        if key not in allowed and any(key in cls.params_class.names() for cls in MODELS.values()):
            fail(locator, path + (key,), f"is not a parameter of model {name!r}")
    _check_keys(locator, path, data, allowed)
    common = {key: value for key, value in data.items() if key in MODEL_KEYS}
    model = _section(ModelConfig, locator, path, common)  # its keys are reported first
    params = {key: value for key, value in data.items() if key not in MODEL_KEYS}
    try:
        return dataclasses.replace(model, params=params_class(**params))
    except Invalid as err:
        if err.key in params:
            fail(locator, path + (err.key,), err.message)
        fail(locator, path, str(err))


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
            _check_value(locator, path + ("events", alias), EventsConfig, key, events[alias])
            events[key] = events.pop(alias)
    return {**settings, "events": events}


def resolve(settings=None, *, locator=None, path=()) -> Config:
    """Validate ``settings`` (a partial config, YAML's nested dicts) and return the complete
    :class:`Config`.

    The preset named in ``settings`` (default ``"default"``) applies first, then the settings.
    Errors name the key path under ``path`` and, when ``locator`` knows it, the file and line.
    """
    settings = settings or {}
    if not isinstance(settings, dict):
        fail(locator, path, "must be a mapping")
    _check_keys(locator, path, settings, DEFAULTS)
    settings = canonical(settings, locator, path)
    preset = settings.get("preset", "default")
    _check_value(locator, path + ("preset",), Config, "preset", preset)
    data = merge(merge(DEFAULTS, PRESETS[preset]), settings)
    sections = {"model": _model_section(locator, path + ("model",), data["model"])}
    for name, cls in SECTION_CLASSES.items():
        if name != "model":
            sections[name] = _section(cls, locator, path + (name,), data[name])
    return Config(preset, **sections)


def section_of(name: str, settings: Any) -> Any:
    """The ``name`` section (``"postprocess"``, ``"outputs"``, ``"events"``) as its typed class:
    ``settings`` itself when it is one, else a mapping of some of its keys (the others at their
    defaults), validated as the YAML's section would be."""
    if isinstance(settings, SECTION_CLASSES[name]):
        return settings
    return getattr(resolve({name: dict(settings)}), name)


def load_config(path, overrides=None) -> Config:
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


def make_model_from(config: Config):
    """Build the model a resolved config describes (behind
    :class:`~bgsub.models.downscaled.Downscaled` when ``downscale`` is not 1)."""
    from bgsub.models import make_model

    model = config.model
    return downscaled(make_model(model.name, **model.params.to_dict()), model.downscale)


def downscaled(model, setting):
    """``model`` itself for ``downscale`` 1, else ``model`` seeing frames reduced by ``setting``."""
    from bgsub.models.downscaled import Downscaled

    return model if setting == 1 else Downscaled(model, setting)
