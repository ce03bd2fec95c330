"""Command-line interface: ``bgsub run | live | batch | eval | train``.

Each command lives in its own module of this package and stays thin: it parses options, builds the
configuration and calls the library. User errors (:class:`bgsub.errors.BgsubError`) become one line
on stderr and exit code 2; Ctrl-C exits with 130 and SIGTERM with 143, both after finalising the
outputs; Python warnings print as one ``bgsub: warning:`` line.
"""

import difflib
import importlib
import signal
import sys
import warnings

import click

from bgsub import __version__
from bgsub.errors import BgsubError
from bgsub.interrupts import raise_interrupted


# name -> (module, attribute). Imported when used: ``bgsub run`` starts faster for not
# loading the batch, live and eval machinery (about 0.15 s).
_COMMANDS = {
    "run": ("bgsub.cli.run", "run_command"),
    "eval": ("bgsub.cli.eval", "eval_command"),
    "live": ("bgsub.cli.live", "live_command"),
    "batch": ("bgsub.cli.batch", "batch_command"),
    "train": ("bgsub.cli.train", "train_command"),
}


class _LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return list(_COMMANDS)

    def get_command(self, ctx, cmd_name):
        if cmd_name not in _COMMANDS:
            return None
        module, attribute = _COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        _end_startup_guard()  # the heavy imports are done; the command handles Ctrl-C itself
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bgsub")
def cli():
    """Background subtraction for video surveillance."""


_signals: list[int] = []


def _on_sigterm(signum, frame):
    # A service manager stopping bgsub: stop like Ctrl-C, with the outputs finalised.
    _signals.append(signum)
    raise_interrupted(signum, frame)


def _warning_line(message, category, filename, lineno, file=None, line=None):
    click.echo(f"bgsub: warning: {message}", err=True)


def _end_startup_guard():
    # From here Ctrl-C raises KeyboardInterrupt (bgsub's Interrupted), which finalises the
    # outputs. Before, a KeyboardInterrupt inside an import can be swallowed by importlib
    # ("Exception ignored") and the run goes on, so bgsub/__main__.py exits at once instead.
    if getattr(signal.getsignal(signal.SIGINT), "startup_guard", False):
        signal.signal(signal.SIGINT, raise_interrupted)


def usage_line(err):
    """A click usage error as one line: what is wrong, the option meant, where to read more."""
    if isinstance(err, click.NoSuchOption):
        text = f"no such option {err.option_name}"
        best = difflib.get_close_matches(err.option_name, err.possibilities or (), n=1, cutoff=0)
        if best:
            text += f" (did you mean {best[0]}?)"
    else:
        text = " ".join(err.format_message().split()).rstrip(".")
        text = text[:1].lower() + text[1:]
    where = f"{err.ctx.command_path} --help" if err.ctx else "bgsub --help"
    return f"{text}; see '{where}'"


def main(argv=None):
    """Console entry point: run the click group, mapping user errors to one line and an exit code."""
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
        warnings.showwarning = _warning_line
        cli.main(args=argv, prog_name="bgsub", standalone_mode=False)
    except BgsubError as err:
        click.echo(f"bgsub: error: {err}", err=True)
        sys.exit(err.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        click.echo("bgsub: interrupted", err=True)
        sys.exit(143 if _signals else 130)
    except click.UsageError as err:
        click.echo(f"bgsub: error: {usage_line(err)}", err=True)
        sys.exit(2)
    except click.ClickException as err:
        err.show()
        sys.exit(2 if err.exit_code == 2 else err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    sys.exit(0)
