"""The one exception type for user errors.

Anything the user can fix (a missing file, a bad option, a camera that is not there) is raised as
:class:`BgsubError` with a one-line message; the CLI prints that line and exits with ``exit_code``.
"""


class BgsubError(Exception):
    """A user error: ``str(err)`` is one readable line saying what and where."""

    exit_code = 2


class SourceError(BgsubError):
    """A frame source could not be opened or read."""


class SinkError(BgsubError):
    """An output could not be written."""


class ConfigError(BgsubError, ValueError):
    """A configuration value (CLI option, YAML key, model parameter) is invalid.

    It is also a ``ValueError``, so library users can catch bad model parameters the usual way.
    """


class InputCutShort(BgsubError):
    """The input ended before its last frame; the outputs hold the frames read (exit code 1,
    "ran, but an input failed")."""

    exit_code = 1
