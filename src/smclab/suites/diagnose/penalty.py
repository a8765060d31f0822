"""The penalty: the seed loop against controls (far-store, no store, the seed's baseline)."""

from __future__ import annotations

from smclab.model.stats import confidence, differs

from . import base
from .base import Finding, Host, PlanPoint, Point, ProbeSpec, labelled, pp
from .plot import Bars

ORDER = 10


def points(quick: bool) -> list[PlanPoint]:
    return [
        pp("seed 4K/0", None, "seed"),
        pp("far-store", None, "control", store="far"),
        pp("no-store", None, "control", store="none"),
        pp("seed baseline", None, "baseline", barrier="mfence", call="source"),
    ]


def findings(points: list[Point], host: Host) -> list[Finding]:
    pts = labelled(points)
    seed, far, none_, base = (
        pts.get(k) for k in ("seed 4K/0", "far-store", "no-store", "seed baseline")
    )
    out: list[Finding] = []
    if seed and far and differs(seed.ticks, far.ticks):
        lost = seed.ticks.median - far.ticks.median
        lost_ns = seed.ns.median - far.ns.median
        nums: dict[str, object] = {
            "seed_ticks": seed.ticks.median,
            "far_store_ticks": far.ticks.median,
            "lost_ticks": lost,
            "lost_ns": lost_ns,
            "ratio": seed.ticks.median / far.ticks.median,
        }
        text = (
            f"Executing the code it just copied costs the seed loop {lost:.0f} ticks"
            f" ({lost_ns:.1f} ns) per iteration more than the same copy into data memory"
            f" ({seed.ticks.median:.0f} vs {far.ticks.median:.0f} ticks/iter,"
            f" {nums['ratio']:.1f}x)."
        )
        if none_:
            text += f" Without any store the loop costs {none_.ticks.median:.0f}."
            nums["no_store_ticks"] = none_.ticks.median
        clears = seed.per_iter.get("smc-clears")
        if clears:
            nums["smc_clears_per_iter"] = clears
            nums["ticks_per_clear"] = lost / clears
            note = seed.notes.get("smc-clears")
            what = "SMC clears" if not note else "counts of the proxy event (see its note)"
            text += f" It takes {clears:.2f} {what} per iteration, ≈{lost / clears:.0f} ticks each."
            if note:
                nums["smc_clears_note"] = note
        out.append(Finding("penalty", text, confidence((seed.ticks, far.ticks)), nums))
    if base and seed:
        nums = {"baseline_ticks": base.ticks.median, "seed_ticks": seed.ticks.median}
        out.append(
            Finding(
                "penalty",
                (
                    "The seed's baseline (mfence, `call payload`) calls the original payload,"
                    " never"
                    " the copy: it measures the copy and the fence but no code modification, so"
                    " its"
                    f" {base.ticks.median:.0f} ticks/iter against the loop's"
                    f" {seed.ticks.median:.0f}"
                    " compare a fence with a machine clear, not the loop with and without the"
                    " clear;"
                    f" the far-store control is the fair baseline."
                ),
                "high",
                nums,
            )
        )
    return out


def facts(found: list[Finding], points: list[Point], host: Host) -> list[base.Fact]:
    """The seed loop's cost over the far-store control, per iteration (ticks, ns, ratio)."""
    keys = {
        "seed_penalty_ticks": ("lost_ticks", "ticks"),
        "seed_penalty_ns": ("lost_ns", "ns"),
        "seed_over_far_store": ("ratio", "x"),
    }
    return [x for f in found for x in base.from_numbers(f, keys, ("seed 4K/0", "far-store"))]


PROBE = ProbeSpec(
    "penalty",
    "The penalty: the seed loop against controls",
    points,
    findings,
    Bars(ref="far-store"),
    facts=facts,
)
