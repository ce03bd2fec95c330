"""Options shared by the commands that build a model: they all become one :class:`Config`.

The flags, their help and their values come from the config schema (the fields of
:class:`~bgsub.config.Config`'s sections that name a flag); :data:`FLAGS` maps each option's
name to the config key it sets.
"""

from typing import Any

import click

from bgsub.config import (PRESETS, Config, EventsConfig, ModelConfig, OutputsConfig,
                          PostprocessConfig, default_text, load_config, merge, resolve)
from bgsub.errors import ConfigError
from bgsub.models.params import FeedbackParams
from bgsub.schema import Option, options
from bgsub.yamlfile import parse_yaml

# The schema classes that name flags, and the section each one's keys are in.
_FLAGGED = ((Config, ()), (ModelConfig, ("model",)), (FeedbackParams, ("model",)),
            (PostprocessConfig, ("postprocess",)), (OutputsConfig, ("outputs",)),
            (EventsConfig, ("events",)))


def _flags() -> dict[str, tuple[tuple[str, ...], Option]]:
    """``{option name: (key path, option)}`` of every flag in the schema, in order."""
    found = {}
    for cls, section in _FLAGGED:
        for key, opt, _ in options(cls):
            if opt.flag:
                found[_name(opt.flag)] = (section + (key,), opt)
    return found


def _name(flag: str) -> str:
    """``--min-area`` -> ``min_area`` (``--mask-video/--no-mask-video`` -> ``mask_video``)."""
    return flag.split("/")[0].lstrip("-").replace("-", "_")


#: ``{option name: (config key path, schema option)}`` for the flags that set config keys.
FLAGS = _flags()


class _KindType(click.ParamType):
    """A command-line value read as the config holds it (the schema kind's ``parse``); the
    config checks its range."""

    def __init__(self, opt: Option):
        self.kind = opt.kind
        self.name = opt.metavar or "value"

    def convert(self, value, param, ctx):
        try:
            return value if not isinstance(value, str) else self.kind.parse(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


def _click_option(name: str, path: tuple[str, ...], opt: Option):
    notes = [opt.kind.describe_flag()] if opt.kind.units else []
    default = default_text(path)
    if default not in ("false", "null"):  # off and none go without saying
        notes.append(f"default: {default}")
    text = opt.flag_help or opt.help
    kwargs: dict[str, Any] = {"help": text + (f" [{'; '.join(notes)}]" if notes else "")}
    if opt.kind.is_flag:
        kwargs.update(is_flag=True, default=None)
    elif opt.kind.choices:
        kwargs.update(type=click.Choice(opt.kind.choices))
    else:
        kwargs.update(type=_KindType(opt), metavar=opt.metavar)
    return click.option(str(opt.flag), name, **kwargs)


def _decorate(fn, decorators):
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def _section_flags(*sections: str) -> list:
    return [_click_option(name, path, opt) for name, (path, opt) in FLAGS.items()
            if path[0] in sections and path != ("model", "init_frames")]


def model_options(fn):
    """Decorate a command with the model / post-processing options and ``--config``."""
    return _decorate(fn, [
        click.option("--config", "config_path", type=click.Path(dir_okay=False),
                     help="YAML config (see configs/default.yaml); flags override it."),
        *_section_flags("preset", "model", "postprocess"),
        click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
                     help="Any other model parameter, e.g. --param var_min=6 (repeatable)."),
    ])


def output_options(fn):
    """Decorate a command with the options of the ``outputs`` and ``events`` sections."""
    return _decorate(fn, _section_flags("outputs", "events"))


def init_frames_option(fn):
    """Decorate a command with ``--init-frames N`` (the config's ``model.init_frames``)."""
    return _click_option("init_frames", *FLAGS["init_frames"])(fn)


def model_flags(flags: dict[str, Any]) -> list[str]:
    """The flags among ``flags`` (a command's option values) that set the model or its
    parameters (``--param`` included): what a checkpoint sets instead. ``--gray`` and
    ``--downscale`` say how frames reach the model, which a checkpoint leaves open."""
    given = [str(FLAGS[name][1].flag) for name, value in flags.items()
             if name in FLAGS and FLAGS[name][0][0] == "model" and value is not None
             and name not in ("gray", "downscale")]
    preset = flags.get("preset")
    if preset is not None and PRESETS[preset].get("model"):  # fast names another model
        given.insert(0, "--preset")
    return given + (["--param"] if flags.get("params") else [])


def _parse_param(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--param: expected KEY=VALUE, got {text!r}")
    return key.strip(), parse_yaml(value, f"--param {key.strip()}")[0]


def config_from_options(config_path=None, params=(), extra=None, **flags) -> Config:
    """The resolved config for a command: YAML file (if any), then ``--param``, then the flags
    (:data:`FLAGS`), then ``extra``."""
    overrides: dict[str, Any] = {"model": dict(_parse_param(p) for p in params)}
    for name, value in flags.items():
        if value is not None:
            path = FLAGS[name][0]
            if len(path) == 1:
                overrides[path[0]] = value
            else:
                overrides.setdefault(path[0], {})[path[1]] = value
    overrides = merge(overrides, extra or {})
    overrides = {key: value for key, value in overrides.items() if value not in ({}, None)}
    if config_path:
        return load_config(config_path, overrides)
    return resolve(overrides, locator=None)
