"""Code age and write-ahead across the cache hierarchy: ring size x write-ahead x call kind.

The seed loop moves through a ring of R bytes in 64-byte steps and stores A bytes ahead of the
slot it calls. The line it writes is executed A bytes (A/64 iterations) later, and was last
executed R - A bytes of code earlier. Every ring has its *data control*: the same loop, ring
and call kind storing into data. Sweeping A at ring sizes from 4K to beyond L2 asks:

* does *executing* a line written shortly before cost (A = 0 against the control), and from
  which A on (in bytes, lines and cache sizes) the cost is down to the control; measured with
  call rel32 to each slot where a direct loop fits (its own cost is a few ticks, where call
  reg's 20-40 can hide a remainder), with call reg beyond;
* does the *age* of the written line matter: at the same A, a larger ring (the line last ran
  R - A bytes of code earlier) against the smallest, each net of its own control;
* does writing the line executed just before (A = R - 64) cost;
* does the call kind (call reg, call rel32 unrolled, retpoline) change the cost, and does it set
  the floor of a ring (the controls with call reg and with call rel32).

A distance the rounds do not settle is labelled unstable. The rings are planned from the caches
of the machine that runs the probe; the findings read the sizes from the host facts stored
with the results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smclab.model.caches import CacheSizes, pages
from smclab.model.knobs import format_size
from smclab.model.result import Stats
from smclab.model.rounds import MIN_EFFECT
from smclab.model.stats import comparison, confidence, differs, net, no_difference
from smclab.run import machine

from . import base
from .base import Finding, Host, Measured, PlanPoint, Point, ProbeSpec, measured, pp
from .plot import Curve

ORDER = 30
K = 1024
STEP = 64
#: rings where a direct call (the loop unrolled over the ring) is measured
DIRECT_MAX_RING = 512 * STEP
#: the group of the direct-call data controls
FAR_DIRECT = "far-store direct"


def rings(sizes: CacheSizes, quick: bool) -> list[int]:
    """4K, L1I and L2 and beyond (full: halves and doubles too), whole pages, at most 64M."""
    if quick:
        wanted = [4 * K, sizes.l1i, sizes.l2, 4 * sizes.l2]
    else:
        wanted = [4 * K, sizes.l1i // 2, sizes.l1i, 2 * sizes.l1i, sizes.l2 // 2, sizes.l2]
        wanted += [2 * sizes.l2, 4 * sizes.l2]
    return sorted({min(pages(r), 64 * K * K) for r in wanted})


def aheads(ring: int, quick: bool) -> list[int]:
    """Write-ahead distances at one ring: short ones, powers of 4 from 16K up to a quarter of
    the ring, then up to the line executed last."""
    wanted = [0, 128, K, ring // 2, ring - STEP]
    if not quick:
        wanted += [64, 256, 512, 4 * K, ring // 4]
        # between 4K and a quarter of a large ring, every power of 4: the distance at which
        # the cost reaches its control is read from these points, not from ring / 4
        wanted += [d for d in (16 * K, 64 * K, 256 * K, K * K, 4 * K * K) if d < ring // 4]
    return sorted({a // STEP * STEP for a in wanted if 0 <= a < ring})


def label(ring: int, ahead: int, call: str = "indirect") -> str:
    kind = "" if call == "indirect" else f" {call}"
    return f"{format_size(ring)} A={ahead}{kind}"


def group(ring: int, call: str) -> str:
    return f"ring {format_size(ring)} {call}"


def plan(sizes: CacheSizes, quick: bool) -> list[PlanPoint]:
    out: list[PlanPoint] = []
    rs = rings(sizes, quick)
    for r in rs:
        ring = {"buffer": r, "step": STEP}
        out.append(pp(f"{format_size(r)} far-store", None, "far-store", store="far", **ring))
        out += [pp(label(r, a), a, group(r, "indirect"), ahead=a, **ring) for a in aheads(r, quick)]
    for r in (rs[1], rs[-1]) if quick else rs:  # an unpredictable call: retpoline
        out += _called(r, "retpoline", (0, K) if quick else (0, K, r // 2))
    # call rel32 to each slot (the loop unrolled over the ring): its own cost is a few ticks,
    # where call reg's ~20-40 can hide what is left of the penalty; each ring has its own data
    # control with the same call
    for r in [r for r in rs if r <= DIRECT_MAX_RING]:
        out.append(
            pp(
                f"{format_size(r)} far-store direct",
                None,
                FAR_DIRECT,
                store="far",
                buffer=r,
                step=STEP,
                call="direct",
                layout="near",
            )
        )
        out += _called(r, "direct", tuple(aheads(r, quick)), layout="near")
    return out


def _called(ring: int, call: str, distances: tuple[int, ...], **knobs: str) -> list[PlanPoint]:
    return [
        pp(
            label(ring, a, call),
            a,
            group(ring, call),
            ahead=a,
            buffer=ring,
            step=STEP,
            call=call,
            **knobs,
        )
        for a in distances
        if a < ring
    ]


def points(quick: bool) -> list[PlanPoint]:
    return plan(CacheSizes.of({"caches": machine.caches()}), quick)


# --- findings ------------------------------------------------------------------------------


def _curves(points: list[Point], call: str) -> dict[int, dict[int, Measured]]:
    """ring -> ahead -> point, for one call kind."""
    out: dict[int, dict[int, Measured]] = {}
    for p in measured(points):
        e = p.experiment
        if p.plan.group == "far-store" or e.call != call or p.plan.x is None or e.store != "exec":
            continue
        out.setdefault(e.buffer, {})[int(p.plan.x)] = p
    return out


def _far(points: list[Point]) -> dict[int, Measured]:
    """Ring -> its data control with call reg."""
    return {
        p.experiment.buffer: p
        for p in measured(points)
        if p.experiment.store == "far" and p.experiment.call == "indirect"
    }


def _lead(curve: dict[int, Measured], ring: int) -> dict[int, Measured]:
    """The distances where the written line is executed later (not the line just executed)."""
    return {a: p for a, p in curve.items() if a < ring - STEP}


def where(a: int, sizes: CacheSizes) -> str:
    """A write-ahead distance in bytes and cache terms: '256 B (4 lines, 1/128 of the 32K
    L1D)', '64K (2x L1D)'."""
    assumed = ", sizes assumed" if sizes.assumed else ""
    if a < sizes.l1d:
        share = f"1/{sizes.l1d // a}" if a and sizes.l1d % a == 0 else f"{a / sizes.l1d:.2g}"
        size = f"{format_size(a)}: " if a >= K else ""
        return (
            f"{a} B ({size}{a // STEP} lines, {share} of the {format_size(sizes.l1d)} L1D{assumed})"
        )
    return f"{format_size(a)} ({a / sizes.l1d:.3g}x L1D, {sizes.relate(a)}{assumed})"


@dataclass(frozen=True)
class Reach:
    """One ring's write-ahead curve against its data control (the same loop, ring and call
    kind, storing into data): from which distance on the cost is down to the control."""

    ring: int
    call: str
    at0: Measured
    control: Measured
    reach: int | None  # the smallest A from which no point costs more than the control
    farthest: int  # the largest A measured (the line executed later)
    last: Measured  # the point at the farthest A
    settled: bool  # every point from ``reach`` on is within 5% of the control (the rounds)

    @property
    def name(self) -> str:
        return "direct calls" if self.call == "direct" else "call reg"


def _above(p: Measured, control: Measured) -> bool:
    return p.ticks.median > control.ticks.median and differs(p.ticks, control.ticks)


def reach(curve: dict[int, Measured], ring: int, call: str, control: Measured) -> Reach | None:
    """The ring's :class:`Reach` (None without A = 0 and a further distance)."""
    lead = _lead(curve, ring)
    if 0 not in lead or len(lead) < 2:
        return None
    ds = sorted(lead)
    got: int | None = None
    for a in reversed(ds):
        if _above(lead[a], control):
            break
        got = a
    beyond = [lead[a] for a in ds if got is not None and a >= got]
    settled = bool(beyond) and all(
        (c := comparison(p.ticks, control.ticks)) is not None and c.high <= 1 + MIN_EFFECT
        for p in beyond
    )
    return Reach(ring, call, lead[0], control, got, ds[-1], lead[ds[-1]], settled)


def reaches(points: list[Point]) -> list[Reach]:
    """Every ring's reach, by ring: with direct calls where they were measured with their own
    control (they hide less), else with call reg."""
    out: dict[int, Reach] = {}
    far_direct = {p.experiment.buffer: p for p in measured(points) if p.plan.group == FAR_DIRECT}
    for call, controls in (("direct", far_direct), ("indirect", _far(points))):
        for ring, curve in sorted(_curves(points, call).items()):
            if ring in controls and ring not in out:
                r = reach(curve, ring, call, controls[ring])
                if r is not None:
                    out[ring] = r
    return [out[r] for r in sorted(out)]


def _fresh(points: list[Point], sizes: CacheSizes) -> list[Finding]:
    """Executing a line written shortly before, and the distance that removes the cost."""
    every = reaches(points)
    rows = [r for r in every if _above(r.at0, r.control)]
    if not rows:
        tried = sorted({r.ring for r in reaches(points)})
        if not tried:
            return []
        return [
            Finding(
                "code-age",
                "Executing a line right after writing it costs no more than the same loop"
                " storing into data at any ring measured"
                f" ({', '.join(map(format_size, tried))}).",
                "medium",
                {"rings": tried},
            )
        ]
    best = rows
    found = [r for r in best if r.reach is not None]
    open_ = [r for r in best if r.reach is None]
    unsettled = [r for r in found if not r.settled]

    def cell(r: Reach) -> str:
        ring = f"{format_size(r.ring)} ring" + (f", {r.name}" if len(calls) > 1 else "")
        head = f"{ring}: {r.at0.ticks.median:.0f} at A = 0, control {r.control.ticks.median:.0f}"
        if r.reach is None:
            return f"{head}, still {r.last.ticks.median:.0f} at A = {format_size(r.farthest)}"
        return f"{head}, down to it from A = {r.reach} B"

    calls = {r.call for r in best}
    control = (
        "its data control (the same loop, ring and call kind storing into data, measured in"
        " the same rounds)"
    )
    nums: dict[str, Any] = {
        "calls": {r.ring: r.call for r in best},
        "ahead_bytes": max((r.reach for r in found if r.reach is not None), default=None),
        "per_ring": {
            r.ring: {
                "at_slot": r.at0.ticks.median,
                "control": r.control.ticks.median,
                "reach": r.reach,
                "settled": r.settled,
            }
            for r in best
        },
    }
    most = nums["ahead_bytes"]
    if found and not open_:
        head = (
            "Executing a line written just before costs; written further ahead the cost falls"
            f" to {control}: from {where(most, sizes)} ahead at every ring where it costs"
        )
    elif found:
        head = (
            f"Executing a line written just before costs; written further ahead it falls to"
            f" {control} at {', '.join(format_size(r.ring) for r in found)} (from"
            f" {where(most, sizes)}), not within the distances measured at"
            f" {', '.join(format_size(r.ring) for r in open_)}"
        )
    else:
        head = (
            "Executing a line written just before costs, and no write-ahead distance measured"
            f" brings it down to {control}"
        )
    text = f"{head} ({'; '.join(cell(r) for r in best)} ticks/iter)."
    free = [r for r in every if r not in rows]
    if free:
        text += (
            f" At {', '.join(format_size(r.ring) for r in free)} even A = 0 costs no more than"
            " the control."
        )
    if calls == {"indirect"}:
        text += " Measured with call reg, whose own cost may hide a small remainder."
    elif len(calls) == 1:
        text += " Measured with direct calls."
    conf = confidence(*((r.at0.ticks, r.control.ticks) for r in rows))
    unstable = None
    if unsettled:
        unstable = (
            "the points beyond the distance are not settled within 5% of the control at"
            f" {', '.join(format_size(r.ring) for r in unsettled)}: the distance may move"
            " between runs"
        )
    return [Finding("code-age", text, conf, nums, unstable=unstable)]


def _old(
    curves: dict[int, dict[int, Measured]], far: dict[int, Measured], sizes: CacheSizes
) -> list[Finding]:
    """Code age at a fixed write-ahead distance: the same A at a small and at larger rings
    (the written line last ran ring - A bytes of code earlier), each net of its ring's data
    control, against the smallest ring's."""
    rings_ = sorted(r for r in curves if r in far)
    if len(rings_) < 2:
        return []
    small = rings_[0]
    common = [a for a in sorted(_lead(curves[small], small)) if a > 0]
    common = [a for a in common if all(a in _lead(curves[r], r) for r in rings_)]
    if not common:
        return []
    a = max(common)
    base = curves[small][a]
    rows = []
    for r in rings_[1:]:
        p = curves[r][a]
        rows.append((r, p, net(p.ticks, far[r].ticks, far[small].ticks)))
    older = [x for x in rows if x[2].median > base.ticks.median and differs(x[2], base.ticks)]
    cheaper = [x for x in rows if x[2].median < base.ticks.median and differs(x[2], base.ticks)]

    def cell(r: int, p: Measured) -> str:
        return (
            f"{format_size(r)} ({sizes.relate(r)}): {p.ticks.median:.0f} vs"
            f" {far[r].ticks.median:.0f}"
        )

    cells = "; ".join([cell(small, base), *(cell(r, p) for r, p, _ in rows)])
    nums: dict[str, Any] = {
        "ahead": a,
        "penalty": {r: curves[r][a].ticks.median - far[r].ticks.median for r in rings_},
        "older_costs_more": [r for r, _, _ in older],
        "older_costs_less": [r for r, _, _ in cheaper],
        "l1i": sizes.l1i,
        "l2": sizes.l2,
    }
    lead = (
        f"Written A = {a} B ahead, a line last executed longer ago (a larger ring: ring - A"
        " bytes of code since it ran)"
    )
    tail = f" (each ring against its data control: {cells} ticks/iter)."
    if not older and not cheaper:
        text = f"{lead} costs no more over its data control than at {format_size(small)}{tail}"
        conf = no_difference(base.ticks, *(x for _, _, x in rows))
    elif older and not cheaper:
        text = (
            f"{lead} costs more over its data control at"
            f" {', '.join(format_size(r) for r, _, _ in older)} than at {format_size(small)}{tail}"
        )
        conf = confidence(*((x, base.ticks) for _, _, x in older))
    elif cheaper and not older:
        text = (
            f"{lead} costs less over its data control at"
            f" {', '.join(format_size(r) for r, _, _ in cheaper)} than at {format_size(small)}"
            f"{tail}"
        )
        conf = confidence(*((x, base.ticks) for _, _, x in cheaper))
    else:
        text = (
            f"{lead} has no consistent effect: more over its data control at"
            f" {', '.join(format_size(r) for r, _, _ in older)}, less at"
            f" {', '.join(format_size(r) for r, _, _ in cheaper)}{tail}"
        )
        conf = "low"
    return [Finding("code-age", text, conf, nums)]


def _just_run(curves: dict[int, dict[int, Measured]]) -> list[Finding]:
    """Writing the line executed one iteration before (A = ring - 64)."""
    rows = []
    for ring, curve in sorted(curves.items()):
        last, lead = curve.get(ring - STEP), _lead(curve, ring)
        others = [p for a, p in lead.items() if a > 0 and a != ring - STEP]
        if last is None or not others:
            continue
        best = min(others, key=lambda p: p.ticks.median)
        if differs(last.ticks, best.ticks) and last.ticks.median > best.ticks.median:
            rows.append((ring, last, best))
    if not rows:
        return []
    parts = "; ".join(
        f"{format_size(r)}: {last.ticks.median:.0f} vs {best.ticks.median:.0f}"
        for r, last, best in rows
    )
    return [
        Finding(
            "code-age",
            "Writing the line executed one iteration before (A = ring - 64) costs more than"
            f" writing further from it ({parts} ticks/iter).",
            confidence(*((last.ticks, best.ticks) for _, last, best in rows)),
            {"just_executed": {r: last.ticks.median for r, last, _ in rows}},
        )
    ]


def _lower(a: Stats, b: Stats) -> bool:
    """``a`` is lower than ``b`` by a difference the rounds support."""
    return a.median < b.median and differs(a, b)


def _calls(points: list[Point], reg: dict[int, dict[int, Measured]]) -> list[Finding]:
    """Call kinds against call reg at the same ring and distance. Where the kind has its own
    data control at that ring (call rel32), its point is taken net of it (plus call reg's
    control): the penalties are compared, not the calls' own costs (see :func:`_floor`)."""
    out = []
    own = {p.experiment.buffer: p for p in measured(points) if p.plan.group == FAR_DIRECT}
    far = _far(points)
    for call in ("retpoline", "direct"):
        pairs: list[tuple[int, int, Stats, Stats]] = []
        netted = True
        for ring, curve in sorted(_curves(points, call).items()):
            for a, p in sorted(curve.items()):
                if a not in reg.get(ring, {}):
                    continue
                if call == "direct" and ring in own and ring in far:
                    pairs.append(
                        (
                            ring,
                            a,
                            net(p.ticks, own[ring].ticks, far[ring].ticks),
                            reg[ring][a].ticks,
                        )
                    )
                else:
                    netted = False
                    pairs.append((ring, a, p.ticks, reg[ring][a].ticks))
        if not pairs:
            continue
        name = "a retpoline" if call == "retpoline" else "call rel32 to each slot"
        how = (
            " (each net of its own data control: penalty against penalty)"
            if netted
            else " (totals, each call's own cost included)"
        )

        def cell(x: tuple[int, int, Stats, Stats]) -> str:
            r, a, p, q = x
            return f"{format_size(r)} A={a}: {p.median:.0f} vs {q.median:.0f}"

        lower = [x for x in pairs if _lower(x[2], x[3])]
        higher = [x for x in pairs if _lower(x[3], x[2])]
        same = [x for x in pairs if x not in lower and x not in higher]
        rest = f"{len(same)} of {len(pairs)}"
        if not lower and not higher:
            text = (
                f"Calling through {name} changes nothing measurable against call reg{how}"
                f" ({'; '.join(map(cell, pairs))} ticks/iter)."
            )
            conf = no_difference(*(x for _, _, p, q in pairs for x in (p, q)))
        elif lower and higher and (split := _split_by_distance(lower, higher)):
            first, then, at = split
            below, above = (lower, higher) if first == "cheaper" else (higher, lower)
            text = (
                f"Calling through {name} against call reg at the same ring and distance{how}"
                f" depends on how far ahead the line is written: {first} at every pair that"
                f" differs written less than {at} B ahead ({'; '.join(map(cell, below))}),"
                f" {then} at every one written {at} B ahead or more"
                f" ({'; '.join(map(cell, above))})"
                + (f"; no measurable difference at the other {rest} pairs" if same else "")
                + " (ticks/iter)."
            )
            conf = confidence(*((p, q) for _, _, p, q in lower + higher))
        elif lower and higher:
            text = (
                f"Calling through {name} has no consistent effect against call reg at the same"
                f" ring and distance{how}: lower at {'; '.join(map(cell, lower))}; higher at"
                f" {'; '.join(map(cell, higher))}; no measurable difference at the other {rest}"
                " pairs (ticks/iter)."
            )
            conf = "low"
        else:
            moved, verb = (lower, "lowers") if lower else (higher, "raises")
            text = (
                f"Calling through {name} {verb} the cost against call reg{how} at"
                f" {'; '.join(map(cell, moved))} ticks/iter"
                + (f"; no measurable difference at the other {rest} pairs." if same else ".")
            )
            conf = confidence(*((p, q) for _, _, p, q in moved))
        out.append(
            Finding(
                "code-age",
                text,
                conf,
                {
                    f"{call}_vs_indirect": {
                        f"{r}/{a}": p.median / q.median for r, a, p, q in pairs
                    },
                    "lower": [f"{r}/{a}" for r, a, _, _ in lower],
                    "higher": [f"{r}/{a}" for r, a, _, _ in higher],
                    "net_of_own_control": netted,
                },
                unstable=base.unsettled(
                    (f"{format_size(r)} A={a}", p, q) for r, a, p, q in (lower + higher or pairs)
                ),
            )
        )
    return out


def _split_by_distance(
    lower: list[tuple[int, int, Stats, Stats]], higher: list[tuple[int, int, Stats, Stats]]
) -> tuple[str, str, int] | None:
    """A write-ahead distance that separates the pairs going one way from those going the
    other (the model: the call kind's effect changes sign with the distance, whatever the
    ring): ("cheaper", "dearer", T) when every lower pair is written less than T ahead and
    every higher one T or more, the reverse likewise; None when the two interleave."""
    lo = sorted(a for _, a, _, _ in lower)
    hi = sorted(a for _, a, _, _ in higher)
    if lo[-1] < hi[0]:
        return "cheaper", "dearer", hi[0]
    if hi[-1] < lo[0]:
        return "dearer", "cheaper", lo[0]
    return None


def _floor(points: list[Point]) -> list[Finding]:
    """The call kind sets the floor of any ring: the loop storing into data with call reg and
    with call rel32 to each slot, at the rings where both were measured."""
    direct = {p.experiment.buffer: p for p in measured(points) if p.plan.group == FAR_DIRECT}
    reg = _far(points)
    rows = [(r, reg[r], direct[r]) for r in sorted(direct) if r in reg]
    if not rows:
        return []
    cells = "; ".join(
        f"{format_size(r)}: {a.ticks.median:.0f} vs {b.ticks.median:.0f}" for r, a, b in rows
    )
    lower = [r for r, a, b in rows if _lower(b.ticks, a.ticks)]
    higher = [r for r, a, b in rows if _lower(a.ticks, b.ticks)]
    nums = {
        "call_reg": {r: a.ticks.median for r, a, _ in rows},
        "direct": {r: b.ticks.median for r, _, b in rows},
    }
    head = "storing into data (no code modified), call reg against call rel32 to each slot costs"
    if lower and not higher:
        text = (
            f"The call kind sets the floor of a ring: {head} {cells} ticks/iter; call rel32 is"
            f" cheaper at {', '.join(format_size(r) for r in lower)}, so a write-ahead ring"
            " measured with call reg cannot go below call reg's own cost."
        )
        conf = confidence(*((b.ticks, a.ticks) for r, a, b in rows if r in lower))
    elif higher and not lower:
        text = f"{head.capitalize()} {cells} ticks/iter: call reg is cheaper here."
        conf = confidence(*((a.ticks, b.ticks) for r, a, b in rows if r in higher))
    elif not lower and not higher:
        text = f"{head.capitalize()} {cells} ticks/iter: the call kind changes nothing here."
        conf = no_difference(*(x.ticks for _, a, b in rows for x in (a, b)))
    else:
        text = f"{head.capitalize()} {cells} ticks/iter: no consistent difference."
        conf = "low"
    why = base.unsettled((format_size(r), a.ticks, b.ticks) for r, a, b in rows)
    return [Finding("code-age", text, conf, nums, unstable=why)]


def findings(points: list[Point], host: Host) -> list[Finding]:
    sizes = CacheSizes.of(host)
    curves = _curves(points, "indirect")
    if not curves:
        return []
    return [
        *_fresh(points, sizes),
        *_old(curves, _far(points), sizes),
        *_just_run(curves),
        *_calls(points, curves),
        *_floor(points),
    ]


def facts(found: list[Finding], points: list[Point], host: Host) -> list[base.Fact]:
    """The write-ahead distance from which executing fresh code costs no more than its data
    control (0: it never cost; "no single distance": some ring never got there). The code-age
    finding asks about a line's age at a fixed distance, no ring threshold: no fact of it."""
    out: list[base.Fact] = []

    def indirect(label: str) -> bool:
        return " A=" in label and label.count(" ") == 1 or label.endswith("far-store")

    ev = base.labels(points, indirect)
    for f in found:
        n = f.numbers
        if "ahead_bytes" in n or "rings" in n:
            value = 0 if "rings" in n else n["ahead_bytes"]
            value = "no single distance" if value is None else value
            out.append(base.Fact("write_ahead_bytes", value, "bytes", f.confidence, f.probe, ev))
    return out


def planned_for(host: Host, quick: bool) -> list[PlanPoint]:
    """The points as planned on ``host`` (its rings follow its caches)."""
    return plan(CacheSizes.of(host), quick)


PROBE = ProbeSpec(
    "code-age",
    "Code age and write-ahead: ring size x write-ahead distance x call kind (step 64)",
    points,
    findings,
    Curve(
        "Ticks/iter against the write-ahead distance, one line per ring and call kind",
        "A (bytes ahead)",
        ref="4K far-store",
    ),
    facts=facts,
    planned_for=planned_for,
)
