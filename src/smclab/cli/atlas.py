"""`smclab atlas`: every known CPU's SMC facts side by side."""

from __future__ import annotations

from pathlib import Path

import click

from smclab.cli.options import json_option
from smclab.cli.ui import console, note, print_json
from smclab.errors import SpecError
from smclab.report import atlas as render
from smclab.report import check_writable
from smclab.store import default_path, is_url
from smclab.suites import atlas as at


def default_stores() -> list[str]:
    """The default store, where there is one ($SMCLAB_DB or the XDG data dir)."""
    d = default_path()
    return [str(d)] if is_url(d) or Path(d).exists() else []


@click.command()
@click.option(
    "--db",
    "dbs",
    multiple=True,
    help="A store to read (repeatable; SQLite files and postgresql:// URLs together; default:"
    " $SMCLAB_DB or the XDG data dir, if it exists).",
)
@click.option(
    "--no-reference", is_flag=True, help="Leave out the recorded hosts shipped with smclab."
)
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help="Write CSV (one line per host and fact) to this file ('-': standard output).",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write one self-contained HTML page (table, a plot per fact, raw points).",
)
@click.option(
    "--export",
    "export_dir",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Write each host of the stores as a compact fact file into this directory (the"
    " format of the built-in reference).",
)
@json_option("Print JSON: one object per host with every fact.")
def atlas(
    dbs: tuple[str, ...],
    no_reference: bool,
    csv_file: str | None,
    html_file: str | None,
    export_dir: str | None,
    as_json: bool,
) -> None:
    """Every known CPU side by side: one column per host, one row per fact.

    Facts are what `smclab diagnose` finds (the same code states both), read from each host's
    latest stored runs, with the seed's configurations and advise's best workaround per
    workload. The recorded hosts ship with smclab; add yours with `smclab diagnose --record`.

    \b
      smclab atlas
      smclab atlas --db lab.sqlite --db postgresql://lab-db/smclab --html atlas.html
    """
    for f in (html_file, None if csv_file == "-" else csv_file):
        if f:
            check_writable(f)
    stores = list(dbs) or default_stores()
    if export_dir is not None:
        columns = at.from_stores(stores)
        if not columns:
            raise SpecError(
                "nothing to export: no store given (--db) has a diagnose, seed or advise run"
            )
        written = at.export(columns, export_dir)
        if as_json:
            print_json({"written": [str(p) for p in written]})
        else:
            for p in written:
                console.print(f"wrote {p}", highlight=False)
        return
    a = at.atlas(stores, builtin=not no_reference)
    if not a.columns:
        note("no host: the stores have no stored diagnose, seed or advise run")
    if html_file:
        Path(html_file).write_text(render.to_html(a))
    if csv_file:
        text = render.to_csv(a)
        if csv_file == "-":
            click.echo(text, nl=False)
        else:
            Path(csv_file).write_text(text)
    if as_json:
        print_json(a.to_dict())
    elif csv_file != "-":
        console.print(render.tables(a, console.width))
        if html_file:
            console.print(f"HTML atlas: {html_file}", highlight=False)
