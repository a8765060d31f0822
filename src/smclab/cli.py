"""Command line: a thin layer over the Python API.

Exit codes: 0 ok, 1 measurement error or failed write to the store, 2 bad input (including a
missing, foreign or corrupted store, or a sweep another process runs); one line on stderr.
128 + the signal when interrupted (130 SIGINT, 143 SIGTERM, 129 SIGHUP: the worker is killed,
nothing in flight stored).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import shlex
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from smclab import codegen, report
from smclab._version import __version__
from smclab.model.experiment import WORKLOADS, Experiment, field_default, field_meta, parse_value
from smclab.model.knobs import SpecError
from smclab.model.result import MeasurementError
from smclab.run import counters, machine
from smclab.run.interrupt import Interrupted, raise_on_signals
from smclab.store import StoreError, StoreWriteError
from smclab.suites.diagnose import PROBES

console = Console()
err_console = Console(stderr=True)

HOST_EVENTS = (
    "smc-clears",
    "cycles",
    "instructions",
    "branch-misses",
    "indirect-mispredicts",
    "page-faults",
    "task-clock",
    "context-switches",
)


METAVARS = {
    "size": "SIZE",
    "int": "N",
    "float": "X",
    "choice": "NAME",
    "strategy": "ID",
    "events": "LIST",
    "asm": "FILE",
    "text": "TEXT",
}


def _events(text: str) -> tuple[str, ...]:
    return parse_value("events", text)


def spec_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Every Experiment field as an option (from its metadata); the command gets ``exp``."""
    names = [f.name for f in dataclasses.fields(Experiment)]

    @functools.wraps(fn)
    def wrapper(**kw: Any) -> Any:
        values = {n: kw.pop(n) for n in names}
        given = {n: parse_value(n, v) for n, v in values.items() if v is not None}
        if values["asm"] is not None:  # --asm FILE: the experiment keeps the file's text
            from smclab.isa.gas import read_file

            name, given["asm"] = read_file(values["asm"])
            given.setdefault("asm_name", name)
        return fn(exp=Experiment(**given), **kw)

    for name in reversed(names):
        wrapper = field_option(name)(wrapper)
    return wrapper


def field_option(name: str) -> Callable[[Any], Any]:
    """The option of Experiment field ``name`` (text value, None when not given)."""
    meta = field_meta(name)
    default = field_default(name)
    shown = ",".join(default) if isinstance(default, tuple) else default
    text = meta["help"]
    if meta["choices"]:
        text += f" One of: {', '.join(meta['choices'])}."
    if shown not in (None, ""):
        text += f" [default: {shown}]"
    opt = "--" + name.replace("_", "-")
    return click.option(
        opt,
        name,
        default=None,
        hidden=meta.get("hidden", False),
        metavar=METAVARS[meta["kind"]],
        help=text,
    )


class _Seconds(click.FloatRange):
    """A range of seconds that also refuses nan (which no bound of FloatRange catches)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        rv = super().convert(value, param, ctx)
        if math.isnan(rv):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return rv


def session_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--db",
        type=click.Path(dir_okay=False),
        default=None,
        help="SQLite store (default: $SMCLAB_DB or the XDG data dir).",
    )(fn)
    fn = click.option(
        "--cpu", type=int, default=None, help="CPU the worker is pinned to (default: the last one)."
    )(fn)
    fn = click.option(
        "--timeout",
        type=_Seconds(min=0.1, max=86400),
        default=120.0,
        show_default=True,
        help="Seconds before a hung experiment is killed (more for a long one: the limit grows"
        " with what its warm-up predicts).",
    )(fn)
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(fn)


def _session(db: str | None, cpu: int | None, timeout: float) -> Any:
    from smclab.suites.session import Session

    if cpu is not None and cpu not in machine.allowed_cpus():
        raise SpecError(f"cpu {cpu} is not available (allowed: {sorted(machine.allowed_cpus())})")
    return Session(db, cpu, timeout)


def _check_writable(path: str) -> None:
    """Refuse an output file whose directory does not exist or is not writable, before
    anything is measured."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise SpecError(f"cannot write {path}: {parent} is not a writable directory")


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smclab")
def cli() -> None:
    """smclab: generate, run and measure self-modifying code experiments on x86-64."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def host(as_json: bool) -> None:
    """Host facts (CPU, microcode, kernel, hypervisor, TSC) and which counters work."""
    from smclab.run.worker import Runner

    with Runner() as runner:
        facts = machine.host_facts(runner.tsc_hz())
    cid = machine.cpu_id()
    specs, status = [], {}
    for name in HOST_EVENTS:
        try:
            specs.append(counters.resolve(name, cid.vendor, cid.family, cid.model))
        except counters.UnknownEvent as e:
            status[name] = f"unavailable: {e}"
    status.update(counters.probe(specs))
    status = {n: status[n] for n in HOST_EVENTS if n in status}
    if as_json:
        _print_json({"host": facts, "counters": status})
    else:
        console.print(report.host_table(facts, status))


@cli.command()
@spec_options
def show(exp: Experiment) -> None:
    """Print the disassembly of exactly what `run` would execute (nominal addresses)."""
    program = codegen.build(exp)
    lay = program.layout
    click.echo(
        f"; {exp.label()}: code at {lay.code:#x}, exec buffer at {lay.exec_buf:#x}"
        f" ({exp.buffer} bytes), far buffer at {lay.far_buf:#x}"
    )
    click.echo("; addresses are nominal: the worker lays the same code out at its own mapping")
    click.echo(program.listing_text())


@cli.command()
@spec_options
@session_options
def run(exp: Experiment, as_json: bool, db: str | None, cpu: int | None, timeout: float) -> None:
    """Run one experiment, store it and print its result."""
    with _session(db, cpu, timeout) as s:
        s.check(exp)
        result = s.run(exp, "run")
    if as_json:
        _print_json(result.to_dict())
    else:
        console.print(report.result_table(exp.label(), result))
    if result.error:
        raise MeasurementError(result.error)


@cli.command()
@click.option(
    "--iterations",
    type=int,
    default=None,
    help="Iterations per repeat (default: calibrated, >= 20 ms a repeat).",
)
@click.option("--repeats", type=int, default=5, show_default=True)
@click.option("--events", default=None, help="Counters (default: smc-clears).")
@session_options
def seed(
    iterations: int | None,
    repeats: int,
    events: str | None,
    as_json: bool,
    db: str | None,
    cpu: int | None,
    timeout: float,
) -> None:
    """Reproduce the seed's table on this host, beside the published Kaby Lake numbers."""
    from smclab.suites.seed import run_seed

    evs = _events(events) if events is not None else None
    with _session(db, cpu, timeout) as s:
        if as_json:
            table = run_seed(s, iterations, repeats, evs)
        else:
            with err_console.status("measuring") as status:
                table = run_seed(
                    s,
                    iterations,
                    repeats,
                    evs,
                    progress=lambda name: status.update(f"measuring {name}"),
                )
    if as_json:
        _print_json(table.to_dict())
    else:
        console.print(report.seed_table(table))
    failed = [row.name for row, res in table.rows if res.error]
    if failed:
        raise MeasurementError(f"rows failed: {', '.join(failed)}")


@cli.command()
@click.option(
    "--workload",
    type=click.Choice(list(WORKLOADS)),
    default=None,
    help="Only this workload's variants.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def catalog(workload: str | None, as_json: bool) -> None:
    """Every variant id: workload, what it does, CPU features, whether this host runs it."""
    from smclab.suites.catalog import VARIANTS

    flags = machine.cpu_flags()
    rows = [v for v in VARIANTS.values() if workload in (None, v.workload)]
    if as_json:
        _print_json(
            [
                {
                    "id": v.id,
                    "workload": v.workload,
                    "summary": v.summary,
                    "knobs": v.knobs,
                    "features": list(v.features),
                    "runnable": not v.missing(flags),
                    "reason": report.missing_reason(v.missing(flags)),
                }
                for v in rows
            ]
        )
        return
    console.print(report.catalog_table(rows, flags))


def sweep_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Every Experiment field as an option taking a comma-separated list; the command gets
    ``axes`` ({field: text} for the options given)."""
    names = [f.name for f in dataclasses.fields(Experiment)]

    @functools.wraps(fn)
    def wrapper(**kw: Any) -> Any:
        axes = {n: v for n in names if (v := kw.pop(n)) is not None}
        return fn(axes=axes, **kw)

    for name in reversed(names):
        wrapper = field_option(name)(wrapper)
    return wrapper


class _SweepProgress:
    """A rich progress bar on stderr: done/total, ETA, errors so far, the config in flight."""

    def __init__(self, stop: Callable[[], int | None]) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._stop = stop
        self.errors = 0
        self.bar = Progress(
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[errors]} errors"),
            TextColumn("{task.description}"),
            console=err_console,
            transient=True,
            disable=not err_console.is_terminal,
        )
        self.task = self.bar.add_task("", total=None, errors=0)

    def begin(self, total: int, done: int) -> None:
        self.bar.update(self.task, total=total, completed=done)

    def start(self, exp: Experiment) -> None:
        self.bar.update(self.task, description=exp.label())

    def finish(self, result: Any) -> None:
        self.errors += bool(result.error)
        self.bar.update(self.task, advance=1, errors=self.errors)

    def stop(self) -> int | None:
        return self._stop()


@cli.command()
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
@session_options
def sweep(
    axes: dict[str, str],
    grid_file: str | None,
    name: str | None,
    resume_id: str | None,
    dry_run: bool,
    retry_errors: bool,
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
    from rich.console import Group

    from smclab.report.sweep import sweep_notes, sweep_table
    from smclab.store.export import export_rows
    from smclab.suites import sweep as sw

    if resume_id is not None:
        if axes or grid_file or name:
            raise SpecError("--resume runs the stored grid: give no knobs, --grid or --name")
    elif not axes and not grid_file:
        raise SpecError("no grid: give knobs with comma-separated values or --grid FILE")
    grid = sw.Grid.from_options(axes)
    if grid_file:
        grid = sw.Grid.load(grid_file).merged(grid)
    grid = grid.named(name)
    with _session(db, cpu, timeout) as s:
        sweep_id = None
        if resume_id is not None:
            found = s.store.sweep(resume_id)
            if found is None:
                raise SpecError(f"no sweep '{resume_id}' in {s.store.location}")
            suite = s.store.sweep_suite(resume_id)
            if suite not in (None, sw.SUITE):
                raise SpecError(
                    f"sweep '{resume_id}' was recorded by `smclab {suite}`, not by"
                    f" a grid: run `smclab {suite}` again instead"
                )
            grid, sweep_id = sw.Grid.from_json(found.grid, found.name), resume_id
        plan = dataclasses.replace(
            sw.plan(grid, s.cpu, s.flags, sweep_id), retry_errors=retry_errors
        )
        if dry_run:
            todo = sw.pending(s, plan)
            run = sw.SweepRun(plan, len(plan.experiments) - len(todo), remaining=len(todo))
            summary = run.summary([])
            if as_json:
                _print_json({"sweep": summary, "pending": [e.label() for e in todo]})
            else:
                for e in todo:
                    click.echo(e.label())
                console.print(Group(*sweep_notes(summary)))
            return
        with sw.StopSignals() as stop:
            progress = _SweepProgress(stop)
            with progress.bar:
                run = sw.run_sweep(s, plan, progress)
        keys = {e.code_key() for e in plan.experiments}
        stored = [r for r in s.store.results(sweep_id=plan.sweep_id) if r.exp_key in keys]
    summary = run.summary(stored)
    if as_json:
        _print_json({"sweep": summary, "rows": export_rows(stored)})
    else:
        console.print(sweep_table(summary, stored))
    if run.interrupted:
        click.echo(
            f"smclab: interrupted ({summary['interrupted']}) with {run.remaining} experiment(s)"
            f" left; resume with: smclab sweep --resume {plan.sweep_id}"
            + (f" --db {shlex.quote(db)}" if db else ""),
            err=True,
        )
        sys.exit(128 + run.interrupted)
    if summary["errors"]:
        raise MeasurementError(f"{summary['errors']} of {len(stored)} experiments failed")


@cli.command()
@click.option("--sweep", "sweep_id", default=None, help="Only this sweep's results.")
@click.option("--suite", default=None, help="Only this suite's results (seed, run, sweep).")
@click.option("--sweeps", "list_sweeps", is_flag=True, help="List the stored sweeps instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of rows).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write to this file.")
@click.option("--db", type=click.Path(dir_okay=False), default=None, help="SQLite store.")
def results(
    sweep_id: str | None,
    suite: str | None,
    list_sweeps: bool,
    as_json: bool,
    as_csv: bool,
    out: str | None,
    db: str | None,
) -> None:
    """Export stored results: one row per experiment, every knob a column."""
    import io
    from pathlib import Path

    from smclab.report.sweep import results_table, sweeps_table
    from smclab.store import open_store
    from smclab.store.export import export_rows, write_csv
    from smclab.suites.sweep import varying_knobs

    if as_json and as_csv:
        raise SpecError("give --json or --csv, not both")
    if out and not (as_json or as_csv):
        suffix = Path(out).suffix.lower()
        if suffix not in (".json", ".csv"):
            raise SpecError("--out needs --json or --csv (or a .json or .csv file name)")
        as_json, as_csv = suffix == ".json", suffix == ".csv"
    if list_sweeps and as_csv:
        raise SpecError("--sweeps lists as a table or --json")
    with open_store(db, create=False) as store:
        sweeps = store.sweeps() if list_sweeps else []
        stored = [] if list_sweeps else list(store.results(suite=suite, sweep_id=sweep_id))
        if sweep_id is not None and not (stored or list_sweeps) and store.sweep(sweep_id) is None:
            raise SpecError(f"no sweep '{sweep_id}' in {store.location}")
    if as_json or as_csv:
        buf = io.StringIO()
        if as_json:
            data = [s.to_dict() for s in sweeps] if list_sweeps else export_rows(stored)
            buf.write(json.dumps(data, indent=2) + "\n")
        else:
            write_csv(export_rows(stored), buf)
        if out:
            try:
                Path(out).write_text(buf.getvalue())
            except OSError as e:
                raise SpecError(f"cannot write {out}: {e.strerror}") from None
        else:
            click.echo(buf.getvalue(), nl=False)
    elif list_sweeps:
        console.print(sweeps_table(sweeps) if sweeps else "no stored sweeps")
    elif not stored:
        console.print("no stored results")
    else:
        console.print(results_table(stored, varying_knobs(stored)))


def _observed(run: Callable[[Any], Any]) -> Any:
    """Run ``run(observer)`` with a progress bar and SIGINT/SIGTERM stopping after the point."""
    from smclab.suites import sweep as sw

    out = None
    with sw.StopSignals() as stop:
        progress = _SweepProgress(stop)
        try:
            with progress.bar:
                out = run(progress)
        except sw.Interrupted:
            pass
    signum = stop()
    if signum:
        click.echo("smclab: interrupted; the points measured so far are stored", err=True)
        sys.exit(128 + signum)
    return out


@cli.command()
@click.option(
    "--quick", is_flag=True, help="Trimmed grids, 3 short repeats (seconds instead of ~15 s)."
)
@click.option(
    "--probe",
    "only",
    multiple=True,
    type=click.Choice(list(PROBES)),
    help="Run only this probe (repeatable).",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write a self-contained HTML report (plots embedded).",
)
@session_options
def diagnose(
    quick: bool,
    only: tuple[str, ...],
    html_file: str | None,
    as_json: bool,
    db: str | None,
    cpu: int | None,
    timeout: float,
) -> None:
    """Run the probes and state what causes the penalty on this host, with the evidence."""
    from smclab.report.findings import diagnosis
    from smclab.suites.diagnose import run_diagnose

    if html_file:
        _check_writable(html_file)
    with _session(db, cpu, timeout) as s:
        d = _observed(lambda obs: run_diagnose(s, quick, only, obs))
        advice = None
        if html_file:
            from smclab.suites.advise import run_advise

            advice = _observed(lambda obs: run_advise(s, "seed", quick=True, observer=obs))
    if html_file:
        from smclab.report.html import write_html

        try:
            write_html(html_file, d, advice)
        except OSError as e:
            raise MeasurementError(
                f"measured and stored, but cannot write {html_file}: {e}"
            ) from None
    if as_json:
        _print_json(d.to_dict())
    else:
        console.print(diagnosis(d))
        if html_file:
            console.print(f"HTML report: {html_file}")


@cli.command()
@click.option(
    "--workload",
    type=click.Choice(list(WORKLOADS)),
    default="seed",
    show_default=True,
    help="Rank workarounds for this workload.",
)
@click.option("--quick", is_flag=True, help="3 short repeats per candidate.")
@session_options
def advise(
    workload: str, quick: bool, as_json: bool, db: str | None, cpu: int | None, timeout: float
) -> None:
    """Rank workarounds measured here against the naive loop and the floor."""
    from smclab.report.findings import advice
    from smclab.suites.advise import run_advise

    with _session(db, cpu, timeout) as s:
        a = _observed(lambda obs: run_advise(s, workload, quick, obs))
    if as_json:
        _print_json(a.to_dict())
    else:
        console.print(advice(a))


@cli.command()
@click.argument("sources", nargs=-1)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    default=None,
    help="Compare hosts of this one store: SOURCES are then host ids (default: all its hosts).",
)
@click.option("--hosts", "list_hosts", is_flag=True, help="List the stored hosts and their ids.")
@click.option("--suite", default=None, help="Only this suite's results (seed, run, sweep, ...).")
@click.option("--sweep", "sweep_id", default=None, help="Only this sweep's results.")
@click.option("--common", is_flag=True, help="Only experiments stored on every host.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def compare(
    sources: tuple[str, ...],
    db: str | None,
    list_hosts: bool,
    suite: str | None,
    sweep_id: str | None,
    common: bool,
    as_json: bool,
) -> None:
    """The same experiments side by side on several hosts.

    SOURCES are stores (every host of each with results is a column), or with --db, host ids
    of that store (see --hosts). Experiments match on their knobs (however many iterations or
    repeats measured them); each host's latest result without error is used. x h1 is ns/iter
    relative to the first host.

    \b
      smclab compare a.sqlite b.sqlite
      smclab merge --into all.sqlite a.sqlite b.sqlite && smclab compare --db all.sqlite 1 2
    """
    from smclab.report import compare as compare_report
    from smclab.store import default_path, open_store
    from smclab.suites import compare as cmp

    if db is not None or not sources:
        path = db if db is not None else str(default_path())
        if list_hosts and sources:
            raise SpecError("--hosts lists every host of --db: give no host ids")
        ids = None if list_hosts or not sources else cmp.parse_host_ids(sources)
        targets: list[tuple[str, list[int] | None]] = [(path, ids)]
    else:
        targets = [(src, None) for src in sources]
    stores = [(src, open_store(src, create=False), ids) for src, ids in targets]
    try:
        if list_hosts:
            hosts = [h for src, st, _ in stores for h in cmp.list_hosts(st, src)]
        else:
            columns = [
                c
                for src, st, ids in stores
                for c in cmp.load_columns(st, src, ids, suite, sweep_id)
            ]
            data = cmp.compare(columns, common)
    finally:
        for _, st, _ in stores:
            st.close()
    if list_hosts:
        if as_json:
            _print_json({"hosts": hosts})
        else:
            console.print(compare_report.hosts_table(hosts) if hosts else "no stored hosts")
    elif as_json:
        _print_json(data)
    else:
        console.print(compare_report.compare_table(data))


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--into",
    "dest",
    required=True,
    type=click.Path(dir_okay=False),
    help="The store to fold SOURCES into (created if missing).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def merge(sources: tuple[str, ...], dest: str, as_json: bool) -> None:
    """Fold result stores into one, without duplicates.

    Hosts are matched on their fingerprint, results on (host, code key, time, raw repeats),
    so merging the same store twice adds nothing. A sweep whose id is already stored is kept.
    One transaction per source.
    """
    from smclab.suites.compare import merge as merge_stores
    from smclab.suites.compare import merge_lines

    data = merge_stores(dest, list(sources))
    if as_json:
        _print_json(data)
    else:
        for line in merge_lines(data):
            click.echo(line)


@cli.command()
@click.option("--db", type=click.Path(dir_okay=False), default=None, help="SQLite store.")
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
    help="PNG file (default: <sweep id>.png).",
)
@click.option("--logx", is_flag=True, help="Logarithmic x axis.")
def plot(
    db: str | None,
    sweep_id: str,
    x: str,
    y: str,
    lines: str | None,
    out: str | None,
    logx: bool,
) -> None:
    """Plot a stored sweep: ns (or ticks) per iteration against a knob, as a PNG.

    Error bars span the IQR. Other knobs that vary in the sweep split the lines further.
    """
    from smclab.report import plot as pl
    from smclab.store import open_store

    xk = pl.knob(x, "--x")
    lk = pl.knob(lines, "--lines") if lines else None
    with open_store(db, create=False) as store:
        rows = list(store.results(sweep_id=sweep_id))
        if not rows and store.sweep(sweep_id) is None:
            raise SpecError(f"no sweep '{sweep_id}' in {store.location}")
    hosts = {r.host.get("model_name") for r in rows}
    title = f"sweep {sweep_id}" + (f" on {hosts.pop()}" if len(hosts) == 1 else "")
    try:
        fig = pl.sweep_figure(rows, xk, "ticks" if y == "ticks" else "ns", lk, logx, title)
    except SpecError as e:
        raise SpecError(f"sweep '{sweep_id}': {e}") from None
    path = out or f"{sweep_id}.png"
    pl.write_png(fig, path)
    click.echo(path)


def main(argv: list[str] | None = None) -> None:
    try:
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
    except StoreWriteError as e:
        click.echo(f"smclab: error: {e}", err=True)
        sys.exit(1)
    except (SpecError, StoreError, counters.UnknownEvent) as e:
        click.echo(f"smclab: error: {e}", err=True)
        sys.exit(2)
    except MeasurementError as e:
        click.echo(f"smclab: measurement failed: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("smclab: interrupted (stored results are kept)", err=True)
        sys.exit(130)
