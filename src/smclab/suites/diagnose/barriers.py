"""Barriers, in total and net of their own cost: each barrier with the copy into the executed
line and into data (4K, step 0).

The total decides: a barrier helps only when the loop with it is faster than the loop without
it (measured in the same rounds). Each barrier also runs on the loop storing into data
(far-store): its own cost is (far-store with it) - (far-store without it), and the loop *net of
that cost* against the loop without a barrier says whether the penalty itself got smaller. A
smaller net penalty in a loop that is not faster is only a detail (part of the penalty overlaps
the barrier's own drain), never read as a help.
"""

from __future__ import annotations

from smclab.model.result import Stats
from smclab.model.stats import confidence, differs, net, no_difference

from . import base
from .base import Finding, Host, Measured, PlanPoint, Point, ProbeSpec, labelled, pp
from .plot import Bars

ORDER = 40
BARRIERS = ("mfence", "lfence", "sfence", "lock-or", "cpuid", "serialize", "mfence+lfence")
PLACEMENTS = ("after-store", "before-store", "both")
QUICK_PLACEMENTS = ("after-store",)
#: CPUID costing more than this many ticks per execution is flagged as trapping on bare metal
SLOW_CPUID_TICKS = 1000
#: a barrier whose own cost exceeds the SMC penalty this many times cannot show the penalty
#: change: the difference of two large, noisy numbers is left unjudged
SWAMPED = 3.0


def points(quick: bool) -> list[PlanPoint]:
    out = [pp("none", None, "none"), pp("none far-store", None, "none", store="far")]
    placements = PLACEMENTS if not quick else QUICK_PLACEMENTS
    for b in BARRIERS:
        for p in placements:
            out += [
                pp(f"{b}@{p}", None, p, barrier=b, placement=p),
                pp(
                    f"{b}@{p} far-store",
                    None,
                    f"{p} far-store",
                    barrier=b,
                    placement=p,
                    store="far",
                ),
            ]
    return out


def _pairs(pts: dict[str, Measured]) -> list[tuple[str, Measured, Measured]]:
    """(barrier@placement, its exec point, its far-store point) for every measured pair."""
    return [
        (label, p, pts[f"{label} far-store"])
        for label, p in pts.items()
        if "@" in label and not label.endswith("far-store") and f"{label} far-store" in pts
    ]


def _net_effects(
    pts: dict[str, Measured],
) -> tuple[list[tuple[str, Stats, float]], Measured, Measured] | None:
    none_, none_far = pts.get("none"), pts.get("none far-store")
    if not (none_ and none_far):
        return None
    rows = [
        (label, net(ex.ticks, far.ticks, none_far.ticks), far.ticks.median - none_far.ticks.median)
        for label, ex, far in _pairs(pts)
    ]
    return rows, none_, none_far


def _lower(a: Stats, b: Stats) -> bool:
    """``a`` is lower than ``b`` by a difference the rounds support."""
    return a.median < b.median and differs(a, b)


def _barriers(pts: dict[str, Measured]) -> list[Finding]:
    got = _net_effects(pts)
    if got is None or not got[0]:
        return []

    rows, none_, none_far = got
    penalty = none_.ticks.median - none_far.ticks.median
    every = rows
    swamped = [r for r in rows if penalty > 0 and r[2] > SWAMPED * penalty]
    unjudged = {r[0] for r in swamped}
    rows = [r for r in rows if r[0] not in unjudged]
    # the total decides: a barrier helps only when the loop with it is faster than without
    # (only where the rounds settle it: a placement they do not settle is not said to help)
    faster = [r for r in rows if base.verdict(pts[r[0]].ticks, none_.ticks) == "less"]
    slower = [r for r in rows if _lower(none_.ticks, pts[r[0]].ticks)]
    # net of its own cost: a smaller penalty is a detail (part of it overlaps the drain)
    overlaps = [r for r in rows if _lower(r[1], none_.ticks) and r not in faster]
    hurts = [r for r in rows if _lower(none_.ticks, r[1])]
    nums: dict[str, object] = {
        "none_ticks": none_.ticks.median,
        "penalty_ticks": penalty,
        "total": {lbl: pts[lbl].ticks.median for lbl, _, _ in every},
        "net_penalty": {lbl: s.median - none_far.ticks.median for lbl, s, _ in every},
        "own_cost": {lbl: own for lbl, _, own in every},
        "faster_in_total": [r[0] for r in faster],
        "slower_in_total": [r[0] for r in slower],
    }
    control = (
        "against the same loop without a barrier, measured in the same rounds; own costs on"
        " the same loop storing into data"
    )
    if faster:
        best = min(faster, key=lambda r: pts[r[0]].ticks.median)
        total = pts[best[0]].ticks.median
        names = [r[0] for r in faster]  # in the planned order (which is cheapest is a detail)
        verb = "makes" if len(names) == 1 else "make"
        text = (
            f"{base.in_words(names)} {verb}"
            f" the loop faster in total (the cheapest, {best[0]}, costs {total:.0f} ticks/iter"
            f" against {none_.ticks.median:.0f} without a barrier; {control}): net of its own"
            f" cost ({best[2]:.0f}) it leaves a penalty of"
            f" {best[1].median - none_far.ticks.median:.0f} against {penalty:.0f}."
        )
        conf = confidence((pts[best[0]].ticks, none_.ticks))
    else:
        cheapest = min(rows, key=lambda r: pts[r[0]].ticks.median) if rows else None
        text = (
            f"No barrier makes the loop faster: of {len(rows)} placements, {len(slower)} make"
            f" it slower and {len(rows) - len(slower)} leave it unchanged"
            + (
                f" (the cheapest, {cheapest[0]}: {pts[cheapest[0]].ticks.median:.0f} against"
                f" {none_.ticks.median:.0f} ticks/iter without a barrier; {control})."
                if cheapest
                else "."
            )
        )
        conf = no_difference(none_.ticks, *(pts[r[0]].ticks for r in rows))
        if conf == "medium" and len(rows) >= 3:
            conf = "high"
        if slower and len(slower) == len(rows):
            conf = confidence(*((none_.ticks, pts[r[0]].ticks) for r in slower))
    if overlaps:
        best = min(overlaps, key=lambda r: r[1].median)
        text += (
            f" Net of their own cost, {len(overlaps)} placement(s) leave a smaller penalty"
            f" (the least: {best[0]}, {best[1].median - none_far.ticks.median:.0f} against"
            f" {penalty:.0f}, its own cost {best[2]:.0f}) without making the loop faster: part"
            " of the penalty overlaps the barrier's own drain; that is no help."
        )
        nums["smaller_penalty_not_faster"] = [r[0] for r in overlaps]
    if hurts:
        nums["larger_penalty"] = [r[0] for r in hurts]
    if swamped:
        text += (
            f" {', '.join(r[0] for r in swamped)} cost(s) more than {SWAMPED:.0f}x the penalty"
            " by themselves (on the loop storing into data): whether they change the penalty"
            " cannot be told from these data."
        )
        nums["swamped"] = sorted(unjudged)
    # the headline turns on the placements measured faster than the loop without a barrier
    maybe = [(r[0], pts[r[0]].ticks, none_.ticks) for r in rows]
    why = base.unsettled(x for x in maybe if x[1].median < x[2].median)
    # what the atlas reads: the placements that help, in total (the only sense of "help")
    nums["helps_in_total"] = nums["faster_in_total"]
    return [Finding("barriers", text, conf, nums, unstable=why)]


def _cpuid(pts: dict[str, Measured], host: Host) -> list[Finding]:
    """CPUID's own cost, from the far-store loop with and without it (one per iteration)."""
    none_far = pts.get("none far-store")
    once = [pts.get(f"cpuid@{p} far-store") for p in ("after-store", "before-store")]
    measured_once = [p for p in once if p is not None]
    if not (none_far and measured_once):
        return []
    cost = min(p.ticks.median for p in measured_once) - none_far.ticks.median
    hv = host.get("hypervisor")
    if not hv and cost <= SLOW_CPUID_TICKS:
        return []
    hz = host.get("tsc_hz")
    ns = f" ({cost / hz * 1e9:.0f} ns)" if hz else ""
    why = (
        f"it traps to the hypervisor ({hv}) on every execution"
        if hv
        else "unusually slow for bare metal"
    )
    return [
        Finding(
            "barriers",
            f"CPUID costs ≈{cost:.0f} ticks{ns} per execution here (the loop storing into data"
            f" with and without it): {why}; a cpuid barrier mostly measures that.",
            confidence((measured_once[0].ticks, none_far.ticks)) if cost > 0 else "low",
            {"cpuid_ticks": cost, "hypervisor": hv},
        )
    ]


def findings(points: list[Point], host: Host) -> list[Finding]:
    pts = labelled(points)
    return [*_barriers(pts), *_cpuid(pts, host)]


def facts(found: list[Finding], points: list[Point], host: Host) -> list[base.Fact]:
    """Which barrier placements help in total (none: an empty list), and CPUID's own cost."""
    out: list[base.Fact] = []
    for f in found:
        if "cpuid_ticks" in f.numbers:
            ev = base.labels(points, lambda s: s.startswith(("cpuid@", "none far")))
            got = base.from_numbers(f, {"cpuid_ticks": ("cpuid_ticks", "ticks")}, ev)
            out += got + base.ns_fact("cpuid_ns", got[0], host)
        else:
            out += base.from_numbers(
                f, {"barriers_helping": ("helps_in_total", "")}, base.labels(points)
            )
    return out


PROBE = ProbeSpec(
    "barriers",
    "Barriers net of their own cost: into the executed line and into data (4K, step 0)",
    points,
    findings,
    Bars(ref="none"),
    facts=facts,
)
