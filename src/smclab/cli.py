"""Command line: a thin layer over the Python API.

Exit codes: 0 ok, 1 measurement error, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from . import __version__, codegen, counters, machine, report
from .spec import Experiment, SpecError, field_default, field_meta, parse_value
from .store import StoreError

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
}


class MeasurementFailed(Exception):
    """A measurement did not produce a result (exit 1)."""


def _events(text: str) -> tuple[str, ...]:
    return parse_value("events", text)


def spec_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Every Experiment field as an option (from its metadata); the command gets ``exp``."""
    names = [f.name for f in dataclasses.fields(Experiment)]

    @functools.wraps(fn)
    def wrapper(**kw: Any) -> Any:
        values = {n: kw.pop(n) for n in names}
        given = {n: parse_value(n, v) for n, v in values.items() if v is not None}
        return fn(exp=Experiment(**given), **kw)

    for name in reversed(names):
        meta = field_meta(name)
        default = field_default(name)
        shown = ",".join(default) if isinstance(default, tuple) else default
        text = meta["help"]
        if meta["choices"]:
            text += f" One of: {', '.join(meta['choices'])}."
        if shown is not None:
            text += f" [default: {shown}]"
        opt = "--" + name.replace("_", "-")
        wrapper = click.option(
            opt, name, default=None, hidden=meta.get("hidden", False), help=text
        )(wrapper)
    return wrapper


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
        type=float,
        default=120.0,
        show_default=True,
        help="Seconds before a hung experiment is killed.",
    )(fn)
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(fn)


def _session(db: str | None, cpu: int | None, timeout: float) -> Any:
    from .suites import Session

    if cpu is not None and cpu not in machine.allowed_cpus():
        raise SpecError(f"cpu {cpu} is not available (allowed: {sorted(machine.allowed_cpus())})")
    return Session(db, cpu, timeout)


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
    from .worker import Runner

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
        console.print(report.result_table([(exp.label(), result)]))
    if result.error:
        raise MeasurementFailed(result.error)


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
    from .suites.seed import run_seed

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
        raise MeasurementFailed(f"rows failed: {', '.join(failed)}")


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="smclab", standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("smclab: interrupted")
        sys.exit(130)
    except click.exceptions.UsageError as e:
        click.echo(f"smclab: error: {e.format_message()}", err=True)
        sys.exit(2)
    except click.exceptions.ClickException as e:
        click.echo(f"smclab: error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except (SpecError, StoreError, counters.UnknownEvent) as e:
        click.echo(f"smclab: error: {e}", err=True)
        sys.exit(2)
    except MeasurementFailed as e:
        click.echo(f"smclab: measurement failed: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("smclab: interrupted (stored results are kept)", err=True)
        sys.exit(130)
