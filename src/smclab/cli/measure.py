"""Commands about one experiment and this host: host, show, run, seed, catalog."""

from __future__ import annotations

from typing import Any

import click

from smclab import codegen, report
from smclab.cli.options import (
    cpu_option,
    json_option,
    session_options,
    settings_options,
    spec_options,
)
from smclab.cli.ui import console, print_json, session, status
from smclab.model.experiment import WORKLOADS, Experiment
from smclab.model.result import MeasurementError
from smclab.run import machine
from smclab.suites import catalog as cat
from smclab.suites.host import host_report, quiet_checks
from smclab.suites.seed import run_seed


@click.command()
@json_option()
@click.option(
    "--check",
    is_flag=True,
    help="Say what would make this machine quieter for measuring (samples the CPUs for 1 s).",
)
@cpu_option("The CPU measurements run on (default: last).")
def host(as_json: bool, check: bool, cpu: int | None) -> None:
    """Host facts (CPU, microcode, kernel, hypervisor, TSC, caches) and which counters work."""
    if check:
        found = quiet_checks(cpu)
        if as_json:
            print_json({"checks": [c.to_dict() for c in found]})
        else:
            console.print(report.checks_table(found))
        return
    facts = host_report()
    if as_json:
        print_json(facts.to_dict())
    else:
        console.print(report.host_table(facts.facts, facts.counters))


@click.command()
@spec_options
@json_option("Print JSON: the layout and every instruction (address, bytes, text).")
def show(exp: Experiment, as_json: bool) -> None:
    """Print the disassembly of exactly what `run` would execute (nominal addresses)."""
    program = codegen.build(exp)
    lay = program.layout
    if as_json:
        print_json(program.to_dict())
        return
    click.echo(
        f"; {exp.label()}: code at {lay.code:#x}, exec buffer at {lay.exec_buf:#x}"
        f" ({lay.exec_size} bytes), far buffer at {lay.far_buf:#x}"
    )
    click.echo("; addresses are nominal: the worker lays the same code out at its own mapping")
    if program.ring is not None:
        click.echo(f"; the loop: {program.ring.summary()}")
    click.echo(report.collapse_runs(program.listing_text()))


@click.command()
@spec_options
@session_options
def run(exp: Experiment, as_json: bool, db: str | None, cpu: int | None, timeout: float) -> None:
    """Run one experiment, store it and print its result."""
    with session(db, cpu, timeout) as s:
        s.check(exp)
        result = s.run(exp, "run")
    if as_json:
        print_json(result.to_dict())
    else:
        console.print(report.result_table(exp.label(), result))
    if result.error:
        raise MeasurementError(result.error)


@click.command()
@settings_options("iterations", "repeats", "events")
@session_options
def seed(
    settings: dict[str, Any],
    as_json: bool,
    db: str | None,
    cpu: int | None,
    timeout: float,
) -> None:
    """Reproduce the seed's table on this host, beside the published Kaby Lake numbers.

    --repeats: interleaved rounds (each runs every row once, in a fresh random order)."""
    iterations, repeats = settings.get("iterations"), settings.get("repeats", 5)
    evs = settings.get("events")
    with session(db, cpu, timeout) as s:
        if as_json:
            table = run_seed(s, iterations, repeats, evs)
        else:
            with status("measuring") as update:
                table = run_seed(
                    s,
                    iterations,
                    repeats,
                    evs,
                    progress=lambda done, total: update(
                        f"measuring in interleaved rounds: {done}/{total}"
                    ),
                )
    if as_json:
        print_json(table.to_dict())
    else:
        console.print(report.seed_table(table))
    failed = [row.name for row, res in table.rows if res.error]
    if failed:
        raise MeasurementError(f"rows failed: {', '.join(failed)}")


@click.command()
@click.option(
    "--workload",
    type=click.Choice(list(WORKLOADS)),
    default=None,
    help="Only this workload's variants.",
)
@json_option()
def catalog(workload: str | None, as_json: bool) -> None:
    """Every variant id: workload, what it does, CPU features, whether this host runs it."""
    flags = machine.cpu_flags()
    rows = cat.listed(workload)
    if as_json:
        print_json({"variants": [v.to_dict(flags, machine.second_cpu_missing()) for v in rows]})
    else:
        console.print(report.catalog_table(rows, flags, machine.second_cpu_missing()))
