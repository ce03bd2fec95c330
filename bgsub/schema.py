"""The building blocks of the config schema: a setting is a dataclass field that carries its
default, the values it takes (a *kind*), one line of help and its command-line flag.

:mod:`bgsub.config` declares the sections with :func:`option`; validation, the click options
(:mod:`bgsub.cli.options`), ``configs/default.yaml`` and the README's reference tables
(:mod:`bgsub.config_reference`) are all derived from those fields.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from bgsub.errors import ConfigError
from bgsub.units import from_text, parse_duration, parse_size
from bgsub.yamlfile import MAX_COORDINATE


class Invalid(ConfigError):
    """A value a section refuses: the ``key`` (None: the section as a whole) and why."""

    def __init__(self, key: str | None, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key, self.message = key, message

    def __reduce__(self):  # pickled with both arguments (a batch worker's error)
        return type(self), (self.key, self.message)


class Kind:
    """The values a setting takes; a subclass states :meth:`check` and :meth:`describe`."""

    #: The command line's fixed choices, if any; flags (``is_flag``) take no value.
    choices: tuple[str, ...] | None = None
    is_flag: ClassVar[bool] = False
    #: Whether the values are worth stating in the command-line help (units, ranges).
    units: ClassVar[bool] = False

    def parse(self, text: str) -> Any:
        """A command-line value as the config holds it (ValueError with the reason if malformed)."""
        return text

    def check(self, value: Any) -> None:
        """Raise ValueError with the reason when ``value`` is not one of these values."""
        raise NotImplementedError

    def describe(self) -> str:
        """The values, in words, for the reference tables."""
        raise NotImplementedError

    def describe_flag(self) -> str:
        """The values a flag takes, in words: a flag cannot say null (left out, it keeps the
        config's value)."""
        return self.describe()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(text: str, integer: bool) -> int | float:
    """``text`` as an int (``integer``) or a float, or ValueError in the command line's words."""
    try:
        return int(text) if integer else float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid {'integer' if integer else 'float'}") from None


@dataclass(frozen=True)
class Boolean(Kind):
    """``true`` or ``false``."""

    is_flag: ClassVar[bool] = True

    def check(self, value):
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r}")

    def describe(self):
        return "true, false"


@dataclass(frozen=True)
class Count(Kind):
    """A whole number of at least ``lo`` (and at most ``hi`` when given)."""

    lo: int = 0
    hi: int | None = None

    def parse(self, text):
        return _number(text, True)

    def check(self, value):
        if not _is_int(value):
            raise ValueError(f"must be an integer, got {value!r}")
        if value < self.lo or (self.hi is not None and value > self.hi):
            bound = (f"between {self.lo} and {self.hi}" if self.hi is not None
                     else f"at least {self.lo}")
            raise ValueError(f"must be {bound}, got {value}")

    def describe(self):
        return f"integer {self.lo}..{self.hi}" if self.hi is not None else f"integer >= {self.lo}"


@dataclass(frozen=True)
class Interval(Kind):
    """A number (an integer when ``integer``) in ``[lo, hi]``, or ``(lo, hi]`` when ``lo_open``;
    None too when ``optional``. NaN and infinity lie in no interval."""

    units: ClassVar[bool] = True
    lo: float
    hi: float
    lo_open: bool = False
    integer: bool = False
    optional: bool = False

    def parse(self, text):
        return _number(text, self.integer)

    def check(self, value):
        if value is None and self.optional:
            return
        kind = "an integer" if self.integer else "a number"
        ok_type = isinstance(value, int) if self.integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type:
            raise ValueError(f"must be {kind}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):  # NaN passes both bounds
            raise ValueError(f"must be a finite number, got {value!r}")
        below = value <= self.lo if self.lo_open else value < self.lo
        if below or value > self.hi:
            raise ValueError(f"must be in {self._text()}, got {value!r}")

    def _text(self):
        return f"{'(' if self.lo_open else '['}{self.lo}, {self.hi}]"

    def describe(self):
        return f"null or {self.describe_flag()}" if self.optional else self.describe_flag()

    def describe_flag(self):
        return f"{'integer' if self.integer else 'number'} in {self._text()}"


@dataclass(frozen=True)
class OneOf(Kind):
    """One of a fixed set of names."""

    choices: tuple[str, ...]

    def check(self, value):
        if not isinstance(value, str) or value not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}, got {value!r}")

    def describe(self):
        return " | ".join(self.choices)


@dataclass(frozen=True)
class Size(Kind):
    """Pixels (at most ``hi``; odd or 0 when ``odd``) or a percentage of the frame (``"2%"``;
    :func:`bgsub.units.parse_size`)."""

    units: ClassVar[bool] = True
    hi: int | None = None
    odd: bool = False

    def parse(self, text):
        return from_text(text)

    def check(self, value):
        if not _is_int(value):
            parse_size(value)
            return
        Count(0, self.hi).check(value)
        if self.odd and value > 1 and value % 2 == 0:
            raise ValueError(f"must be odd (or 0 to turn it off), got {value}")

    def describe(self):
        pixels = f"{'odd ' if self.odd else ''}pixels{f' (<= {self.hi})' if self.hi else ''}"
        return f"{pixels} or N%"


@dataclass(frozen=True)
class Duration(Kind):
    """Frames (at least ``lo``), seconds (``"2s"``) or a timecode
    (:func:`bgsub.units.parse_duration`)."""

    units: ClassVar[bool] = True
    lo: int = 0

    def parse(self, text):
        return from_text(text)

    def check(self, value):
        if _is_int(value):
            Count(self.lo).check(value)
            return
        frames, _ = parse_duration(value)
        if frames is not None and frames < self.lo:
            raise ValueError(f"must be at least {self.lo}, got {value!r}")

    def describe(self):
        return f"frames (>= {self.lo}), seconds (2s) or a timecode"


@dataclass(frozen=True)
class Percent(Kind):
    """A percentage in [0, 100]."""


    def parse(self, text):
        return _number(text, False)

    def check(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise ValueError(f"must be a percentage in [0, 100], got {value!r}")

    def describe(self):
        return "number in [0, 100]"


@dataclass(frozen=True)
class Factor(Kind):
    """``auto`` or a whole number from 1 to ``hi``."""

    hi: int

    def parse(self, text):
        if text == "auto":
            return text
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer or auto, got {text!r}") from None

    def check(self, value):
        if value != "auto" and not (_is_int(value) and 1 <= value <= self.hi):
            raise ValueError(f"must be auto or an integer from 1 to {self.hi}, got {value!r}")

    def describe(self):
        return f"auto or integer 1..{self.hi}"


@dataclass(frozen=True)
class Path(Kind):
    """None or a non-empty path: ``what`` it is, or a file with one of ``suffixes``."""

    what: str
    suffixes: tuple[str, ...] = ()
    def check(self, value):
        if value is None:
            return
        if self.suffixes:
            if not isinstance(value, str) or not value.lower().endswith(self.suffixes):
                raise ValueError(f"must be a {self._suffixes()} path, got {value!r}")
        elif not (isinstance(value, str) and value):
            raise ValueError(f"must be {self.what}, got {value!r}")

    def _suffixes(self):
        return ", ".join(self.suffixes[:-1]) + f" or {self.suffixes[-1]}"

    def describe(self):
        return f"null or a {self._suffixes()} path" if self.suffixes else f"null or {self.what}"


@dataclass(frozen=True)
class FlagOrFolder(Kind):
    """``true`` (a default folder), ``false`` or a folder path."""

    def check(self, value):
        if not isinstance(value, (bool, str)):
            raise ValueError(f"must be true, false or a folder, got {value!r}")

    def describe(self):
        return "true, false or a folder"


@dataclass(frozen=True)
class Region(Kind):
    """None, an image path (nonzero = inside) or polygons ``[[x, y], ...]`` (one, or a list)."""

    def check(self, value):
        if value is None or isinstance(value, str):
            return
        if not isinstance(value, list):
            raise ValueError("must be an image path or a list of polygons [[x, y], ...]")
        nested = value and isinstance(value[0], list) and value[0] and isinstance(value[0][0], list)
        for index, polygon in enumerate(value if nested else [value]):
            ok = isinstance(polygon, list) and len(polygon) >= 3 and all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) for v in p)
                for p in polygon)
            if not ok:
                raise ValueError(f"polygon {index} must be at least three [x, y] points")
            for v in (v for p in polygon for v in p):
                # NaN passes no bound; OpenCV fills polygons in 32-bit fixed point.
                if not -MAX_COORDINATE <= v <= MAX_COORDINATE:
                    raise ValueError(f"polygon {index}: coordinates must be finite numbers within "
                                     f"+-{MAX_COORDINATE}, got {v!r}")

    def describe(self):
        return "null, an image path or polygons [[x, y], ...]"


@dataclass(frozen=True)
class Option:
    """What the schema says of one setting besides its default."""

    kind: Kind
    help: str
    flag: str | None = None
    metavar: str | None = None
    #: The flag's own help where the YAML's would promise values the flag does not take.
    flag_help: str | None = None


def option(default: Any, kind: Kind, help: str, flag: str | None = None,
           metavar: str | None = None, flag_help: str | None = None) -> Any:
    """A dataclass field holding a setting: its ``default``, ``kind``, one line of ``help`` and,
    when the command line sets it, its ``flag`` (with ``metavar`` for its value, and
    ``flag_help`` where the flag takes fewer values than the YAML key, such as no null)."""
    return field(default=default,
                 metadata={"option": Option(kind, help, flag, metavar, flag_help)})


def options(cls: type) -> Iterator[tuple[str, Option, Any]]:
    """``(key, option, default)`` of each setting of the dataclass ``cls``, in order."""
    for f in fields(cls):
        if "option" in f.metadata:
            yield f.name, f.metadata["option"], f.default


def option_of(cls: type, key: str) -> Option:
    """The :class:`Option` of the setting ``key`` of the dataclass ``cls``."""
    return next(opt for name, opt, _ in options(cls) if name == key)


def check_options(obj: Any) -> None:
    """Raise :class:`Invalid` for the first setting of dataclass ``obj`` its kind refuses."""
    for key, opt, _ in options(type(obj)):
        try:
            opt.kind.check(getattr(obj, key))
        except ValueError as err:
            raise Invalid(key, str(err)) from None


class Section:
    """Base of a config section (a frozen dataclass of :func:`option` fields): checked when made,
    first each setting, then :meth:`check_together`."""

    #: One line on the section as a whole, for the generated docs.
    summary: ClassVar[str] = ""

    def __post_init__(self) -> None:
        check_options(self)
        self.check_together()

    def check_together(self) -> None:
        """Raise :class:`Invalid` for settings that are wrong together (none by default)."""

    @classmethod
    def keys(cls) -> list[str]:
        """The section's keys, in order."""
        return [key for key, _, _ in options(cls)]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """``{key: default}`` of the section."""
        return {key: default for key, _, default in options(cls)}

    def to_dict(self) -> dict[str, Any]:
        """``{key: value}``, as YAML states the section."""
        return {key: copy.deepcopy(getattr(self, key)) for key in self.keys()}


def yaml_text(value: Any) -> str:
    """A default as YAML writes it (``null``, ``true``, ``4%``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def unknown_key(key: Any, allowed: Any) -> str:
    """The message for ``key`` outside ``allowed``: the closest valid key when one is close (a
    misspelling), else the list of valid keys."""
    close = difflib.get_close_matches(str(key), [str(k) for k in allowed], n=1)
    if close:
        return f"unknown key; did you mean {close[0]}?"
    return f"unknown key (valid keys: {', '.join(map(str, allowed))})"
