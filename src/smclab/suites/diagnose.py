"""`smclab diagnose`: probes (small sweeps) and the findings the measurements support.

Each probe is a list of points (a label, an x value, a group and an Experiment). Running a probe
stores its results like any sweep (sweep id ``diagnose-<probe>-<run>``); findings are computed
from points with results, so they can be recomputed from a store or from synthetic data.
A finding is printed only when the data support it: two medians whose spreads overlap are not
called different.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from smclab.model.experiment import Experiment
from smclab.model.knobs import SpecError, format_size
from smclab.model.result import Result, Stats
from smclab.run import machine

K = 1024
#: the executed slot of the granularity probe: mid-buffer, line- and page-aligned
GRAN_BUFFER, GRAN_ORIGIN = 64 * K, 32 * K
DISTANCES = (0, 1, 8, 16, 32, 48, 63, 64, 96, 128, 256, 512, K, 2 * K, 4 * K, 8 * K)
ALIASED = (4 * K, 8 * K, 12 * K, 16 * K)
AHEADS = (0, 64, 128, 192, 256, 384, 512, K, 2 * K, 4 * K, 8 * K)
BUFFERS = (4 * K, 16 * K, 64 * K, 256 * K, K * K, 4 * K * K, 16 * K * K)
#: a barrier/cpuid costing more than this many ticks per execution is flagged as trapping
SLOW_CPUID_TICKS = 1000
#: two medians closer than this (relative) are never called different
MIN_EFFECT = 0.05
#: a store distance "has a penalty" when it costs this much more than storing into data
PENALTY_RATIO = 1.5


@dataclass(frozen=True)
class PlanPoint:
    label: str
    x: float | None
    group: str
    knobs: dict[str, Any]


@dataclass(frozen=True)
class Probe:
    name: str
    title: str
    points: tuple[PlanPoint, ...]
    needs: str | None = None  # a reason it cannot run on this host (then it is skipped)


@dataclass
class Point:
    """A planned point and its measurement."""

    plan: PlanPoint
    experiment: Experiment
    ticks: Stats | None
    ns: Stats | None
    per_iter: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None
    notes: dict[str, str] = field(default_factory=dict)  # counters that are only proxies

    @classmethod
    def of(cls, plan: PlanPoint, r: Result) -> Point:
        counts = {k: v.per_iter for k, v in r.counters.items()}
        notes = {k: v.note for k, v in r.counters.items() if v.note}
        return cls(plan, r.experiment, r.ticks_per_iter, r.ns_per_iter, counts, r.error, notes)


@dataclass
class Finding:
    probe: str
    text: str
    confidence: str  # high | medium | low
    numbers: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "text": self.text,
            "confidence": self.confidence,
            "numbers": self.numbers,
        }


# --- the probes ---------------------------------------------------------------------------


def _pp(label: str, x: float | None, group: str, **knobs: Any) -> PlanPoint:
    return PlanPoint(label, x, group, knobs)


def probes(quick: bool, cpus: int) -> list[Probe]:
    """The fixed probe set (``quick`` trims the grids, not the questions)."""
    dists = DISTANCES if not quick else (0, 1, 32, 63, 64, 128, 1024)
    aheads = AHEADS if not quick else (0, 64, 128, 256, 1024, 4 * K)
    buffers = BUFFERS if not quick else (4 * K, 64 * K, K * K, 16 * K * K)
    g = {"buffer": GRAN_BUFFER, "origin": GRAN_ORIGIN, "payload": 1}
    gran = [_pp("far-store", None, "control", store="far", **{**g, "origin": GRAN_ORIGIN})]
    gran += [_pp(f"+{d}", d, "after", ahead=d, **g) for d in dists]
    gran += [_pp(f"-{d}", d, "before", ahead=-d, **g) for d in dists if d]
    gran += [
        _pp(f"{s}{format_size(d)}", d, f"aliased{s}", ahead=d if s == "+" else -d, **g)
        for d in ALIASED
        for s in "+-"
        if not quick or d == 4 * K
    ]
    ring = {"buffer": 16 * K, "step": 64}
    barrier_pts = [_pp("none", None, "none")]
    placements = ("after-store", "before-store", "both") if not quick else ("after-store",)
    for b in ("mfence", "lfence", "sfence", "lock-or", "cpuid", "serialize", "mfence+lfence"):
        barrier_pts += [_pp(f"{b}@{p}", None, p, barrier=b, placement=p) for p in placements]
    calls = ("indirect", "direct", "jmp", "push-ret", "retpoline")
    out = [
        Probe(
            "penalty",
            "The penalty: the seed loop against controls",
            (
                _pp("seed 4K/0", None, "seed"),
                _pp("far-store", None, "control", store="far"),
                _pp("no-store", None, "control", store="none"),
                _pp("seed baseline", None, "baseline", barrier="mfence", call="source"),
            ),
        ),
        Probe("granularity", "Granularity: store D bytes from a fixed executed slot", tuple(gran)),
        Probe(
            "write-ahead",
            "Write-ahead: the seed loop storing A bytes ahead (16K ring, step 64)",
            (
                _pp("far-store", None, "control", store="far", **ring),
                *[_pp(f"A={a}", a, "ahead", ahead=a, **ring) for a in aheads],
            ),
        ),
        Probe(
            "barriers",
            "Barriers: every barrier and placement against none (4K, step 0)",
            tuple(barrier_pts),
        ),
        Probe(
            "call-kind",
            "Call kind: how the copy is reached, fixed and moving target",
            (
                *[_pp(f"{c} step 0", 0, c, call=c, layout="near") for c in calls],
                *[_pp(f"{c} step 64", 64, c, call=c, step=64, layout="near") for c in calls],
                _pp("no-store step 64", 64, "no-store", store="none", step=64, layout="near"),
            ),
        ),
        Probe(
            "buffer",
            "Buffer size: 4K .. 16M at steps 64 and 4096",
            tuple(
                _pp(f"{format_size(b)}/{s}", b, f"step {s}", buffer=b, step=s)
                for s in (64, 4096)
                for b in buffers
                if s < b
            ),
        ),
        Probe(
            "cross-modifying",
            "Cross-modifying: a writer thread on another CPU",
            (
                _pp("exec line", None, "line", store="none", cross="line"),
                _pp("near line", None, "near", store="none", cross="near"),
                _pp("no writer", None, "none", store="none"),
            ),
            needs=None if cpus >= 2 else "needs two CPUs (this host has one)",
        ),
    ]
    return out


def experiments_of(probe: Probe, settings: dict[str, Any]) -> list[tuple[PlanPoint, Experiment]]:
    """The probe's experiments (an invalid point is a bug in the probe table: it raises)."""
    return [(p, Experiment(**p.knobs, **settings)) for p in probe.points]


# --- comparing measurements ----------------------------------------------------------------


def _ok(p: Point | None) -> bool:
    return p is not None and p.ticks is not None and p.error is None


def differs(a: Stats, b: Stats) -> bool:
    """The medians differ beyond both spreads (IQR/median) and beyond MIN_EFFECT."""
    lo, hi = sorted((a.median, b.median))
    gap = (hi - lo) / hi
    return gap > max(MIN_EFFECT, a.spread + b.spread)


def confidence(*pairs: tuple[Stats, Stats]) -> str:
    """high: every gap is 3x the spreads and spreads are small; medium: separated; low."""
    level = "high"
    for a, b in pairs:
        lo, hi = sorted((a.median, b.median))
        gap, noise = (hi - lo) / hi, a.spread + b.spread
        if gap <= max(MIN_EFFECT, noise):
            return "low"
        if gap < 3 * noise or max(a.spread, b.spread) > 0.05:
            level = "medium"
    return level


def by_label(points: Iterable[Point]) -> dict[str, Point]:
    return {p.plan.label: p for p in points}


# --- findings --------------------------------------------------------------------------------


def penalty(points: list[Point], host: dict[str, Any]) -> list[Finding]:
    pts = by_label(points)
    seed, far, none_, base = (
        pts.get(k) for k in ("seed 4K/0", "far-store", "no-store", "seed baseline")
    )
    out: list[Finding] = []
    if _ok(seed) and _ok(far) and differs(seed.ticks, far.ticks):
        lost = seed.ticks.median - far.ticks.median
        lost_ns = seed.ns.median - far.ns.median
        nums = {
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
        if _ok(none_):
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
    if _ok(base) and _ok(seed):
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


def _safe_from(points: list[Point], ref: Stats, threshold: float) -> tuple[int | None, dict]:
    """Smallest distance from which every larger distance has no penalty."""
    curve = sorted((int(p.plan.x), p.ticks) for p in points if _ok(p) and p.plan.x is not None)
    hit = {d: (t.median > ref.median * threshold and differs(t, ref)) for d, t in curve}
    safe = None
    for d, _ in reversed(curve):
        if hit[d]:
            break
        safe = d
    return safe, hit


def granularity(points: list[Point], host: dict[str, Any]) -> list[Finding]:
    pts = by_label(points)
    ref = pts.get("far-store")
    if not _ok(ref):
        return []
    groups: dict[str, list[Point]] = {}
    for p in points:
        groups.setdefault(p.plan.group, []).append(p)
    after_safe, after_hit = _safe_from(groups.get("after", []), ref.ticks, PENALTY_RATIO)
    before_safe, before_hit = _safe_from(groups.get("before", []), ref.ticks, PENALTY_RATIO)
    out: list[Finding] = []
    if after_safe is not None and any(after_hit.values()):
        worst = max((p for p in groups["after"] if _ok(p)), key=lambda p: p.ticks.median)
        nums = {
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
    aliased = [p for g, ps in groups.items() if g.startswith("aliased") for p in ps if _ok(p)]
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


def write_ahead(points: list[Point], host: dict[str, Any]) -> list[Finding]:
    pts = by_label(points)
    far = pts.get("far-store")
    curve = sorted((int(p.plan.x), p) for p in points if p.plan.group == "ahead" and _ok(p))
    if len(curve) < 3 or not _ok(far):
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
    nums = {
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


def barriers(points: list[Point], host: dict[str, Any]) -> list[Finding]:
    pts = by_label(points)
    none_ = pts.get("none")
    if not _ok(none_):
        return []
    helps, hurts, same = [], [], []
    for p in points:
        if p is none_ or not _ok(p):
            continue
        r = p.ticks.median / none_.ticks.median
        if not differs(p.ticks, none_.ticks):
            same.append(p)
        elif r < 1:
            helps.append(p)
        else:
            hurts.append(p)
    out: list[Finding] = []
    nums = {
        "none_ticks": none_.ticks.median,
        "ratio": {p.plan.label: p.ticks.median / none_.ticks.median for p in points if _ok(p)},
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
    cpuid = [p for p in points if p.plan.label.startswith("cpuid@") and _ok(p)]
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


def call_kind(points: list[Point], host: dict[str, Any]) -> list[Finding]:
    pts = by_label(points)
    out: list[Finding] = []
    ind0, dir0 = pts.get("indirect step 0"), pts.get("direct step 0")
    if _ok(ind0) and _ok(dir0):
        same = not differs(ind0.ticks, dir0.ticks)
        nums = {"indirect_ticks": ind0.ticks.median, "direct_ticks": dir0.ticks.median}
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
    if _ok(ind) and _ok(dirm) and differs(ind.ticks, dirm.ticks):
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
        if _ok(none_):
            nums["no_store_ticks"] = none_.ticks.median
            text += f" Without any store the moving call r13 loop costs {none_.ticks.median:.0f}."
        bm = ind.per_iter.get("branch-misses")
        if bm is not None:
            text += f" Branch misses: {bm:.2f}/iter."
        out.append(Finding("call-kind", text, confidence((ind.ticks, dirm.ticks)), nums))
    return out


def buffer_size(points: list[Point], host: dict[str, Any]) -> list[Finding]:
    out = []
    for group in sorted({p.plan.group for p in points}):
        curve = sorted((p.plan.x, p) for p in points if p.plan.group == group and _ok(p))
        if len(curve) < 2:
            continue
        (x0, small), (x1, big) = curve[0], curve[-1]
        if not differs(small.ticks, big.ticks):
            out.append(
                Finding(
                    "buffer",
                    (
                        f"At {group} the buffer size does not matter between"
                        f" {format_size(int(x0))} and"
                        f" {format_size(int(x1))} ({small.ticks.median:.0f} vs"
                        f" {big.ticks.median:.0f}"
                        f" ticks/iter)."
                    ),
                    "medium",
                    {"curve": {int(x): p.ticks.median for x, p in curve}},
                )
            )
            continue
        worst = max((p for _, p in curve), key=lambda p: p.ticks.median)
        out.append(
            Finding(
                "buffer",
                (
                    f"At {group} the cost moves with the buffer size: {small.ticks.median:.0f}"
                    " ticks/iter"
                    f" at {format_size(int(x0))}, {big.ticks.median:.0f} at {format_size(int(x1))}"
                    f" (worst {worst.ticks.median:.0f} at {worst.plan.label})."
                ),
                confidence((small.ticks, big.ticks)),
                {"curve": {int(x): p.ticks.median for x, p in curve}},
            )
        )
    return out


def cross_modifying(points: list[Point], host: dict[str, Any]) -> list[Finding]:
    pts = by_label(points)
    line, near, alone = pts.get("exec line"), pts.get("near line"), pts.get("no writer")
    if not (_ok(line) and _ok(near)):
        return []
    nums = {
        "exec_line_ticks": line.ticks.median,
        "near_line_ticks": near.ticks.median,
        "no_writer_ticks": alone.ticks.median if _ok(alone) else None,
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


FINDINGS: dict[str, Callable[[list[Point], dict[str, Any]], list[Finding]]] = {
    "penalty": penalty,
    "granularity": granularity,
    "write-ahead": write_ahead,
    "barriers": barriers,
    "call-kind": call_kind,
    "buffer": buffer_size,
    "cross-modifying": cross_modifying,
}


# --- running ---------------------------------------------------------------------------------


@dataclass
class ProbeResult:
    probe: Probe
    points: list[Point]
    sweep_id: str | None
    skipped: str | None = None  # why the probe did not run

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.probe.name,
            "title": self.probe.title,
            "sweep_id": self.sweep_id,
            "skipped": self.skipped,
            "points": [
                {
                    "label": p.plan.label,
                    "x": p.plan.x,
                    "group": p.plan.group,
                    "experiment": p.experiment.to_dict(),
                    "ticks_per_iter": p.ticks.to_dict() if p.ticks else None,
                    "ns_per_iter": p.ns.to_dict() if p.ns else None,
                    "counters": p.per_iter,
                    "error": p.error,
                }
                for p in self.points
            ],
        }


@dataclass
class Diagnosis:
    host: dict[str, Any]
    run_id: str
    quick: bool
    probes: list[ProbeResult]
    findings: list[Finding]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "run_id": self.run_id,
            "quick": self.quick,
            "seconds": self.seconds,
            "findings": [f.to_dict() for f in self.findings],
            "probes": [p.to_dict() for p in self.probes],
        }


def settings(quick: bool) -> dict[str, Any]:
    return {
        "repeats": 3 if quick else 5,
        "min_ms": 5.0 if quick else 20.0,
        "events": ("smc-clears", "branch-misses"),
    }


def find(probe_results: list[ProbeResult], host: dict[str, Any]) -> list[Finding]:
    """Every finding the measured points support, probe by probe."""
    out: list[Finding] = []
    for pr in probe_results:
        if pr.points:
            out += FINDINGS[pr.probe.name](pr.points, host)
    return out


def run_diagnose(
    session: Any,
    quick: bool = False,
    only: tuple[str, ...] = (),
    observer: Any = None,
) -> Diagnosis:
    """Run the probes (each stored as a sweep ``diagnose-<run>-<probe>``) and find."""
    from smclab.suites.sweep import Grid, Plan, run_sweep

    started = time.monotonic()
    run_id = time.strftime("%Y%m%dT%H%M%S")
    host = session.host
    results: list[ProbeResult] = []
    for probe in probes(quick, len(machine.online_cpus())):
        if only and probe.name not in only:
            continue
        if probe.needs:
            results.append(ProbeResult(probe, [], None, probe.needs))
            continue
        planned = []
        for pp, exp in experiments_of(probe, settings(quick)):
            try:
                session.check(exp)
            except SpecError:
                continue  # a point this CPU cannot run (e.g. serialize) is left out
            planned.append((pp, exp))
        sweep_id = f"diagnose-{run_id}-{probe.name}"
        axes: dict[str, tuple[Any, ...]] = {}
        for pp, _ in planned:
            for k, v in pp.knobs.items():
                axes[k] = (*axes.get(k, ()), v)
        # one experiment per distinct code (±4K is both a distance and an aliased point)
        unique = list({e.code_key(): e for _, e in planned}.values())
        plan = Plan(
            Grid(axes, sweep_id),
            sweep_id,
            unique,
            {},
            len(unique),
            suite="diagnose",
            labels={e.code_key(): f"{probe.name}: {pp.label}" for pp, e in planned},
        )
        run = run_sweep(session, plan, observer)
        by_key = {r.experiment.code_key(): r for r in run.results}
        points = [Point.of(pp, by_key[e.code_key()]) for pp, e in planned if e.code_key() in by_key]
        results.append(ProbeResult(probe, points, sweep_id))
        if run.interrupted:
            break
    findings = find(results, host)
    return Diagnosis(host, run_id, quick, results, findings, time.monotonic() - started)
