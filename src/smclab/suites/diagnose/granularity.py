"""Granularity: store D bytes before/after a fixed executed slot; which distances cost."""

from __future__ import annotations

from smclab.model.knobs import format_size
from smclab.model.result import Stats
from smclab.model.stats import confidence, differs

from .base import Finding, Host, PlanPoint, Point, ProbeSpec, labelled, measured, pp
from .plot import Curve, Mark

ORDER = 20
K = 1024
#: a store distance "has a penalty" when it costs this much more than storing into data
PENALTY_RATIO = 1.5
#: the executed slot: mid-buffer, line- and page-aligned
GRAN_BUFFER, GRAN_ORIGIN = 64 * K, 32 * K
DISTANCES = (0, 1, 8, 16, 32, 48, 63, 64, 96, 128, 256, 512, K, 2 * K, 4 * K, 8 * K)
QUICK_DISTANCES = (0, 1, 32, 63, 64, 128, 1024)
ALIASED = (4 * K, 8 * K, 12 * K, 16 * K)


def points(quick: bool) -> list[PlanPoint]:
    dists = DISTANCES if not quick else QUICK_DISTANCES
    g = {"buffer": GRAN_BUFFER, "origin": GRAN_ORIGIN, "payload": 1}
    gran = [pp("far-store", None, "control", store="far", **{**g, "origin": GRAN_ORIGIN})]
    gran += [pp(f"+{d}", d, "after", ahead=d, **g) for d in dists]
    gran += [pp(f"-{d}", d, "before", ahead=-d, **g) for d in dists if d]
    gran += [
        pp(f"{s}{format_size(d)}", d, f"aliased{s}", ahead=d if s == "+" else -d, **g)
        for d in ALIASED
        for s in "+-"
        if not quick or d == 4 * K
    ]
    return gran


def _safe_from(
    points: list[Point], ref: Stats, threshold: float
) -> tuple[int | None, dict[int, bool]]:
    """Smallest distance from which every larger distance has no penalty."""
    curve = sorted((int(p.plan.x), p.ticks) for p in measured(points) if p.plan.x is not None)
    hit = {d: (t.median > ref.median * threshold and differs(t, ref)) for d, t in curve}
    safe = None
    for d, _ in reversed(curve):
        if hit[d]:
            break
        safe = d
    return safe, hit


def findings(points: list[Point], host: Host) -> list[Finding]:
    ref = labelled(points).get("far-store")
    if not ref:
        return []
    groups: dict[str, list[Point]] = {}
    for p in points:
        groups.setdefault(p.plan.group, []).append(p)
    after_safe, after_hit = _safe_from(groups.get("after", []), ref.ticks, PENALTY_RATIO)
    before_safe, before_hit = _safe_from(groups.get("before", []), ref.ticks, PENALTY_RATIO)
    out: list[Finding] = []
    if after_safe is not None and any(after_hit.values()):
        worst = max(measured(groups["after"]), key=lambda p: p.ticks.median)
        nums: dict[str, object] = {
            "after_safe": after_safe,
            "before_safe": before_safe,
            "penalty_ticks": worst.ticks.median,
            "far_store_ticks": ref.ticks.median,
            "penalized_after": sorted(d for d, h in after_hit.items() if h),
            "penalized_before": sorted(d for d, h in before_hit.items() if h),
        }
        head = (
            f"Stores {after_safe} bytes or more after the executed byte cost nothing"
            f" ({ref.ticks.median:.0f} ticks/iter, as storing into data), closer ones cost up to"
            f" {worst.ticks.median:.0f}"
        )
        if before_safe is not None:
            span = after_safe + before_safe - 1
            nums["span"] = span
            what = {64: "one 64-byte cache line", 1024: "a 1 KB sub-page", 4096: "a 4 KB page"}.get(
                span, f"{span} bytes"
            )
            text = (
                f"{head}; stores from {before_safe} byte(s) before it cost nothing either:"
                f" the granularity is {what}."
            )
        elif before_hit:
            text = (
                f"{head}; stores before it hurt at every distance measured (up to"
                f" {max(before_hit)} bytes), so no granularity can be named."
            )
        else:
            text = f"{head} (no store before it was measured)."
        out.append(Finding("granularity", text, confidence((worst.ticks, ref.ticks)), nums))
    aliased = [p for g, ps in groups.items() if g.startswith("aliased") for p in measured(ps)]
    if aliased:
        hurt = [
            p
            for p in aliased
            if p.ticks.median > ref.ticks.median * PENALTY_RATIO and differs(p.ticks, ref.ticks)
        ]
        worst = max(aliased, key=lambda p: p.ticks.median)
        nums = {
            "aliased": {p.plan.label: p.ticks.median for p in aliased},
            "far_store_ticks": ref.ticks.median,
        }
        if hurt:
            text = (
                f"4K aliasing matters: stores at {', '.join(p.plan.label for p in hurt)}"
                f" (same page offset as the executed code, other page) cost up to"
                f" {worst.ticks.median:.0f} ticks/iter against {ref.ticks.median:.0f}."
            )
            conf = confidence((worst.ticks, ref.ticks))
        else:
            text = (
                f"4K aliasing does not matter: stores at the same page offset in other"
                f" pages cost at most {worst.ticks.median:.0f} ticks/iter, like the far-store"
                f" control ({ref.ticks.median:.0f})."
            )
            conf = "high" if not differs(worst.ticks, ref.ticks) else "low"
        out.append(Finding("granularity", text, conf, nums))
    return out


PROBE = ProbeSpec(
    "granularity",
    "Granularity: store D bytes from a fixed executed slot",
    points,
    findings,
    Curve(
        "Penalty against the distance from the executed byte",
        "distance D (bytes)",
        groups=("after", "before"),
        ref="far-store",
        mark=Mark("after_safe", "granularity: {:g} B"),
    ),
)
