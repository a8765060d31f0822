"""Call kind: how the copy is reached (call r13, call rel32, jmp, ...), fixed and moving."""

from __future__ import annotations

from smclab.model.stats import confidence, differs

from .base import Finding, Host, PlanPoint, Point, ProbeSpec, labelled, pp
from .plot import Bars

ORDER = 50
CALLS = ("indirect", "direct", "jmp", "push-ret", "retpoline")


def points(quick: bool) -> list[PlanPoint]:
    return [
        *[pp(f"{c} step 0", 0, c, call=c, layout="near") for c in CALLS],
        *[pp(f"{c} step 64", 64, c, call=c, step=64, layout="near") for c in CALLS],
        pp("no-store step 64", 64, "no-store", store="none", step=64, layout="near"),
    ]


def findings(points: list[Point], host: Host) -> list[Finding]:
    pts = labelled(points)
    out: list[Finding] = []
    ind0, dir0 = pts.get("indirect step 0"), pts.get("direct step 0")
    if ind0 and dir0:
        same = not differs(ind0.ticks, dir0.ticks)
        nums: dict[str, object] = {
            "indirect_ticks": ind0.ticks.median,
            "direct_ticks": dir0.ticks.median,
        }
        text = (
            f"With a fixed target the call kind does not matter: call r13"
            f" {ind0.ticks.median:.0f} vs call rel32 {dir0.ticks.median:.0f} ticks/iter, so"
            f" the cost is the machine clear, not indirect-branch prediction."
            if same
            else f"With a fixed target a direct call costs {dir0.ticks.median:.0f} ticks/iter"
            f" against {ind0.ticks.median:.0f} for call r13."
        )
        conf = (
            "high"
            if same and max(ind0.ticks.spread, dir0.ticks.spread) < 0.05
            else ("medium" if same else confidence((ind0.ticks, dir0.ticks)))
        )
        out.append(Finding("call-kind", text, conf, nums))
    ind, dirm, none_ = (
        pts.get(k) for k in ("indirect step 64", "direct step 64", "no-store step 64")
    )
    if ind and dirm and differs(ind.ticks, dirm.ticks):
        nums = {"indirect_ticks": ind.ticks.median, "direct_unrolled_ticks": dirm.ticks.median}
        faster = dirm.ticks.median < ind.ticks.median
        text = (
            f"With a moving target (step 64) a direct call to each slot (the loop unrolled"
            f" over the ring) costs {dirm.ticks.median:.0f} ticks/iter against"
            f" {ind.ticks.median:.0f} for call r13: "
            + (
                f"naming each slot saves {ind.ticks.median - dirm.ticks.median:.0f} ticks, the"
                f" cost of predicting a moving indirect target (counters can confirm it)."
                if faster
                else "the indirect call is not the cost."
            )
        )
        if none_:
            nums["no_store_ticks"] = none_.ticks.median
            text += f" Without any store the moving call r13 loop costs {none_.ticks.median:.0f}."
        bm = ind.per_iter.get("branch-misses")
        if bm is not None:
            text += f" Branch misses: {bm:.2f}/iter."
        out.append(Finding("call-kind", text, confidence((ind.ticks, dirm.ticks)), nums))
    return out


PROBE = ProbeSpec(
    "call-kind",
    "Call kind: how the copy is reached, fixed and moving target",
    points,
    findings,
    Bars(),
)
