"""A store split across a page boundary: one 8-byte mov into the executed slot at page offset
4092 (its last 4 bytes on the next page) against the same store not split (4088, the same
executed line), each into the executed line and into data (the same offsets of a data buffer).

The extra into data is the store's own cost (no code is modified there); net of it, the
executed line says whether the split changes the SMC penalty too (:mod:`.sided`). The full run
adds a store split across two lines of one page (4028), into data, to tell a page split from a
line split.
"""

from __future__ import annotations

from typing import Any

from smclab.model.result import Stats

from . import sided
from .base import Finding, Host, Measured, PlanPoint, Point, ProbeSpec, labelled, pp
from .plot import Bars
from .sided import FAR

ORDER = 17
PAGE = 4096
#: one 8-byte mov (the payload: ret + 7 nops), in a two-page buffer, step 0
STORE: dict[str, Any] = {"buffer": 2 * PAGE, "copy": "mov64", "payload": 8}
WIDTH = STORE["payload"]
#: page offsets of the store (the executed slot, step 0): in one line, across the page
#: boundary, across a line boundary within the page
ONE_LINE, PAGE_SPLIT, LINE_SPLIT = PAGE - WIDTH, PAGE - WIDTH // 2, PAGE - 64 - WIDTH // 2
NOT_SPLIT = f"not split ({ONE_LINE})"
SPLIT = f"page split ({PAGE_SPLIT})"
LINE = f"line split ({LINE_SPLIT})"


def points(quick: bool) -> list[PlanPoint]:
    out = []
    for name, origin in ((NOT_SPLIT, ONE_LINE), (SPLIT, PAGE_SPLIT)):
        out += [
            pp(name, origin, "executed line", origin=origin, **STORE),
            pp(name + FAR, origin, "data", origin=origin, store="far", **STORE),
        ]
    if not quick:  # a line split within the page, into data: the page or the line?
        out.append(pp(LINE + FAR, LINE_SPLIT, "data", origin=LINE_SPLIT, store="far", **STORE))
    return out


def _line_split(pts: dict[str, Measured]) -> tuple[str, tuple[tuple[str, Stats, Stats], ...]]:
    """The detail of a line split within the page, into data (when measured)."""
    line, one, split = (pts.get(x + FAR) for x in (LINE, NOT_SPLIT, SPLIT))
    if line is None or one is None or split is None:
        return "", ()
    a, b, c = line.ticks, one.ticks, split.ticks
    text = (
        f"A store split across two lines of one page (offset {LINE_SPLIT}), into data:"
        f" {a.median:.0f} ticks/iter, {sided.versus(a, b, 'the store not split')};"
        f" the page split: {sided.versus(c, a, 'the line split')}."
    )
    return text, (
        ("the line split into data", a, b),
        ("the page split against the line split", c, a),
    )


def findings(points: list[Point], host: Host) -> list[Finding]:
    pts = labelled(points)
    s = sided.sided(pts, SPLIT, NOT_SPLIT)
    if s is None:
        return []
    detail, pairs = _line_split(pts)
    what = (
        f"An {WIDTH}-byte store (one mov) split across a page boundary (page offset"
        f" {PAGE_SPLIT}, {WIDTH // 2} bytes on each page)"
    )
    control = f"the same store not split (offset {ONE_LINE}, the same executed line)"
    return [sided.finding("split-store", s, what, control, "the split", detail, pairs)]


PROBE = ProbeSpec(
    "split-store",
    "A store split across a page: into the executed line and into data",
    points,
    findings,
    Bars(ref=NOT_SPLIT + FAR),
    facts=sided.facts("page_split_store_ticks"),
)
