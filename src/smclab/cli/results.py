"""`smclab results`: list, export and remove stored results."""

from __future__ import annotations

import click

from smclab.cli.options import db_option, json_option, suite_option
from smclab.cli.ui import console, print_json
from smclab.errors import SpecError
from smclab.report.sweep import results_markdown, results_table, sweeps_table
from smclab.store import export, open_store
from smclab.suites.sweep import sweep_results, varying_knobs


@click.command()
@click.option("--sweep", "sweep_id", default=None, help="Only this sweep's results.")
@suite_option()
@click.option("--sweeps", "list_sweeps", is_flag=True, help="List the stored sweeps instead.")
@json_option("Print JSON (a list of rows).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print a Markdown table.")
@click.option("--host", "host_id", type=int, default=None, help="Only this host's results (id).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write to this file.")
@db_option("Store: an SQLite file or a postgresql:// URL.")
@click.option(
    "--delete", "delete_id", default=None, metavar="SWEEP", help="Remove this sweep's results."
)
@click.option(
    "--prune",
    is_flag=True,
    help="Remove error results a later success of the same experiment superseded"
    " (of --sweep, or of every sweep).",
)
def results(
    sweep_id: str | None,
    suite: str | None,
    list_sweeps: bool,
    host_id: int | None,
    as_json: bool,
    as_csv: bool,
    as_markdown: bool,
    out: str | None,
    db: str | None,
    delete_id: str | None,
    prune: bool,
) -> None:
    """Export stored results: one row per experiment, every knob a column.

    --delete SWEEP and --prune remove results instead (and print how many).
    """
    if delete_id is not None or prune:
        if delete_id is not None and (prune or sweep_id):
            raise SpecError("--delete SWEEP takes no --prune or --sweep")
        with open_store(db, create=False) as store:
            if delete_id is not None:
                done = {"sweep": delete_id, "deleted": store.delete_sweep(delete_id)}
                line = f"sweep '{delete_id}' removed with its {done['deleted']} result(s)"
            else:
                done = {"sweep": sweep_id, "pruned": store.prune(sweep_id)}
                line = f"{done['pruned']} superseded error result(s) removed"
        if as_json:
            print_json(done)
        else:
            click.echo(line)
        return
    if as_markdown and (as_json or as_csv or list_sweeps):
        raise SpecError("--markdown takes no --json, --csv or --sweeps")
    fmt = None if as_markdown else export.export_format(as_json, as_csv, out, list_sweeps)
    with open_store(db, create=False, read_only=True) as store:
        sweeps = store.sweeps() if list_sweeps else []
        stored = [] if list_sweeps else sweep_results(store, sweep_id, suite, host_id)
    if fmt is not None:
        text = export.export_text(fmt, stored, sweeps if list_sweeps else None)
        if out:
            export.write_text(out, text)
        else:
            click.echo(text, nl=False)
    elif as_markdown:
        text = results_markdown(stored, varying_knobs(stored)) if stored else ""
        if out:
            export.write_text(out, text)
        else:
            click.echo(text or "no stored results", nl=not text)
    elif list_sweeps:
        console.print(sweeps_table(sweeps) if sweeps else "no stored sweeps")
    elif not stored:
        console.print("no stored results")
    else:
        console.print(results_table(stored, varying_knobs(stored)))
