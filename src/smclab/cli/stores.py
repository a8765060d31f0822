"""Commands across stores: compare, merge, plot."""

from __future__ import annotations

import click

from smclab.cli.options import db_option, json_option, suite_option
from smclab.cli.ui import console, print_json
from smclab.model.result import Metric
from smclab.report import compare as compare_report
from smclab.report import plot as pl
from smclab.store import open_store
from smclab.suites import compare as cmp
from smclab.suites.sweep import sweep_results


@click.command()
@click.argument("sources", nargs=-1)
@db_option("Compare hosts of this one store: SOURCES are then host ids (default: all its hosts).")
@click.option("--hosts", "list_hosts", is_flag=True, help="List the stored hosts and their ids.")
@suite_option()
@click.option("--sweep", "sweep_id", default=None, help="Only this sweep's results.")
@click.option("--common", is_flag=True, help="Only experiments stored on every host.")
@click.option(
    "--markdown", "as_markdown", is_flag=True, help="Print a Markdown table (tests, intervals)."
)
@json_option()
def compare(
    sources: tuple[str, ...],
    db: str | None,
    list_hosts: bool,
    suite: str | None,
    sweep_id: str | None,
    common: bool,
    as_markdown: bool,
    as_json: bool,
) -> None:
    """The same experiments side by side on several hosts.

    SOURCES are stores (every host of each with results is a column), or with --db, host ids
    of that store (see --hosts). Experiments match on their knobs (however many iterations or
    repeats measured them); each host's latest result without error is used. x h1 is ns/iter
    relative to the first host; --json and --markdown add, per experiment, an exact
    Mann-Whitney U test over the stored repeats with a 95% interval of the ratio, and per
    host the geometric mean of its ratios.

    \b
      smclab compare a.sqlite b.sqlite
      smclab merge --into all.sqlite a.sqlite b.sqlite && smclab compare --db all.sqlite 1 2
    """
    targets = cmp.targets(sources, db, list_hosts)
    if list_hosts:
        hosts = cmp.stored_hosts(targets)
        if as_json:
            print_json({"hosts": hosts})
        else:
            console.print(compare_report.hosts_table(hosts) if hosts else "no stored hosts")
        return
    data = cmp.compare_stores(targets, suite, sweep_id, common)
    if as_json:
        print_json(data)
    elif as_markdown:
        click.echo(compare_report.compare_markdown(data), nl=False)
    else:
        console.print(compare_report.compare_table(data))


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--into",
    "dest",
    required=True,
    type=click.Path(dir_okay=False),
    help="The store to fold SOURCES into (created if missing).",
)
@json_option()
def merge(sources: tuple[str, ...], dest: str, as_json: bool) -> None:
    """Fold result stores into one, without duplicates.

    Hosts are matched on their fingerprint, results on (host, code key, time, raw repeats),
    so merging the same store twice adds nothing. A sweep whose id is already stored is kept.
    One transaction per source.
    """
    data = cmp.merge(dest, list(sources))
    if as_json:
        print_json(data)
    else:
        for line in cmp.merge_lines(data):
            click.echo(line)


@click.command()
@db_option("Store: an SQLite file or a postgresql:// URL.")
@click.option("--sweep", "sweep_id", required=True, help="The stored sweep to plot.")
@click.option("--x", "x", required=True, metavar="KNOB", help="The knob on the x axis.")
@click.option(
    "--y",
    type=click.Choice(["ns", "ticks"]),
    default="ns",
    show_default=True,
    help="ns or ticks per iteration.",
)
@click.option("--lines", default=None, metavar="KNOB", help="One line per value of this knob.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Image file, its format from its suffix (png, svg, pdf, ...; default: <sweep id>.png).",
)
@click.option("--logx", is_flag=True, help="Logarithmic x axis.")
@click.option("--logy", is_flag=True, help="Logarithmic y axis.")
@json_option("Print JSON: the file written and the plotted points (median, IQR/2).")
def plot(
    as_json: bool,
    db: str | None,
    sweep_id: str,
    x: str,
    y: str,
    lines: str | None,
    out: str | None,
    logx: bool,
    logy: bool,
) -> None:
    """Plot a stored sweep: ns (or ticks) per iteration against a knob, as a PNG.

    Error bars span the IQR. Other knobs that vary in the sweep split the lines further.
    """
    xk = pl.knob(x, "--x")
    lk = pl.knob(lines, "--lines") if lines else None
    path = out or f"{sweep_id}.png"
    fmt = pl.image_format(path)
    with open_store(db, create=False, read_only=True) as store:
        rows = sweep_results(store, sweep_id)
    metric: Metric = "ticks" if y == "ticks" else "ns"
    pl.plot_sweep(rows, sweep_id, path, fmt, xk, metric, lk, logx, logy)
    if as_json:
        lines_, _ = pl.series(rows, xk, metric, lk)
        print_json(
            {
                "out": path,
                "sweep": sweep_id,
                "x": xk,
                "y": metric,
                "lines": [
                    {
                        "label": s.label,
                        "points": [{"x": px, "y": py, "error": pe} for px, py, pe in s.points],
                    }
                    for s in lines_
                ],
            }
        )
    else:
        click.echo(path)
