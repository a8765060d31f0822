"""Code age and write-ahead across the cache hierarchy: ring size x write-ahead x call kind.

The seed loop moves through a ring of R bytes in 64-byte steps and stores A bytes ahead of the
slot it calls. The line it writes is executed A bytes (A/64 iterations) later, and was last
executed R - A bytes of code earlier. Sweeping A at ring sizes from 4K to beyond L2 asks:

* does *executing* a line written shortly before cost (small A), and from which A on not;
* does *writing* a line executed long ago cost (the plateau against the same copy into data
  at that ring), and from which ring size on not, in relation to the L1I and L2 sizes;
* does writing the line executed just before (A = R - 64) cost;
* does the call kind (call reg, call rel32 unrolled, retpoline) change either.

The rings are planned from the caches of the machine that runs the probe; the findings read
the sizes from the host facts stored with the results.
"""

from __future__ import annotations

from smclab.model.caches import CacheSizes, pages
from smclab.model.knobs import format_size
from smclab.model.stats import confidence, differs, no_difference
from smclab.run import machine

from . import base
from .base import Finding, Host, Measured, PlanPoint, Point, ProbeSpec, measured, pp
from .plot import Curve

ORDER = 30
K = 1024
STEP = 64
#: a point within this factor of the best of its ring is "as good" (or 2 spreads, if larger)
TOLERANCE = 0.1
#: rings where a direct call (the loop unrolled over the ring) is measured
DIRECT_MAX_RING = 512 * STEP


def rings(sizes: CacheSizes, quick: bool) -> list[int]:
    """4K, L1I and L2 and beyond (full: halves and doubles too), whole pages, at most 64M."""
    if quick:
        wanted = [4 * K, sizes.l1i, sizes.l2, 4 * sizes.l2]
    else:
        wanted = [4 * K, sizes.l1i // 2, sizes.l1i, 2 * sizes.l1i, sizes.l2 // 2, sizes.l2]
        wanted += [2 * sizes.l2, 4 * sizes.l2]
    return sorted({min(pages(r), 64 * K * K) for r in wanted})


def aheads(ring: int, quick: bool) -> list[int]:
    """Write-ahead distances at one ring: short ones, then up to the line executed last."""
    wanted = [0, 128, K, ring // 2, ring - STEP]
    if not quick:
        wanted += [64, 256, 512, 4 * K, ring // 4]
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
    for r in [r for r in rs if r <= DIRECT_MAX_RING][:2]:  # call rel32 to each slot
        out += _called(r, "direct", (0, K), layout="near")
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
    return {p.experiment.buffer: p for p in measured(points) if p.plan.group == "far-store"}


def _lead(curve: dict[int, Measured], ring: int) -> dict[int, Measured]:
    """The distances where the written line is executed later (not the line just executed)."""
    return {a: p for a, p in curve.items() if a < ring - STEP}


def _enough(curve: dict[int, Measured]) -> tuple[int | None, Measured]:
    """(the smallest A from which every larger A stays near the best, the best point)."""
    best = min(curve.values(), key=lambda p: p.ticks.median)
    tol = 1 + max(TOLERANCE, 2 * best.ticks.spread)
    near = [a for a in sorted(curve) if curve[a].ticks.median <= best.ticks.median * tol]
    for a in near:
        if all(curve[b].ticks.median <= best.ticks.median * tol for b in curve if b >= a):
            return a, best
    return None, best


def _fresh(curves: dict[int, dict[int, Measured]], sizes: CacheSizes) -> list[Finding]:
    """Executing a line written shortly before."""
    rows = []
    for ring, curve in sorted(curves.items()):
        lead = _lead(curve, ring)
        if 0 not in lead or len(lead) < 2:
            continue
        enough, best = _enough(lead)
        if differs(lead[0].ticks, best.ticks) and lead[0].ticks.median > best.ticks.median:
            rows.append((ring, lead[0], enough, best))
    if not rows:
        tried = [r for r, c in curves.items() if 0 in c and len(_lead(c, r)) >= 2]
        if not tried:
            return []
        return [
            Finding(
                "code-age",
                "Executing a line right after writing it costs no more than writing further"
                f" ahead at any ring measured ({', '.join(map(format_size, sorted(tried)))}).",
                "medium",
                {"rings": sorted(tried)},
            )
        ]
    parts = []
    for ring, at0, enough, best in rows:
        where = f"from A = {enough} B" if enough is not None else f"only at A = {best.plan.x:.0f}"
        parts.append(
            f"{format_size(ring)} ring: {at0.ticks.median:.0f} at A = 0, {best.ticks.median:.0f}"
            f" {where}"
        )
    needed = [e for _, _, e, _ in rows if e is not None]
    most = max(needed) if needed else None
    head = (
        f"Executing a line written just before costs: writing {most} bytes or more ahead"
        f" (≥ {most // STEP} iterations before the line runs) removes that part"
        if most is not None
        else "Executing a line written just before costs, and no single write-ahead distance"
        " removes it at every ring"
    )
    text = (
        f"{head} ({'; '.join(parts)} ticks/iter). L1D is {format_size(sizes.l1d)}: the"
        " distance is in lines of code, far below it."
        if most is not None and most < sizes.l1d
        else f"{head} ({'; '.join(parts)} ticks/iter)."
    )
    return [
        Finding(
            "code-age",
            text,
            confidence(*((at0.ticks, best.ticks) for _, at0, _, best in rows)),
            {
                "ahead_bytes": most,
                "per_ring": {
                    r: {"at_slot": a.ticks.median, "best": b.ticks.median, "enough": e}
                    for r, a, e, b in rows
                },
            },
        )
    ]


def _old(
    curves: dict[int, dict[int, Measured]], far: dict[int, Measured], sizes: CacheSizes
) -> list[Finding]:
    """Writing a line executed long ago: each ring's best against its far-store control."""
    rows = []
    for ring, curve in sorted(curves.items()):
        lead = _lead(curve, ring)
        if ring not in far or not lead:
            continue
        best = min(lead.values(), key=lambda p: p.ticks.median)
        rows.append((ring, best, far[ring], differs(best.ticks, far[ring].ticks)))
    if not rows:
        return []
    nums = {
        "plateau": {r: b.ticks.median for r, b, _, _ in rows},
        "far_store": {r: f.ticks.median for r, _, f, _ in rows},
        "l1i": sizes.l1i,
        "l2": sizes.l2,
    }
    costly = [r for r, b, f, d in rows if d and b.ticks.median > f.ticks.median]
    free = [r for r, b, f, d in rows if r not in costly]
    vanish = next((r for r, _, _, _ in rows if r > max(costly, default=0) and r in free), None)

    def cell(r: int) -> str:
        _, b, f, _ = next(x for x in rows if x[0] == r)
        return f"{format_size(r)} ({sizes.relate(r)}): {b.ticks.median:.0f} vs {f.ticks.median:.0f}"

    if not costly:
        text = (
            "Writing a line executed long ago shows no cost the rounds support: at no ring does"
            " the best write-ahead point differ from the same copy into data"
            f" ({'; '.join(cell(r) for r, *_ in rows)} ticks/iter)."
        )
        nums["vanishes_at_ring"] = rows[0][0]
        conf = no_difference(*(x.ticks for _, b, f, _ in rows for x in (b, f)))
    elif vanish is None:
        text = (
            "Writing a line executed long ago still costs at every ring measured, up to"
            f" {format_size(rows[-1][0])} ({sizes.relate(rows[-1][0])}): best write-ahead point"
            f" against the same copy into data: {'; '.join(cell(r) for r, *_ in rows)}"
            " ticks/iter."
        )
        nums["vanishes_at_ring"] = None
        conf = confidence(*((b.ticks, f.ticks) for r, b, f, _ in rows if r in costly))
    else:
        text = (
            f"Writing a line executed long ago costs up to ring {format_size(max(costly))}"
            f" ({sizes.relate(max(costly))}) and no more than the same copy into data from"
            f" ring {format_size(vanish)} ({sizes.relate(vanish)}) on, where the written line"
            f" was last executed {format_size(vanish)} of code earlier: best write-ahead point"
            f" against the data copy: {'; '.join(cell(r) for r, *_ in rows)} ticks/iter."
        )
        nums["vanishes_at_ring"] = vanish
        conf = confidence(*((b.ticks, f.ticks) for r, b, f, _ in rows if r in costly))
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


def _calls(points: list[Point], base: dict[int, dict[int, Measured]]) -> list[Finding]:
    """Call kinds against call reg at the same ring and distance."""
    out = []
    for call in ("retpoline", "direct"):
        pairs = [
            (ring, a, p, base[ring][a])
            for ring, curve in sorted(_curves(points, call).items())
            for a, p in sorted(curve.items())
            if a in base.get(ring, {})
        ]
        moved = [x for x in pairs if differs(x[2].ticks, x[3].ticks)]
        if not pairs:
            continue
        cells = "; ".join(
            f"{format_size(r)} A={a}: {p.ticks.median:.0f} vs {q.ticks.median:.0f}"
            for r, a, p, q in pairs
        )
        name = "a retpoline" if call == "retpoline" else "call rel32 to each slot"
        if not moved:
            text = f"Calling through {name} changes nothing measurable against call reg ({cells})."
            conf = no_difference(*(x.ticks for _, _, p, q in pairs for x in (p, q)))
        else:
            lower = [x for x in moved if x[2].ticks.median < x[3].ticks.median]
            how = "lowers" if len(lower) == len(moved) else "raises" if not lower else "changes"
            text = f"Calling through {name} {how} the cost against call reg ({cells} ticks/iter)."
            conf = confidence(*((p.ticks, q.ticks) for _, _, p, q in moved))
        out.append(
            Finding(
                "code-age",
                text,
                conf,
                {
                    f"{call}_vs_indirect": {
                        f"{r}/{a}": p.ticks.median / q.ticks.median for r, a, p, q in pairs
                    }
                },
            )
        )
    return out


def findings(points: list[Point], host: Host) -> list[Finding]:
    sizes = CacheSizes.of(host)
    curves = _curves(points, "indirect")
    if not curves:
        return []
    return [
        *_fresh(curves, sizes),
        *_old(curves, _far(points), sizes),
        *_just_run(curves),
        *_calls(points, curves),
    ]


def facts(found: list[Finding], points: list[Point], host: Host) -> list[base.Fact]:
    """The write-ahead distance that removes the cost of executing fresh code, and the ring
    from which rewriting old code costs no more than writing data (call reg rings)."""
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
        elif "vanishes_at_ring" in n:
            ring = n["vanishes_at_ring"]
            value = "costs at every ring" if ring is None else ring
            out.append(
                base.Fact("old_code_free_from_ring", value, "bytes", f.confidence, f.probe, ev)
            )
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
