"""Cross-modifying: a writer thread on another CPU stores into (or near) the executed line at
several rates, against the same-thread penalty.

The executing loop stores nothing and calls a fixed slot. The writer stores one byte into that
slot's line (or two lines away, the control) once every P TSC ticks (P = 0: as fast as it can).
At a known rate the writer makes T/P stores per iteration of T ticks, so the executing side's
cost *per writer store* is (T_line - T_near) / (T_line / P), stated only when the rates show a
consistent trend (the rates that cost are the fastest ones; a slower writer never costs where a
faster one does not). The same-thread penalty per store is the seed loop (4K, step 0) minus the
same copy into data.
"""

from __future__ import annotations

from smclab.model.stats import confidence, no_difference
from smclab.run import machine

from . import base
from .base import Finding, Host, Measured, PlanPoint, Point, ProbeSpec, labelled, pp
from .plot import Bars

ORDER = 70
PERIODS = (0, 300, 1000, 3000, 10000, 100000)
QUICK_PERIODS = (0, 1000, 10000)


def _name(period: int) -> str:
    return "max rate" if not period else f"every {period}"


def points(quick: bool) -> list[PlanPoint]:
    out = [
        pp("no writer", None, "none", store="none"),
        pp("same-thread seed 4K/0", None, "same-thread"),
        pp("same-thread far-store", None, "same-thread", store="far"),
    ]
    for p in QUICK_PERIODS if quick else PERIODS:
        out += [
            pp(f"exec line {_name(p)}", p, "line", store="none", cross="line", cross_period=p),
            pp(f"near line {_name(p)}", p, "near", store="none", cross="near", cross_period=p),
        ]
    return out


#: the fewest settled paced rates a trend (and a cost per writer store) is read from
MIN_TREND_RATES = 2


def needs(cpus: int) -> str | None:
    """Why the probe cannot run with ``cpus`` usable CPUs (None: it can)."""
    return None if cpus >= 2 else machine.second_cpu_missing() or "needs a second CPU"


def _rates(pts: dict[str, Measured]) -> list[tuple[int, Measured, Measured]]:
    out = []
    for label, line in pts.items():
        if label.startswith("exec line "):
            near = pts.get("near line " + label.removeprefix("exec line "))
            if near is not None:
                out.append((line.experiment.cross_period, line, near))
    return sorted(out, key=lambda r: (r[0] == 0, r[0]))


def findings(points: list[Point], host: Host) -> list[Finding]:
    pts = labelled(points)
    rates = _rates(pts)
    if not rates:
        return []
    seed, far = pts.get("same-thread seed 4K/0"), pts.get("same-thread far-store")
    same = seed.ticks.median - far.ticks.median if seed and far else None
    said = {period: base.verdict(line.ticks, near.ticks) for period, line, near in rates}
    hurt = {period: v == "more" for period, v in said.items()}
    costly = [(line, near) for period, line, near in rates if hurt[period]]
    # slowest rate last; a rate the rounds do not settle takes no part in the trend
    paced = [period for period, _, _ in rates if period and said[period] != "unsettled"]
    # a rate finding needs a consistent trend: the rates that cost are the fastest ones (a
    # slower writer never costs where a faster one does not), over two settled rates at least
    n_paced = sum(1 for period, _, _ in rates if period)
    enough = len(paced) >= MIN_TREND_RATES or not n_paced  # (no paced rate: nothing to say)
    trend = enough and all(hurt[a] or not hurt[b] for a, b in zip(paced, paced[1:], strict=False))
    per_store: dict[int, float] = {}
    cells = []
    for period, line, near in rates:
        extra = line.ticks.median - near.ticks.median
        vs = f"{line.ticks.median:.0f} vs {near.ticks.median:.0f}"
        if said[period] == "unsettled":
            at = f"one store per {period} ticks" if period else "as fast as it can"
            cells.append(f"{at}: not settled by the rounds ({vs})")
        elif not period:
            what = f"+{extra:.0f} ticks/iter" if hurt[period] else "nothing measurable"
            cells.append(f"as fast as it can: {what} ({vs})")
        elif hurt[period] and trend:
            per_store[period] = extra / (line.ticks.median / period)
            cells.append(
                f"one store per {period} ticks: {vs} ticks/iter two lines away,"
                f" ≈{per_store[period]:.0f} ticks per writer store"
            )
        elif hurt[period]:
            cells.append(f"one store per {period} ticks: +{extra:.0f} ticks/iter ({vs})")
        else:
            cells.append(f"one store per {period} ticks: nothing measurable ({vs})")
    nums: dict[str, object] = {
        "per_writer_store": per_store,
        "same_thread_penalty": same,
        "ticks": {p: (ln.ticks.median, nr.ticks.median) for p, ln, nr in rates},
        "consistent_trend": trend,
    }
    lead = "A writer thread on another CPU storing into the executed line"
    if not n_paced:
        verdict = None
    elif not enough:
        verdict = (
            f"the rounds settle {len(paced)} of the {n_paced} paced rates: too few to show a"
            " trend, so no cost per writer store can be told from these data"
        )
    elif not trend:
        costs = [str(p) for p in paced if hurt[p]]
        free = [str(p) for p in paced if not hurt[p]]
        verdict = (
            f"the rates show no consistent trend (a cost at one store per {', '.join(costs)}"
            f" ticks but none at {', '.join(free)}): no cost per writer store can be told from"
            " these data"
        )
    elif per_store:
        verdict = (
            f"costs the executing thread up to ≈{max(per_store.values()):.0f} ticks per writer"
            " store, at the fastest rates only"
        )
    else:
        verdict = "costs nothing measurable at any paced rate"
    evidence = "; ".join(cells)
    if verdict is None:
        text = f"{lead} (against the same writer two lines away): {evidence}."
    else:
        text = f"{lead}: {verdict} ({evidence}; against the same writer two lines away)."
    if same is not None and per_store and same > 0:
        worst = max(per_store.values())
        nums["ratio_to_same_thread"] = worst / same
        text += (
            f" A store by the executing thread itself into the line it then runs costs"
            f" {same:.0f} ticks (seed loop vs the same copy into data): a writer store costs"
            f" the executing thread {worst / same:.2g}x that."
        )
    conf = (
        confidence(*((a.ticks, b.ticks) for a, b in costly))
        if costly
        else no_difference(*(x.ticks for _, ln, nr in rates for x in (ln, nr)))
    )
    why = base.unsettled((_name(p), ln.ticks, nr.ticks) for p, ln, nr in rates)
    return [Finding("cross-modifying", text, conf, nums, unstable=why)]


def facts(found: list[Finding], points: list[Point], host: Host) -> list[base.Fact]:
    """The executing thread's cost per writer store (the largest over the rates that show
    one; else a string: no trend across the rates, or none measurable), and its ratio to the
    same-thread penalty."""
    out: list[base.Fact] = []
    ev = base.labels(points)
    for f in found:
        per = f.numbers.get("per_writer_store")
        if per is None:
            continue
        trend = f.numbers.get("consistent_trend", True)
        value = max(per.values()) if per else "none measurable" if trend else "no trend"
        out.append(base.Fact("writer_store_ticks", value, "ticks", f.confidence, f.probe, ev))
        out += base.from_numbers(f, {"writer_vs_same_thread": ("ratio_to_same_thread", "x")}, ev)
    return out


PROBE = ProbeSpec(
    "cross-modifying",
    "Cross-modifying: a writer thread on another CPU at several rates",
    points,
    findings,
    Bars(ref="no writer"),
    needs=needs,
    facts=facts,
)
