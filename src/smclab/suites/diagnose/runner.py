"""Running the probes: plan each, run it as a stored sweep, compute the findings."""

from __future__ import annotations

import time
from typing import Any

from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.model.result import Stats, StoredResult
from smclab.run import machine
from smclab.store.base import ResultStore
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
from smclab.suites.diagnose.consistency import check
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
    d = Diagnosis(host, run_id, quick, results, findings, time.monotonic() - started, n)
    d.checks = check(d)
    return d


# --- a stored run, its findings recomputed ------------------------------------------------


def runs(store: ResultStore) -> list[str]:
    """The ids of the diagnose runs in ``store``, oldest first."""
    out: list[str] = []
    for w in store.sweeps():
        parts = w.id.split("-", 2)
        if len(parts) == 3 and parts[0] == "diagnose" and parts[1] not in out:
            out.append(parts[1])
    return out


def _stats(s: Stats | None, rounds: list[float], series: str) -> Stats | None:
    """A stored Stats with its rounds back (one interleaved run: one series)."""
    if s is None:
        return None
    return Stats(s.median, s.min, s.spread, tuple(rounds), series if rounds else None)


def _point(plan: PlanPoint, r: StoredResult, series: str) -> Point:
    assert r.experiment is not None
    rounds = r.round_values()
    counts = {k: v.per_iter for k, v in r.counters.items()}
    notes = {k: v.note for k, v in r.counters.items() if v.note}
    ticks, ns = _stats(r.ticks, rounds, series), _stats(r.ns, rounds, series)
    return Point(plan, r.experiment, ticks, ns, counts, r.error, notes)


def recorded(
    store: ResultStore, run_id: str | None = None, only: tuple[str, ...] = ()
) -> Diagnosis:
    """The diagnose run ``run_id`` (default: the last) of a store, its findings recomputed by
    today's probes: each stored result is matched to the points today's probes plan on the
    recorded host (quick and full grids, by the experiment's knobs), so a run recorded by an
    older smclab whose probes were cut differently gives today's findings where its points
    allow. Every sweep of a run was measured in interleaved rounds: a sweep is a series, and a
    probe's points come from one sweep (its own, else the one holding most of its points).
    ``only``: these probes only."""
    ids = runs(store)
    if not ids:
        raise SpecError(f"{store.location} holds no diagnose run")
    run = run_id or ids[-1]
    if run not in ids:
        raise SpecError(f"no diagnose run {run} in {store.location} (runs: {', '.join(ids)})")
    stored = [
        (w.id, r)
        for w in store.sweeps()
        if w.id.startswith(f"diagnose-{run}-")
        for r in store.results(sweep_id=w.id)
        if r.experiment is not None
    ]
    host: Host = stored[-1][1].host if stored else {}
    quick = all(r.experiment and r.experiment.min_ms == settings(True)["min_ms"] for _, r in stored)
    results: list[ProbeResult] = []
    for name, spec in PROBES.items():
        if only and name not in only:
            continue
        by_knobs: dict[str, list[PlanPoint]] = {}
        for q in (quick, not quick):  # the run's own grid first
            for pp in spec.planned(host, q):
                try:
                    key = Experiment(**pp.knobs).knob_key()
                except (SpecError, TypeError):
                    continue  # a point that is no seed experiment (read from rows it cannot)
                plans = by_knobs.setdefault(key, [])
                if pp.label not in {x.label for x in plans}:
                    plans.append(pp)

        def matches(sweep_id: str, by_knobs: dict[str, list[PlanPoint]] = by_knobs) -> int:
            return sum(
                bool(by_knobs.get(r.experiment.knob_key()))
                for w, r in stored
                if w == sweep_id and r.experiment
            )

        # one sweep per probe (its own, else the one holding most of its points): points of
        # different sweeps were measured apart, and a comparison pairs rounds only within one
        order = sorted(
            {w for w, _ in stored}, key=lambda w: (not w.endswith(f"-{name}"), -matches(w))
        )
        points: dict[str, Point] = {}
        for w, r in stored:
            if order and w == order[0] and r.experiment is not None:
                for pp in by_knobs.get(r.experiment.knob_key(), []):
                    points.setdefault(pp.label, _point(pp, r, w))
        if points:
            pts = list(points.values())
            probe = Probe(name, spec.title, tuple(p.plan for p in pts))
            results.append(ProbeResult(probe, pts, f"diagnose-{run}-{name}"))
    findings = find(results, host)
    # a probe newer than the run, whose few matching points (controls another probe measured)
    # support no finding, was not measured by it: say so rather than "no finding"
    swept, found_by = {w for w, _ in stored}, {f.probe for f in findings}
    for i, res in enumerate(results):
        name = res.probe.name
        if f"diagnose-{run}-{name}" not in swept and name not in found_by:
            why = "not measured in this run (only points of other probes' sweeps match it)"
            results[i] = ProbeResult(res.probe, [], None, why)
    times = [r.created for _, r in stored]
    n = max((len(r.round_values()) for _, r in stored), default=0)
    d = Diagnosis(host, run, quick, results, findings, max(times) - min(times) if times else 0.0, n)
    d.checks = check(d)
    return d
