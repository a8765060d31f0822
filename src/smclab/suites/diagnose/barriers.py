"""Barriers net of their own cost: each barrier with the copy into the executed line and into
data (4K, step 0).

A barrier that makes the loop faster may do so by costing something else instead (a CPUID that
traps to the hypervisor takes microseconds, and the clear it replaces no longer shows). So each
barrier runs twice: storing into the executed line and storing into data (far-store). Its own
cost is (far-store with it) - (far-store without it); the loop *net of that cost* is compared
with the loop without any barrier. "Helps" then means the barrier reduces the SMC penalty.
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
    helps = [r for r in rows if differs(r[1], none_.ticks) and r[1].median < none_.ticks.median]
    hurts = [r for r in rows if differs(r[1], none_.ticks) and r[1].median > none_.ticks.median]
    same = [r for r in rows if r not in helps and r not in hurts]
    nums: dict[str, object] = {
        "none_ticks": none_.ticks.median,
        "penalty_ticks": penalty,
        "net_penalty": {lbl: s.median - none_far.ticks.median for lbl, s, _ in every},
        "own_cost": {lbl: own for lbl, _, own in every},
    }
    gross = [
        lbl
        for lbl, _, _ in rows
        if pts[lbl].ticks.median < none_.ticks.median and differs(pts[lbl].ticks, none_.ticks)
    ]
    if helps:
        best = min(helps, key=lambda r: r[1].median)
        text = (
            f"{len(helps)} barrier placement(s) reduce the SMC penalty itself, net of their own"
            f" cost (measured on the same loop storing into data); the best, {best[0]}, leaves"
            f" a penalty of {best[1].median - none_far.ticks.median:.0f} ticks/iter against"
            f" {penalty:.0f} without a barrier (its own cost: {best[2]:.0f})."
        )
        conf = confidence((best[1], none_.ticks))
    else:
        text = (
            f"No barrier reduces the SMC penalty ({penalty:.0f} ticks/iter) once its own cost"
            f" is taken out (measured on the same loop storing into data): of {len(rows)}"
            f" placements, {len(same)} leave it unchanged and {len(hurts)} make it larger."
        )
        conf = no_difference(none_.ticks, *(s for _, s, _ in rows))
        if conf == "medium" and len(rows) >= 3:
            conf = "high"
    if swamped:
        text += (
            f" {', '.join(r[0] for r in swamped)} cost(s) more than {SWAMPED:.0f}x the penalty"
            " by themselves (on the loop storing into data): whether they change the penalty"
            " cannot be told from these data."
        )
        nums["swamped"] = sorted(unjudged)
    # a help in total: the loop is faster with it, and net of its own cost the penalty smaller
    nums["helps_in_total"] = [h[0] for h in helps if h[0] in gross]
    misleading = [g for g in gross if g not in {h[0] for h in helps}]
    if misleading:
        text += (
            f" {', '.join(misleading)} run faster than the loop without a barrier only by"
            " costing something else: net of their own cost they do not reduce the penalty."
        )
        nums["faster_but_not_net"] = misleading
    return [Finding("barriers", text, conf, nums)]


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
