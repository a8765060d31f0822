"""The atlas rendered: a terminal table (hosts paged to fit the width), CSV (one line per host
and fact) and one self-contained HTML page (the table, a small SVG plot per fact, and the raw
points each cell links to)."""

from __future__ import annotations

import csv
import html
import io
import math
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from smclab._version import __version__
from smclab.model.caches import CacheSizes
from smclab.model.knobs import format_size
from smclab.suites.atlas import Atlas, Column, Placement, Row
from smclab.suites.diagnose import Fact

CONFIDENCE_STYLE = {"high": "green", "medium": "yellow", "low": "red"}
MISSING = "no data"
MARK = "*"
LEGEND = (
    f"{MARK} the hosts differ here in a way that matters for a JIT (numbers"
    " ≥ 2x apart, zero against non-zero, or a different kind); [h]/[m]/[l]: the confidence of"
    " the finding behind the cell; 'no data': that host has no stored run that states it."
)
#: the host rows heading each column
HOST_ROWS = ("CPU", "family/model/step", "microcode", "hypervisor", "caches", "date", "smclab")
TITLE_WIDTH = 22
CELL_WIDTH = 17


def number(v: float) -> str:
    a = abs(v)
    if a >= 10_000:
        return f"{v / 1000:.0f}k"
    if a >= 1000:
        return f"{v / 1000:.1f}k"
    if a >= 10:
        return f"{v:.0f}"
    return f"{v:.2f}" if a >= 0.1 or a == 0 else f"{v:.2g}"


def _lines(v: list[int]) -> str:
    return ", ".join(f"{n:+d}" if n else "0" for n in v) if v else "none"


def value_text(row: Row, value: Any, host: dict[str, Any]) -> str:
    """One cell's value as text (the same in every format)."""
    if value is None:
        return MISSING
    if isinstance(value, dict):  # a best workaround
        x = value.get("x_naive")
        floor = value.get("x_floor")
        head = f"{x:.1f}x" if isinstance(x, float) else "?"
        tail = f", {floor:.2f}x floor" if isinstance(floor, float) else ""
        return f"{head} {value.get('id')}{tail}"
    if isinstance(value, list):
        if row.unit == "lines":
            return _lines(value)
        return ", ".join(map(str, value)) if value else "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if row.unit == "bytes":
            size = format_size(int(value)) if value >= 1024 else f"{value:.0f} B"
            rel = CacheSizes.of(host).relate(int(value)) if value else ""
            return f"{size} ({rel})" if rel else size
        return number(float(value))
    return str(value)


def host_cells(c: Column) -> list[str]:
    h = c.host
    fms = "/".join(
        f"{h[k]:#x}" if k != "stepping" else str(h[k])
        for k in ("family", "model", "stepping")
        if h.get(k) is not None
    )
    caches = CacheSizes.of(h)
    cache = (
        "unknown"
        if caches.assumed
        else f"L1I {format_size(caches.l1i)} L1D {format_size(caches.l1d)}"
        f" L2 {format_size(caches.l2)}"
    )
    return [
        h.get("model_name") or "unknown",
        fms or "unknown",
        str(h.get("microcode") or "unknown"),
        str(h.get("hypervisor") or "none"),
        cache,
        c.date,
        c.version,
    ]


def row_title(a: Atlas, row: Row) -> str:
    return f"{MARK if a.marked(row) else ' '} {row.title}"


def shown(a: Atlas) -> tuple[list[Row], list[Row]]:
    """(the rows some host has a fact for, the rows none has)."""
    rows = a.rows()
    some = [r for r in rows if any(r.name in c.cells for c in a.columns)]
    return some, [r for r in rows if r not in some]


def tables(a: Atlas, width: int = 80) -> Group:
    """The terminal atlas: as many host columns per table as ``width`` allows."""
    if not a.columns:
        return Group(Text("No host: no store given has a stored run, and no reference."))
    per = max(1, (width - TITLE_WIDTH - 1) // (CELL_WIDTH + 2))
    parts: list[Any] = []
    rows, none = shown(a)
    for start in range(0, len(a.columns), per):
        cols = a.columns[start : start + per]
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        t.add_column("fact", width=TITLE_WIDTH, overflow="fold")
        for c in cols:
            t.add_column(c.label, width=CELL_WIDTH, overflow="fold")
        infos = [host_cells(c) for c in cols]
        for i, name in enumerate(HOST_ROWS):
            t.add_row(Text(name, style="dim"), *(Text(x[i], style="dim") for x in infos))
        t.add_section()
        for row in rows:
            cells: list[Text] = []
            for c in cols:
                cell = c.cells.get(row.name)
                if cell is None:
                    cells.append(Text(MISSING, style="dim"))
                    continue
                conf = cell.fact.confidence
                cells.append(
                    Text.assemble(
                        value_text(row, cell.fact.value, c.host),
                        (f" [{conf[0]}]", CONFIDENCE_STYLE.get(conf, "")),
                    )
                )
            t.add_row(Text(row_title(a, row), style="bold" if a.marked(row) else ""), *cells)
        parts.append(t)
    if none:
        parts.append(Text(f"No host has data for: {', '.join(r.title for r in none)}.", "dim"))
    parts.append(Text(LEGEND, style="dim"))
    return Group(*parts)


def to_csv(a: Atlas) -> str:
    """One line per host and fact: host, fact, value (as text and raw), unit, confidence,
    whether the hosts differ there for a JIT, and the stored points behind it."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        ["host", "cpu", "date", "fact", "value", "raw", "unit", "confidence", "jit", "points"]
    )
    for row in a.rows():
        marked = a.marked(row)
        for c in a.columns:
            cell = c.cells.get(row.name)
            raw = cell.fact.value if cell else None
            w.writerow(
                [
                    c.label,
                    c.host.get("model_name", ""),
                    c.date,
                    row.name,
                    value_text(row, raw, c.host),
                    "" if raw is None else raw,
                    row.unit,
                    cell.fact.confidence if cell else "",
                    "differs" if marked else "",
                    " ".join(
                        f"{c.points[k]['sweep']}#{c.points[k]['id']}"
                        for k in (cell.points if cell else ())
                    ),
                ]
            )
    return out.getvalue()


# --- HTML ------------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;
vertical-align:top;text-align:left}th{background:#f4f4f4}.jit{background:#fff4d6}.missing{color:#999}
.high{color:#176d2c}.medium{color:#9a6b00}.low{color:#b3261e}a{color:inherit}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plot{border:1px solid #ddd;padding:4px}
small{color:#666}details{font-size:11px;color:#555}summary{cursor:pointer}
"""


def _svg(a: Atlas, row: Row) -> str | None:
    """A small horizontal bar plot of a numeric fact across the hosts (log scale when the
    values span more than 10x); None when fewer than one host has a number."""
    vals = []
    for c in a.columns:
        v = c.value(row.name)
        if isinstance(v, dict):
            v = v.get("x_naive")
        if isinstance(v, int | float) and not isinstance(v, bool):
            vals.append((c.label, float(v)))
    if not vals:
        return None
    hi = max(v for _, v in vals)
    pos = [v for _, v in vals if v > 0]
    log = bool(pos) and hi / min(pos) > 10
    w, bar, left = 300, 16, 120
    h = bar * len(vals) + 24

    def shown_number(v: float) -> str:
        return format_size(int(v)) if row.unit == "bytes" and v >= 1024 else number(v)

    def length(v: float) -> float:
        if v <= 0 or hi <= 0:
            return 0.0
        if log:
            lo = min(pos) / 2
            return (w - left - 50) * math.log(v / lo) / math.log(hi / lo)
        return (w - left - 50) * v / hi

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img">',
        f'<text x="2" y="12" font-size="11">{html.escape(row.title)}'
        f"{' (log)' if log else ''}</text>",
    ]
    for i, (label, v) in enumerate(vals):
        y = 18 + i * bar
        parts.append(
            f'<text x="2" y="{y + 11}" font-size="10">{html.escape(label)}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{length(v):.1f}" height="{bar - 4}"'
            f' fill="#4a78b0"/><text x="{left + length(v) + 3:.1f}" y="{y + 11}"'
            f' font-size="10">{html.escape(shown_number(v))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _raw_line(j: int, key: str, p: dict[str, Any]) -> str:
    e = html.escape
    ticks = "" if p["ticks"] is None else f"{p['ticks']:.1f}"
    spread = "" if p["spread"] is None else f"{p['spread']:.1%}"
    cells = [str(p.get("store")), str(p["sweep"]), str(p["id"]), str(p["probe"]), p["label"]]
    tds = "".join(f"<td>{e(x)}</td>" for x in [*cells, ticks, spread])
    return f'<tr id="p{j}-{e(key)}">{tds}</tr>'


def to_html(a: Atlas) -> str:
    """One self-contained page: the table (cells link to their raw points), a plot per
    numeric fact, and every host's raw points."""
    e = html.escape
    head = "".join(f"<th>{e(c.label)}</th>" for c in a.columns)
    body = []
    infos = [host_cells(c) for c in a.columns]
    for i, name in enumerate(HOST_ROWS):
        body.append(
            f"<tr><th>{e(name)}</th>" + "".join(f"<td>{e(x[i])}</td>" for x in infos) + "</tr>"
        )
    rows, none = shown(a)
    for row in rows:
        marked = a.marked(row)
        cells = []
        for j, c in enumerate(a.columns):
            cell = c.cells.get(row.name)
            if cell is None:
                cells.append(f'<td class="missing">{MISSING}</td>')
                continue
            text = e(value_text(row, cell.fact.value, c.host))
            conf = cell.fact.confidence
            links = " ".join(
                f'<a href="#p{j}-{e(k)}">{n + 1}</a>' for n, k in enumerate(cell.points)
            )
            cls = ' class="jit"' if marked else ""
            n = len(cell.points)
            points = (
                f"<details><summary>{n} point{'s' if n > 1 else ''}</summary>{links}</details>"
                if n
                else ""
            )
            cells.append(f'<td{cls}>{text} <span class="{e(conf)}">[{e(conf)}]</span>{points}</td>')
        mark = f"{MARK} " if marked else ""
        what = f"<br><small>{e(row.what)}</small>" if row.what else ""
        body.append(f"<tr><th>{mark}{e(row.title)}{what}</th>{''.join(cells)}</tr>")
    plots = [s for row in rows if (s := _svg(a, row))]
    nothing = (
        f"<p><small>No host has data for: {e(', '.join(r.title for r in none))}.</small></p>"
        if none
        else ""
    )
    raw = []
    for j, c in enumerate(a.columns):
        lines = "".join(
            _raw_line(j, k, p)
            for k, p in sorted(c.points.items(), key=lambda kv: (kv[1]["probe"], kv[1]["id"]))
        )
        raw.append(
            f"<h3>{e(c.label)} ({e(c.date)}, {e(', '.join(c.sources))})</h3><table><tr>"
            "<th>store</th><th>sweep</th><th>result id</th><th>probe</th><th>point</th>"
            f"<th>ticks/iter</th><th>spread</th></tr>{lines}</table>"
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>smclab atlas</title>"
        f"<style>{STYLE}</style></head><body><h1>smclab atlas</h1>"
        f"<p><small>smclab {e(__version__)}: {len(a.columns)} hosts</small></p>"
        f"<p><small>{e(LEGEND)}</small></p>"
        f"<table><tr><th>fact</th>{head}</tr>{''.join(body)}</table>{nothing}"
        f"<h2>Each fact across the hosts</h2><div class='plots'>"
        + "".join(f"<div class='plot'>{p}</div>" for p in plots)
        + "</div><h2>Raw points behind the cells</h2>"
        + "".join(raw)
        + "</body></html>\n"
    )


def placement_text(p: Placement | None, facts: list[Fact], host: dict[str, Any]) -> str:
    """``closest: AMD 0x19/0x11 (2026-12-03; 14 facts compared); differs in: ...``."""
    if p is None:
        return "closest: none (no known host shares a fact with this run)"
    mine = {f.name: f.value for f in facts}
    c = p.closest
    diffs = [
        f"{r.title} ({value_text(r, mine.get(r.name), host)} here,"
        f" {value_text(r, c.value(r.name), c.host)} there)"
        for r in p.differs
    ]
    return f"closest: {c.label} ({c.date}; {p.compared} facts compared); differs in: " + (
        "; ".join(diffs) if diffs else "nothing that matters for a JIT"
    )
