"""`smclab sweep`: every combination of a grid of knobs."""

from __future__ import annotations

import shlex
import sys

import click
from rich.console import Group

from smclab.cli.options import session_options, sweep_options
from smclab.cli.ui import SweepProgress, console, print_json, session
from smclab.model.result import MeasurementError
from smclab.report.sweep import sweep_notes, sweep_table
from smclab.run.interrupt import StopSignals
from smclab.store import StoreWriteError, pasteable
from smclab.suites import sweep as sw


@click.command()
@sweep_options
@click.option("--grid", "grid_file", type=click.Path(dir_okay=False), help="TOML grid file.")
@click.option("--name", default=None, help="Sweep id (default: derived from the grid's hash).")
@click.option("--resume", "resume_id", default=None, help="Run the rest of a stored sweep.")
@click.option("--dry-run", is_flag=True, help="Plan only: counts, nothing run or stored.")
@click.option(
    "--retry-errors",
    is_flag=True,
    help="Run again experiments stored only as errors (the error rows are kept).",
)
@click.option(
    "--interleave",
    is_flag=True,
    help="Measure the pending experiments in interleaved rounds (--repeats rounds, each"
    " running every experiment once in a shuffled order) so they can be compared; an"
    " interruption then stores none of them.",
)
@session_options
def sweep(
    axes: dict[str, str],
    grid_file: str | None,
    name: str | None,
    resume_id: str | None,
    dry_run: bool,
    retry_errors: bool,
    interleave: bool,
    as_json: bool,
    db: str | None,
    cpu: int | None,
    timeout: float,
) -> None:
    """Run every combination of a grid of knobs (comma-separated values or --grid FILE).

    Every knob option takes comma-separated values (--events: one list of counters).
    Invalid or unsupported combinations are skipped (counted by reason). Results are stored
    under the sweep's id; re-running the same grid, or --resume ID, runs only what is missing.
    Ctrl-C or SIGTERM stops after the experiment in flight.

    \b
    TOML grid file:
      name = "seed-grid"        # optional: the sweep id
      repeats = 3               # fixed settings
      [grid]
      buffer = ["4K", "1M"]
      step = [0, 64, 2048, 4096]
      asm = ["examples/seed.s"] # assembly experiment files (--asm FILE,FILE)
    """
    grid = sw.requested_grid(axes, grid_file, name, resume_id)
    with session(db, cpu, timeout) as s:
        plan = sw.plan_for(s, grid, resume_id, retry_errors, interleave)
        if dry_run:
            summary, todo = sw.dry_run(s, plan)
            if as_json:
                print_json({"sweep": summary, "pending": [e.label() for e in todo]})
            else:
                for e in todo:
                    click.echo(e.label())
                console.print(Group(*sweep_notes(summary)))
            return
        with StopSignals() as stop:
            progress = SweepProgress(stop)
            try:
                with progress.bar:
                    run = sw.run_sweep(s, plan, progress)
            except StoreWriteError as e:  # what was stored is kept: say how to go on
                raise type(e)(f"{e}; resume with: {resume_command(plan.sweep_id, db)}") from None
        stored = sw.plan_results(s.store, plan)
    summary = run.summary(stored)
    if as_json:
        print_json(sw.sweep_json(summary, stored))
    else:
        console.print(sweep_table(summary, stored))
    if run.interrupted:
        click.echo(
            f"smclab: interrupted ({summary['interrupted']}) with {run.remaining} experiment(s)"
            f" left; resume with: {resume_command(plan.sweep_id, db)}",
            err=True,
        )
        sys.exit(128 + run.interrupted)
    if summary["errors"]:
        total = len(sw.latest_outcomes(stored))
        raise MeasurementError(f"{summary['errors']} of {total} experiments failed")


def resume_command(sweep_id: str, db: str | None) -> str:
    """The command that resumes sweep ``sweep_id`` of store ``db``, ready to paste (a URL's
    password left out: libpq finds it in PGPASSWORD or ~/.pgpass)."""
    where = f" --db {shlex.quote(pasteable(db))}" if db else ""
    return f"smclab sweep --resume {shlex.quote(sweep_id)}{where}"
