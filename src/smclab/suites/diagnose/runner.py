"""Running the probes: plan each, run it as a stored sweep, compute the findings."""

from __future__ import annotations

import time
from typing import Any

from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.run import machine
from smclab.suites.diagnose.base import (
    Diagnosis,
    Fact,
    Finding,
    Host,
    PlanPoint,
    Point,
    Probe,
    ProbeResult,
)
from smclab.suites.diagnose.registry import PROBES
from smclab.suites.session import Session, run_settings
from smclab.suites.sweep import Grid, Observer, Plan, run_sweep


def probes(quick: bool, cpus: int) -> list[Probe]:
    """The fixed probe set (``quick`` trims the grids, not the questions)."""
    return [spec.plan(quick, cpus) for spec in PROBES.values()]


def experiments_of(probe: Probe, settings: dict[str, Any]) -> list[tuple[PlanPoint, Experiment]]:
    """The probe's experiments (an invalid point is a bug in the probe table: it raises)."""
    return [(p, Experiment(**p.knobs, **settings)) for p in probe.points]


def settings(quick: bool, rounds: int | None = None) -> dict[str, Any]:
    return {**run_settings(quick, rounds), "events": ("smc-clears", "branch-misses")}


def find(probe_results: list[ProbeResult], host: Host) -> list[Finding]:
    """Every finding the measured points support, probe by probe."""
    out: list[Finding] = []
    for pr in probe_results:
        spec = PROBES[pr.probe.name]
        if spec.rows is not None and pr.rows:
            out += spec.rows.findings(pr.rows, host)
        elif pr.points:
            out += spec.findings(pr.points, host)
    return out


def facts_of(probe_results: list[ProbeResult], found: list[Finding], host: Host) -> list[Fact]:
    """The typed facts the findings ``found`` state, probe by probe (each probe reads its own
    findings' numbers: a fact is never computed apart from the finding that prints it)."""
    out: list[Fact] = []
    for pr in probe_results:
        if pr.points or pr.rows:
            mine = [f for f in found if f.probe == pr.probe.name]
            out += PROBES[pr.probe.name].facts(mine, pr.points, host)
    return out


def run_probe(
    session: Session,
    probe: Probe,
    quick: bool,
    run_id: str,
    observer: Observer | None,
    rounds: int | None = None,
) -> tuple[ProbeResult, bool]:
    """Run one probe as the sweep ``diagnose-<run>-<probe>``; (its result, interrupted)."""
    planned = []
    for pp, exp in experiments_of(probe, settings(quick, rounds)):
        try:
            session.check(exp)
        except SpecError:
            continue  # a point this CPU cannot run (e.g. serialize) is left out
        planned.append((pp, exp))
    sweep_id = f"diagnose-{run_id}-{probe.name}"
    axes: dict[str, tuple[Any, ...]] = {}
    for pp, _ in planned:
        for k, v in pp.knobs.items():
            axes[k] = (*axes.get(k, ()), v)
    # one experiment per distinct code (±4K is both a distance and an aliased point)
    unique = list({e.code_key(): e for _, e in planned}.values())
    plan = Plan(
        Grid(axes, sweep_id),
        sweep_id,
        unique,
        {},
        len(unique),
        suite="diagnose",
        interleave=True,
        labels={e.code_key(): f"{probe.name}: {pp.label}" for pp, e in planned},
    )
    run = run_sweep(session, plan, observer)
    by_key = {r.experiment.code_key(): r for r in run.results}
    points = [Point.of(pp, by_key[e.code_key()]) for pp, e in planned if e.code_key() in by_key]
    return ProbeResult(probe, points, sweep_id), bool(run.interrupted)


def run_diagnose(
    session: Session,
    quick: bool = False,
    only: tuple[str, ...] = (),
    observer: Observer | None = None,
    budget: float | None = None,
    rounds: int | None = None,
) -> Diagnosis:
    """Run the probes (each stored as a sweep ``diagnose-<run>-<probe>``) and find.
    ``budget``: seconds for a probe that runs against a time limit (stale-code); ``rounds``
    interleaved rounds per probe (default: 5 quick, 7 full)."""
    started = time.monotonic()
    run_id = time.strftime("%Y%m%dT%H%M%S")
    host = session.host
    results: list[ProbeResult] = []
    for probe in probes(quick, len(machine.usable_cpus())):
        if only and probe.name not in only:
            continue
        if probe.needs:
            results.append(ProbeResult(probe, [], None, probe.needs))
            continue
        rows = PROBES[probe.name].rows
        if rows is not None:
            sweep_id = f"diagnose-{run_id}-{probe.name}"
            got, interrupted = rows.measure(
                session, quick, budget, sweep_id, observer or Observer()
            )
            why = [r.get("unavailable") for r in got]  # no row ran: skipped, the main reason
            skipped = max(why, key=why.count) if got and all(why) else None
            result = ProbeResult(probe, [], sweep_id, skipped, rows=got)
        else:
            result, interrupted = run_probe(session, probe, quick, run_id, observer, rounds)
        results.append(result)
        if interrupted:
            break
    findings = find(results, host)
    n = settings(quick, rounds)["repeats"]
    return Diagnosis(host, run_id, quick, results, findings, time.monotonic() - started, n)
