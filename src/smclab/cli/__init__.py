"""Command line: a thin layer over the Python API (one module per command or small group;
the options in :mod:`smclab.cli.options`).

Exit codes: 0 ok, 1 measurement error, failed write to the store or a damaged store, 2 bad
input (including a missing or foreign store, or a sweep another process runs); one line on
stderr.
128 + the signal when interrupted (130 SIGINT, 143 SIGTERM, 129 SIGHUP: the worker is killed,
nothing in flight stored).
"""

from __future__ import annotations

import os
import sys

import click

from smclab._version import __version__
from smclab.cli.analyse import advise, diagnose
from smclab.cli.atlas import atlas
from smclab.cli.measure import catalog, host, run, seed, show
from smclab.cli.results import results
from smclab.cli.stores import compare, merge, plot
from smclab.cli.sweep import sweep
from smclab.cli.ui import err_console, settings
from smclab.errors import SpecError
from smclab.model.experiment import PLUGIN_ERRORS
from smclab.model.result import MeasurementError
from smclab.run import counters
from smclab.run.interrupt import Interrupted, raise_on_signals
from smclab.store import StoreError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smclab")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no notes on stderr.")
def cli(quiet: bool) -> None:
    """smclab: generate, run and measure self-modifying code experiments on x86-64."""
    settings.quiet = quiet


def _quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        settings.quiet = True


COMMANDS = (
    host,
    show,
    run,
    seed,
    catalog,
    sweep,
    results,
    diagnose,
    advise,
    atlas,
    compare,
    merge,
    plot,
)
for command in COMMANDS:
    # -q also after the command (`smclab catalog -q`), as before it
    command.params.append(
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_quiet,
            help="No progress and no notes on stderr.",
        )
    )
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    completing = "_SMCLAB_COMPLETE" in os.environ  # a shell asks click for completions
    if not (sys.argv[1:] if argv is None else argv) and not completing:  # `smclab`: the help
        click.echo(cli.get_help(click.Context(cli, info_name="smclab")))
        return
    try:
        if PLUGIN_ERRORS:
            raise SpecError(PLUGIN_ERRORS[0])
        with raise_on_signals():
            cli.main(args=argv, prog_name="smclab", standalone_mode=False)
    except Interrupted as e:
        click.echo(
            f"smclab: interrupted by {e.name} (the experiment in flight is not stored)", err=True
        )
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        err_console.print("smclab: interrupted")
        sys.exit(130)
    except click.exceptions.UsageError as e:
        click.echo(f"smclab: error: {e.format_message()}", err=True)
        sys.exit(2)
    except click.exceptions.ClickException as e:
        click.echo(f"smclab: error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except StoreError as e:
        click.echo(f"smclab: error: {e}", err=True)
        sys.exit(e.exit_code)
    except (SpecError, counters.UnknownEvent) as e:
        click.echo(f"smclab: error: {e}", err=True)
        sys.exit(2)
    except MeasurementError as e:
        click.echo(f"smclab: measurement failed: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("smclab: interrupted (stored results are kept)", err=True)
        sys.exit(130)
