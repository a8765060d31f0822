"""Barriers: every barrier and placement against none (4K, step 0); a trapping CPUID."""

from __future__ import annotations

from smclab.model.stats import confidence, differs

from .base import Finding, Host, PlanPoint, Point, ProbeSpec, labelled, measured, pp
from .plot import Bars

ORDER = 40
BARRIERS = ("mfence", "lfence", "sfence", "lock-or", "cpuid", "serialize", "mfence+lfence")
PLACEMENTS = ("after-store", "before-store", "both")
QUICK_PLACEMENTS = ("after-store",)
#: a barrier/cpuid costing more than this many ticks per execution is flagged as trapping
SLOW_CPUID_TICKS = 1000


def points(quick: bool) -> list[PlanPoint]:
    out = [pp("none", None, "none")]
    placements = PLACEMENTS if not quick else QUICK_PLACEMENTS
    for b in BARRIERS:
        out += [pp(f"{b}@{p}", None, p, barrier=b, placement=p) for p in placements]
    return out


def findings(points: list[Point], host: Host) -> list[Finding]:
    none_ = labelled(points).get("none")
    if not none_:
        return []
    others = [p for p in measured(points) if p is not none_]
    same = [p for p in others if not differs(p.ticks, none_.ticks)]
    moved = [p for p in others if differs(p.ticks, none_.ticks)]
    helps = [p for p in moved if p.ticks.median / none_.ticks.median < 1]
    hurts = [p for p in moved if not p.ticks.median / none_.ticks.median < 1]
    out: list[Finding] = []
    nums: dict[str, object] = {
        "none_ticks": none_.ticks.median,
        "ratio": {p.plan.label: p.ticks.median / none_.ticks.median for p in measured(points)},
    }
    if helps:
        best = min(helps, key=lambda p: p.ticks.median)
        out.append(
            Finding(
                "barriers",
                (
                    f"{len(helps)} barrier placement(s) reduce the cost; the best,"
                    f" {best.plan.label},"
                    f" runs at {best.ticks.median:.0f} ticks/iter against {none_.ticks.median:.0f}"
                    f" without a barrier."
                ),
                confidence((best.ticks, none_.ticks)),
                nums,
            )
        )
    else:
        out.append(
            Finding(
                "barriers",
                (
                    f"No barrier helps: of {len(same) + len(hurts)} barrier placements, {len(same)}"
                    f" change nothing measurable and {len(hurts)} make the loop slower"
                    f" (none: {none_.ticks.median:.0f} ticks/iter). That fits fences acting where"
                    " instructions issue, not where they are fetched."
                ),
                "high" if len(same) + len(hurts) >= 3 else "medium",
                nums,
            )
        )
    cpuid = [p for p in measured(points) if p.plan.label.startswith("cpuid@")]
    if cpuid:
        cost = min(p.ticks.median for p in cpuid) - none_.ticks.median
        if cost > SLOW_CPUID_TICKS:
            hv = host.get("hypervisor")
            why = f"it traps to the hypervisor ({hv})" if hv else "unusually slow for bare metal"
            ns = cost / host["tsc_hz"] * 1e9 if host.get("tsc_hz") else None
            out.append(
                Finding(
                    "barriers",
                    (
                        f"CPUID costs ≈{cost:.0f} ticks ({ns:.0f} ns) per execution here: {why}; a"
                        f" cpuid barrier measures that, not the self-modifying code."
                    ),
                    "high",
                    {"cpuid_ticks": cost, "hypervisor": hv},
                )
            )
    return out


PROBE = ProbeSpec(
    "barriers",
    "Barriers: every barrier and placement against none (4K, step 0)",
    points,
    findings,
    Bars(ref="none"),
)
