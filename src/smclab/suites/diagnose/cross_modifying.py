"""Cross-modifying: a writer thread on another CPU stores into (or near) the executed line at
several rates, against the same-thread penalty.

The executing loop stores nothing and calls a fixed slot. The writer stores one byte into that
slot's line (or two lines away, the control) once every P TSC ticks (P = 0: as fast as it can).
At a known rate the writer makes T/P stores per iteration of T ticks, so the executing side's
cost *per writer store* is (T_line - T_near) / (T_line / P). The same-thread penalty per store
is the seed loop (4K, step 0) minus the same copy into data.
"""

from __future__ import annotations

from smclab.model.stats import confidence, differs, no_difference
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
    per_store: dict[int, float] = {}
    cells, costly = [], []
    for period, line, near in rates:
        extra = line.ticks.median - near.ticks.median
        hurts = differs(line.ticks, near.ticks) and extra > 0
        if hurts:
            costly.append((line, near))
        if period and hurts:
            stores = line.ticks.median / period
            per_store[period] = extra / stores
            cells.append(
                f"one store per {period} ticks: {line.ticks.median:.0f} vs {near.ticks.median:.0f}"
                f" ticks/iter two lines away, ≈{per_store[period]:.0f} ticks per writer store"
            )
        elif period:
            cells.append(
                f"one store per {period} ticks: nothing measurable ({line.ticks.median:.0f} vs"
                f" {near.ticks.median:.0f})"
            )
        else:
            what = f"+{extra:.0f} ticks/iter" if hurts else "nothing measurable"
            cells.append(
                f"as fast as it can: {what} ({line.ticks.median:.0f} vs {near.ticks.median:.0f})"
            )
    nums: dict[str, object] = {
        "per_writer_store": per_store,
        "same_thread_penalty": same,
        "ticks": {p: (ln.ticks.median, nr.ticks.median) for p, ln, nr in rates},
    }
    text = (
        "A writer thread on another CPU storing into the executed line: " + "; ".join(cells) + "."
    )
    if same is not None and per_store:
        worst = max(per_store.values())
        nums["ratio_to_same_thread"] = worst / same if same > 0 else None
        text += (
            f" A store by the executing thread itself into the line it then runs costs"
            f" {same:.0f} ticks (seed loop vs the same copy into data): a writer store costs"
            f" the executing thread {worst / same:.2g}x that."
            if same > 0
            else ""
        )
    conf = (
        confidence(*((a.ticks, b.ticks) for a, b in costly))
        if costly
        else no_difference(*(x.ticks for _, ln, nr in rates for x in (ln, nr)))
    )
    return [Finding("cross-modifying", text, conf, nums)]


def facts(found: list[Finding], points: list[Point], host: Host) -> list[base.Fact]:
    """The executing thread's cost per writer store (the largest over the rates that show
    one; none measurable: a string), and its ratio to the same-thread penalty."""
    out: list[base.Fact] = []
    ev = base.labels(points)
    for f in found:
        per = f.numbers.get("per_writer_store")
        if per is None:
            continue
        value = max(per.values()) if per else "none measurable"
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
