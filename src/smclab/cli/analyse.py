"""The commands that explain and advise: diagnose, advise."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click

from smclab.cli.options import rounds_options, session_options
from smclab.cli.ui import console, observed, print_json, session, status
from smclab.errors import SpecError
from smclab.model.experiment import WORKLOADS
from smclab.report import check_writable
from smclab.report.atlas import placement_text
from smclab.report.c_file import write_c
from smclab.report.findings import advice, diagnosis
from smclab.report.plot import pyplot
from smclab.store import is_url, open_store
from smclab.suites.advise import DEFAULT_BUDGET, QUICK_BUDGET, run_advise
from smclab.suites.atlas import place, reference
from smclab.suites.diagnose import PROBES, facts_of, run_diagnose
from smclab.suites.diagnose.consistency import check
from smclab.suites.diagnose.runner import recorded as recorded_run
from smclab.suites.seed import run_seed
from smclab.suites.workarounds import SETS


@click.command()
@click.option("--quick", is_flag=True, help="Trimmed grids, 5 short interleaved rounds.")
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
@click.option(
    "--workload",
    "workloads",
    multiple=True,
    type=click.Choice([*SETS, "all"]),
    help="Also measure this workload's workarounds (advise --quick) and check the findings"
    " against its best; with --html, a section of them (repeatable; 'all': every workload;"
    " with --html alone: seed).",
)
@click.option(
    "--recorded",
    "run_id",
    default=None,
    metavar="RUN",
    help="Measure nothing: recompute the findings of the stored diagnose run RUN of --db"
    " ('last': the newest) with today's probes.",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0.1, max=3600),
    default=None,
    help="Seconds for the stale-code probe's rounds (default: 20; 4 with --quick).",
)
@rounds_options
@click.option(
    "--record",
    type=click.Path(dir_okay=False),
    default=None,
    help="Add this host to the atlas: diagnose, then the seed table and advise, into this new"
    " SQLite store (refused if it exists), ready to share (smclab atlas --db FILE).",
)
@session_options
def diagnose(
    quick: bool,
    rounds: int | None,
    only: tuple[str, ...],
    budget: float | None,
    html_file: str | None,
    workloads: tuple[str, ...],
    run_id: str | None,
    record: str | None,
    as_json: bool,
    db: str | None,
    cpu: int | None,
    timeout: float,
) -> None:
    """Run the probes and state what causes the penalty on this host, with the evidence;
    then place the host among the known ones (`smclab atlas`)."""
    for f in (html_file, record):
        if f:
            check_writable(f)
    if html_file:
        pyplot("--html")  # before measuring: the plot extra may be missing
    if run_id is not None:
        if quick or workloads or rounds is not None or record is not None:
            raise SpecError(
                "--recorded reads a stored run: it takes no --quick, --rounds, --workload or"
                " --record"
            )
        with open_store(db, create=False) as store:
            d = recorded_run(store, None if run_id == "last" else run_id, only)
        if html_file:
            from smclab.report.html import write_report

            write_report(html_file, d, [])
        print_json(d.to_dict()) if as_json else console.print(diagnosis(d))
        return
    if record is not None:
        if db is not None:
            raise SpecError("--record writes a new store of its own: give no --db with it")
        if is_url(record) or Path(record).exists():
            raise SpecError(f"{record} exists or is not a file: --record makes a fresh store")
        db = record
    with session(db, cpu, timeout) as s:
        d = observed(lambda obs: run_diagnose(s, quick, only, obs, budget=budget, rounds=rounds))
        recorded = None
        if record is not None:
            with status("the seed table") as update:
                run_seed(s, progress=lambda done, n: update(f"the seed table: {done}/{n}"))
            recorded = observed(partial(run_advise, s, "seed", quick, rounds=rounds))
        chosen = list(SETS) if "all" in workloads else list(dict.fromkeys(workloads or ["seed"]))
        advised = [
            recorded
            if w == "seed" and recorded
            else observed(partial(run_advise, s, w, True, rounds=rounds))
            for w in (chosen if html_file or workloads else [])
        ]
        # the findings' write-ahead distance against advise's confirmed best
        measured_advice = advised or ([recorded] if recorded else [])
        if measured_advice:
            d.checks = check(d, measured_advice)
    facts = facts_of(d.probes, d.findings, d.host)
    placed = place(facts, reference())
    if html_file:
        # imported here, not at the top: it loads matplotlib, which every other command
        # would pay for at start-up
        from smclab.report.html import write_report

        write_report(html_file, d, advised)
    if as_json:
        print_json(
            {
                **d.to_dict(),
                "facts": {f.name: f.to_dict() for f in facts},
                "placement": placed.to_dict() if placed else None,
                "recorded": record,
            }
        )
    else:
        console.print(diagnosis(d))
        console.print(f"\n{placement_text(placed, facts, d.host)}", highlight=False)
        if html_file:
            console.print(f"HTML report: {html_file}")
        if record is not None:
            console.print(
                f"Recorded into {record}: share it, see it with `smclab atlas --db {record}`,"
                " pool it with `smclab merge --into LAB_STORE`.",
                highlight=False,
            )


@click.command()
@click.option(
    "--workload",
    type=click.Choice(list(WORKLOADS)),
    default="seed",
    show_default=True,
    help="Rank workarounds for this workload.",
)
@click.option(
    "--quick",
    is_flag=True,
    help=f"A short search (--budget {QUICK_BUDGET:g}).",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=1.0),
    default=None,
    help=f"Seconds the search may take, confirmation included [default: {DEFAULT_BUDGET:g}].",
)
@click.option(
    "--emit-c",
    "c_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the winner as one self-contained C file (gcc -O2 FILE; prints ticks"
    " per call).",
)
@rounds_options
@session_options
def advise(
    workload: str,
    quick: bool,
    rounds: int | None,
    budget: float | None,
    c_file: str | None,
    as_json: bool,
    db: str | None,
    cpu: int | None,
    timeout: float,
) -> None:
    """Search this host's fastest way for the workload (its space of knobs, within a budget),
    then confirm the leaders against the naive loop, the floor and their own controls in
    interleaved rounds. --json includes the search trace."""
    if c_file:
        check_writable(c_file)
    with session(db, cpu, timeout) as s:
        a = observed(lambda obs: run_advise(s, workload, quick, obs, rounds, budget))
    if c_file:
        write_c(c_file, a)
    if as_json:
        print_json(a.to_dict())
    else:
        console.print(advice(a))
