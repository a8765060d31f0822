"""Granularity: which stores near a fixed executed byte cost, stated in cache lines relative to
the executed line. Ordinary stores (a 1-byte and an 8-byte ``mov``, and one full-line vector
store where the CPU has avx512) on both sides of the executed byte; the ``rep movsb``
destinations below and above it are a separate question (a rep string need not store as
ordinary stores do); stores at the same offset in other pages ask about 4K aliasing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from smclab.isa import vocabulary as vocab
from smclab.model.fit import LINE
from smclab.model.knobs import format_size
from smclab.model.rounds import MIN_EFFECT
from smclab.model.stats import comparison, confidence, differs

from . import base
from .base import Finding, Host, Measured, PlanPoint, Point, ProbeSpec, measured, pp
from .plot import Curve, Mark

ORDER = 20
K = 1024
#: the executed slot: mid-buffer, line- and page-aligned
GRAN_BUFFER, GRAN_ORIGIN = 64 * K, 32 * K
#: a store costs when it differs from the far-store control (model/stats) by at least this
#: share of the kind's largest penalty: a small real effect beside a large one is not "costs"
MINOR = 0.1
#: the store kinds: copy method -> (distances after the executed byte, before it), in bytes
#: (a store before must lie wholly below the executed byte: distance >= width)
_NEAR = (0, 1, 32, 63, 64, 96, 127, 128, 192, 256, 512, K, 4 * K)
_BELOW = (1, 32, 64, 65, 96, 128, 129, 192, 256, 512, K, 4 * K)
STORES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "mov8": (_NEAR, _BELOW),
    "mov64": ((0, 56, 64, 120, 128, 256, K), (8, 64, 72, 128, 136, 256, K)),
    "avx512": ((0, 64, 128, 256), (64, 128, 192, 256)),
    "rep-movsb": ((0, 32, 63, 64, 128, 256), (1, 32, 64, 96, 128, 256)),
}
QUICK_STORES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "mov8": ((0, 63, 64, 128, 256), (1, 64, 65, 128, 129, 256)),
    "mov64": ((0, 64, 128), (8, 64, 72, 128)),
    "avx512": ((0, 64, 128), (64, 128)),
    "rep-movsb": ((0, 64, 128), (1, 64, 96, 128)),
}
#: the 4K aliasing question: a 1-byte mov at the executed byte's offset in other pages
ALIASED = (4 * K, 8 * K, 12 * K, 16 * K)
ALIAS_COPY = "mov8"
#: whose first free distance the plot marks
MARKED = "mov8"


def _slot(copy: str) -> dict[str, object]:
    return {
        "buffer": GRAN_BUFFER,
        "origin": GRAN_ORIGIN,
        "copy": copy,
        "payload": vocab.COPIES[copy].width,
    }


def points(quick: bool) -> list[PlanPoint]:
    table = QUICK_STORES if quick else STORES
    out = [pp("far-store", None, "control", store="far", **_slot("rep-movsb"))]
    for copy, (after, before) in table.items():
        if copy != "rep-movsb":  # the same store into data: this kind's own control
            out.append(pp(f"{copy} far", None, "control", store="far", **_slot(copy)))
        out += [pp(f"{copy} +{d}", d, f"{copy} after", ahead=d, **_slot(copy)) for d in after]
        out += [pp(f"{copy} -{d}", d, f"{copy} before", ahead=-d, **_slot(copy)) for d in before]
    out += [
        pp(f"{s}{format_size(d)}", d, f"aliased{s}", ahead=d if s == "+" else -d, **_slot("mov8"))
        for d in ALIASED
        for s in "+-"
        if not quick or d == 4 * K
    ]
    return out


def line_of(distance: int) -> int:
    """The cache line of a byte ``distance`` bytes from the executed byte (at a line start),
    relative to the executed line: 0 .. 63 -> 0, -1 .. -64 -> -1, 64 .. 127 -> 1."""
    return distance // LINE


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else str(n).replace("-", "−")


def _lines(ns: Sequence[int]) -> str:
    """``line 0``, ``lines −1 and 0``, ``lines −2, −1 and 0``."""
    items = [_signed(n) if n else "0" for n in sorted(ns)]
    if len(items) == 1:
        return f"line {items[0]}"
    return f"lines {', '.join(items[:-1])} and {items[-1]}"


@dataclass
class LineMap:
    """One store kind's costs, by line relative to the executed line."""

    kind: str
    ref: Measured
    by_line: dict[int, list[tuple[int, bool]]]  # line -> (distance, costs) in distance order
    worst: Measured
    costly: list[Measured]

    @property
    def costing_lines(self) -> list[int]:
        return sorted(n for n, ds in self.by_line.items() if all(c for _, c in ds))

    @property
    def mixed_lines(self) -> list[int]:
        return sorted(
            n
            for n, ds in self.by_line.items()
            if any(c for _, c in ds) and not all(c for _, c in ds)
        )

    def free_from(self, side: int) -> int | None:
        """The nearest line on ``side`` (+1 above, -1 below) from which no measured store
        costs, as far as measured (None: the farthest measured line still costs)."""
        lines = sorted((n for n in self.by_line if (n > 0 if side > 0 else n < 0)), key=abs)
        free = None
        for n in reversed(lines):
            if any(c for _, c in self.by_line[n]):
                break
            free = n
        return free

    def first_free_distance(self) -> int | None:
        """The smallest distance after the executed byte from which no store costs."""
        ds = sorted(d for n, pts in self.by_line.items() for d, _ in pts if d >= 0)
        cost = {d: c for pts in self.by_line.values() for d, c in pts}
        free = None
        for d in reversed(ds):
            if cost[d]:
                break
            free = d
        return free


def line_map(kind: str, pts: list[Measured], ref: Measured) -> LineMap | None:
    if not pts:
        return None
    worst = max(pts, key=lambda p: p.ticks.median)
    top = worst.ticks.median - ref.ticks.median

    def costs(p: Measured) -> bool:
        gain = p.ticks.median - ref.ticks.median
        return gain > 0 and gain >= MINOR * top and differs(p.ticks, ref.ticks)

    by_line: dict[int, list[tuple[int, bool]]] = {}
    for p in sorted(pts, key=lambda p: p.experiment.ahead):
        d = p.experiment.ahead
        by_line.setdefault(line_of(d), []).append((d, costs(p)))
    return LineMap(kind, ref, by_line, worst, [p for p in pts if costs(p)])


def describe(m: LineMap, what: str) -> str:
    """The line map as a sentence: which lines cost, which partly, where it stops."""
    ref = m.ref.ticks.median
    if not m.costly:
        return (
            f"{what.capitalize()} near the executed byte cost nothing measurable: at most"
            f" {m.worst.ticks.median:.0f} ticks/iter against {ref:.0f} storing into data."
        )
    parts = []
    costing = m.costing_lines
    if costing:
        parts.append(
            f"cost in {_lines(costing)} (relative to the executed line; up to"
            f" {m.worst.ticks.median:.0f} ticks/iter against {ref:.0f} storing into data)"
        )
    else:
        parts.append(f"cost up to {m.worst.ticks.median:.0f} ticks/iter (data: {ref:.0f})")
    for n in m.mixed_lines:
        yes = [_signed(d) for d, c in m.by_line[n] if c]
        no = [_signed(d) for d, c in m.by_line[n] if not c]
        parts.append(
            f"in line {_signed(n) if n else '0'} only partly (at {', '.join(yes)} bytes but not"
            f" at {', '.join(no)})"
        )
    ends = []
    for side, word in ((1, "after"), (-1, "before")):
        free = m.free_from(side)
        measured_side = [n for n in m.by_line if (n > 0 if side > 0 else n < 0)]
        if not measured_side:
            continue
        far = max(measured_side, key=abs)
        if free is None:
            ends.append(
                f"{word} it stores still cost at line {_signed(far)}, the farthest measured"
            )
        else:
            hit = [n for n in m.by_line if n * side > 0 and any(c for _, c in m.by_line[n])]
            last = max((abs(n) for n in hit), default=0)
            lo, hi = (last + 1) * side, free - side
            gap = (
                ""
                if abs(free) <= last + 1
                else f" (line {_signed(lo)} not measured)"
                if lo == hi
                else f" (lines {_signed(lo)} to {_signed(hi)} not measured)"
            )
            ends.append(f"{word} it nothing from line {_signed(free)} on{gap}")
    text = f"{what.capitalize()} {'; '.join(parts)}"
    if ends:
        text += "; " + ", ".join(ends) + f"; measured up to ±{_farthest(m)}"
    return text + "."


def _farthest(m: LineMap) -> str:
    d = max(abs(d) for pts in m.by_line.values() for d, _ in pts)
    return format_size(d) if d >= K else f"{d} bytes"


#: how a finding names each store kind
NAMES = {
    "mov8": "1-byte mov stores",
    "mov64": "8-byte mov stores",
    "avx512": "full-line (64-byte vmovdqu64) stores",
    "rep-movsb": "rep movsb destinations",
}


def aliased(p: Measured) -> bool:
    """A store at the executed byte's offset in another page (the 4K aliasing question)."""
    d = p.experiment.ahead
    return d != 0 and d % (4 * K) == 0


def findings(points: list[Point], host: Host) -> list[Finding]:
    pts = measured(points)
    controls = {p.experiment.copy: p for p in pts if p.experiment.store == "far"}
    if not controls:
        return []
    ref = controls.get("rep-movsb") or next(iter(controls.values()))
    near: dict[str, dict[int, Measured]] = {}  # kind -> distance -> point
    far: dict[tuple[str, int], Measured] = {}
    for p in pts:
        if p.experiment.store == "exec":
            e = p.experiment
            if aliased(p):
                far[(e.copy, e.ahead)] = p
            else:
                near.setdefault(e.copy, {})[e.ahead] = p
    out: list[Finding] = []
    for kind, by_d in near.items():
        own = controls.get(kind, ref)  # the same store into data
        m = line_map(kind, list(by_d.values()), own)
        if m is None:
            continue
        nums: dict[str, object] = {
            "kind": kind,
            "far_store_ticks": own.ticks.median,
            "worst_ticks": m.worst.ticks.median,
            "costing_lines": m.costing_lines,
            "partly_costing_lines": m.mixed_lines,
            "free_from_line_after": m.free_from(1),
            "free_from_line_before": m.free_from(-1),
            "costly_distances": sorted(p.experiment.ahead for p in m.costly),
        }
        if kind == MARKED:
            nums["free_after_bytes"] = m.first_free_distance()
        conf = (
            confidence((m.worst.ticks, own.ticks))
            if m.costly
            else ("high" if not differs(m.worst.ticks, own.ticks) else "low")
        )
        what = NAMES.get(kind, f"{kind} stores")
        if vocab.COPIES[kind].rep:
            widths = sorted({p.experiment.payload for p in by_d.values()})
            what += f" ({'/'.join(map(str, widths))} byte{'s' if widths != [1] else ''})"
        why = _unsettled(list(by_d.values()), own, m.worst)
        out.append(Finding("granularity", describe(m, what), conf, nums, unstable=why))
    # the aliased stores' verdict is judged on the scale of the executed line's penalty
    executed = [p for by_d in near.values() for p in by_d.values()]
    scale = max(executed, key=lambda p: p.ticks.median) if executed else None
    out += _aliasing(list(far.values()), controls.get(ALIAS_COPY, ref), scale)
    return out


def _unsettled(pts: list[Measured], ref: Measured, worst: Measured) -> str | None:
    """Why a line map (or the aliasing verdict) may move between runs: a distance whose
    interval of the per-round ratio to its control straddles the line between "costs" and
    "does not" (MINOR of the largest penalty, at least MIN_EFFECT), so the rounds decide it
    either way; None when every distance falls clearly on one side."""
    top = max(worst.ticks.median - ref.ticks.median, 0.0)
    line = 1 + max(MIN_EFFECT, MINOR * top / ref.ticks.median)
    torn = []
    for p in sorted(pts, key=lambda p: p.experiment.ahead):
        c = comparison(p.ticks, ref.ticks)
        if c is None or c.low <= line <= c.high:
            torn.append(_signed(p.experiment.ahead))
    if not torn:
        return None
    shown = ", ".join(torn[:4]) + (f" and {len(torn) - 4} more" if len(torn) > 4 else "")
    return (
        f"the rounds do not settle whether the stores at {shown} bytes cost: the verdict may"
        " change between runs"
    )


def _aliasing(pts: list[Measured], ref: Measured, scale: Measured | None) -> list[Finding]:
    if not pts:
        return []
    top = max(pts, key=lambda p: p.ticks.median)
    worst = max(top, scale, key=lambda p: p.ticks.median) if scale is not None else top
    hurt = [p for p in pts if p.ticks.median > ref.ticks.median and differs(p.ticks, ref.ticks)]
    nums: dict[str, object] = {
        "aliased": {_signed(p.experiment.ahead): p.ticks.median for p in pts},
        "far_store_ticks": ref.ticks.median,
    }
    if hurt:
        text = (
            f"4K aliasing matters: stores at {', '.join(_signed(p.experiment.ahead) for p in hurt)}"
            f" (same page offset as the executed code, other page) cost up to"
            f" {top.ticks.median:.0f} ticks/iter against {ref.ticks.median:.0f}."
        )
        why = _unsettled(pts, ref, worst)
        return [
            Finding("granularity", text, confidence((top.ticks, ref.ticks)), nums, unstable=why)
        ]
    text = (
        f"4K aliasing does not matter: stores at the same page offset in other pages cost at"
        f" most {top.ticks.median:.0f} ticks/iter, like the far-store control"
        f" ({ref.ticks.median:.0f})."
    )
    return [
        Finding(
            "granularity",
            text,
            "high" if not differs(top.ticks, ref.ticks) else "low",
            nums,
            unstable=_unsettled(pts, ref, worst),
        )
    ]


def facts(found: list[Finding], points: list[Point], host: Host) -> list[base.Fact]:
    """The lines (relative to the executed one) where 1-byte stores and rep movsb cost."""
    out: list[base.Fact] = []
    for f in found:
        k = f.numbers.get("kind")
        if k in ("mov8", "rep-movsb"):

            def of_kind(label: str, k: str = str(k)) -> bool:
                return label.startswith(f"{k} ")

            ev = base.labels(points, of_kind)
            name = k.replace("-", "_")
            out += base.from_numbers(
                f,
                {
                    f"lines_{name}": ("costing_lines", "lines"),
                    f"partly_lines_{name}": ("partly_costing_lines", "lines"),
                },
                ev,
            )
    return out


PROBE = ProbeSpec(
    "granularity",
    "Granularity: which stores near the executed byte cost, by cache line",
    points,
    findings,
    Curve(
        "Penalty against the distance from the executed byte",
        "distance D (bytes; before: stores below the executed byte)",
        groups=tuple(f"{c} {side}" for c in STORES for side in ("after", "before")),
        ref="far-store",
        mark=Mark("free_after_bytes", "1-byte mov: nothing from {:g} B"),
    ),
    facts=facts,
)
