"""Write-ahead: the seed loop storing A bytes ahead of the executing code (16K ring, step 64)."""

from __future__ import annotations

from smclab.model.stats import confidence, differs

from .base import Finding, Host, PlanPoint, Point, ProbeSpec, labelled, measured, pp
from .plot import Curve

ORDER = 30
K = 1024
AHEADS = (0, 64, 128, 192, 256, 384, 512, K, 2 * K, 4 * K, 8 * K)
QUICK_AHEADS = (0, 64, 128, 256, 1024, 4 * K)
RING = {"buffer": 16 * K, "step": 64}


def points(quick: bool) -> list[PlanPoint]:
    aheads = AHEADS if not quick else QUICK_AHEADS
    return [
        pp("far-store", None, "control", store="far", **RING),
        *[pp(f"A={a}", a, "ahead", ahead=a, **RING) for a in aheads],
    ]


def findings(points: list[Point], host: Host) -> list[Finding]:
    far = labelled(points).get("far-store")
    curve = sorted(
        (int(p.plan.x), p)
        for p in measured(points)
        if p.plan.group == "ahead" and p.plan.x is not None
    )
    if len(curve) < 3 or not far:
        return []
    at0 = curve[0][1]
    best = min((p for _, p in curve), key=lambda p: p.ticks.median)
    if not differs(at0.ticks, best.ticks):
        return []
    tol = 1 + max(0.1, 2 * best.ticks.spread)
    within = [a for a, p in curve if p.ticks.median <= best.ticks.median * tol]
    bad = [a for a, _ in curve if a > within[0] and a not in within]
    larger = [a for a, _ in curve if a > within[0]]
    # from `enough` on every distance stays near the best, or all but a few exceptions do
    enough = within[0] if len(bad) * 2 < max(len(larger), 1) else None
    residual = best.ticks.median - far.ticks.median
    nums: dict[str, object] = {
        "ahead_bytes": enough,
        "at_slot_ticks": at0.ticks.median,
        "plateau_ticks": best.ticks.median,
        "far_store_ticks": far.ticks.median,
        "residual_ticks": residual,
        "curve": {a: p.ticks.median for a, p in curve},
    }
    removed = at0.ticks.median - best.ticks.median
    how_much = "most of" if removed > residual else "part of"
    if enough is None:
        where = f"Writing exactly {', '.join(map(str, within))} bytes ahead removes {how_much}"
    else:
        but = f" (except at {', '.join(map(str, bad))})" if bad else ""
        where = (
            f"Writing {enough} bytes or more ahead of the executing code{but} removes {how_much}"
        )
        if bad:
            nums["exceptions"] = bad
    return [
        Finding(
            "write-ahead",
            (
                f"{where} the penalty: {at0.ticks.median:.0f} → {best.ticks.median:.0f} ticks/iter"
                f" ({at0.ticks.median / best.ticks.median:.1f}x faster); what remains is"
                f" {residual:+.0f} ticks against the same copy into data memory"
                f" ({far.ticks.median:.0f})."
            ),
            confidence((at0.ticks, best.ticks)),
            nums,
        )
    ]


PROBE = ProbeSpec(
    "write-ahead",
    "Write-ahead: the seed loop storing A bytes ahead (16K ring, step 64)",
    points,
    findings,
    Curve("Write-ahead curve (16K ring, step 64)", "A (bytes ahead)", ("ahead",), "far-store"),
)
