"""Command-line interface: ``bgsub run | live | batch | eval``.

Each command lives in its own module of this package and stays thin: it parses options, builds the
configuration and calls the library. User errors (:class:`bgsub.errors.BgsubError`) become one line
on stderr and exit code 2; Ctrl-C exits with 130.
"""

import sys

import click

from bgsub import __version__
from bgsub.errors import BgsubError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bgsub")
def cli():
    """Background subtraction for video surveillance."""


def _register():
    from bgsub.cli.batch import batch_command
    from bgsub.cli.eval import eval_command
    from bgsub.cli.live import live_command
    from bgsub.cli.run import run_command

    cli.add_command(run_command)
    cli.add_command(eval_command)
    cli.add_command(live_command)
    cli.add_command(batch_command)


_register()


def main(argv=None):
    """Console entry point: run the click group, mapping user errors to one line and an exit code."""
    try:
        cli.main(args=argv, prog_name="bgsub", standalone_mode=False)
    except BgsubError as err:
        click.echo(f"bgsub: error: {err}", err=True)
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("bgsub: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("bgsub: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(2 if err.exit_code == 2 else err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    sys.exit(0)
