"""Cross-modifying: a writer thread on another CPU stores into (or near) the executed line."""

from __future__ import annotations

from smclab.model.stats import confidence, differs

from .base import Finding, Host, PlanPoint, Point, ProbeSpec, labelled, pp
from .plot import Bars

ORDER = 70


def points(quick: bool) -> list[PlanPoint]:
    return [
        pp("exec line", None, "line", store="none", cross="line"),
        pp("near line", None, "near", store="none", cross="near"),
        pp("no writer", None, "none", store="none"),
    ]


def needs(cpus: int) -> str | None:
    return None if cpus >= 2 else "needs two CPUs (this host has one)"


def findings(points: list[Point], host: Host) -> list[Finding]:
    pts = labelled(points)
    line, near, alone = pts.get("exec line"), pts.get("near line"), pts.get("no writer")
    if not (line and near):
        return []
    nums: dict[str, object] = {
        "exec_line_ticks": line.ticks.median,
        "near_line_ticks": near.ticks.median,
        "no_writer_ticks": alone.ticks.median if alone else None,
    }
    if differs(line.ticks, near.ticks):
        text = (
            f"Another core storing into the executed line costs"
            f" {line.ticks.median:.0f} ticks/iter against {near.ticks.median:.0f} when it"
            f" stores two lines away: cross-modifying code pays the same kind of clear."
        )
    else:
        text = (
            f"Another core storing into the executed line costs no more than storing two"
            f" lines away ({line.ticks.median:.0f} vs {near.ticks.median:.0f} ticks/iter)."
        )
    return [
        Finding(
            "cross-modifying",
            text,
            confidence((line.ticks, near.ticks)) if differs(line.ticks, near.ticks) else "medium",
            nums,
        )
    ]


PROBE = ProbeSpec(
    "cross-modifying",
    "Cross-modifying: a writer thread on another CPU",
    points,
    findings,
    Bars(ref="no writer"),
    needs=needs,
)
