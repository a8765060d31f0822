"""Rendering of sweeps and of stored results."""

from __future__ import annotations

import datetime
from typing import Any

from rich.console import Group
from rich.text import Text

from smclab.errors import SpecError
from smclab.model.experiment import field_meta
from smclab.model.knobs import format_size
from smclab.model.result import NOISY_SPREAD, Stats, StoredResult
from smclab.report.layout import Cell, Col, FitTable, markdown
from smclab.store import StoredSweep
from smclab.store.export import counter_names

MAX_REASONS = 8


def _num(v: float | None, digits: int) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _median(s: Stats | None, digits: int) -> str:
    return _num(s.median if s else None, digits)


def _spread(s: Stats | None) -> Text:
    if s is None:
        return Text("-")
    return Text(f"{s.spread:.1%}", style="bold red" if s.spread > NOISY_SPREAD else "")


def _knob(name: str, value: Any) -> str:
    if value is None:
        return "-"
    try:
        if field_meta(name)["kind"] == "size":
            return format_size(int(value))
    except (KeyError, SpecError, ValueError, TypeError):
        pass
    return str(value)


def _counter(r: StoredResult, name: str) -> str:
    c = r.counters.get(name)
    if c is not None and c.per_iter is not None:
        return f"{c.per_iter:.3g}"
    return "n/a" if c is not None and c.reason else "-"


def sweep_table(summary: dict[str, Any], rows: list[StoredResult]) -> Group:
    """The table ``smclab sweep`` prints: one line per stored experiment of the sweep."""
    name = f" ({summary['name']})" if summary["name"] and summary["name"] != summary["id"] else ""
    t = FitTable(
        [
            Col("experiment", key=True),  # a label is kept whole, on one line
            Col("ticks/iter", "right"),
            Col("ns/iter", "right"),
            Col("spread", "right", drop=1),
            Col("error", wrap=True),
        ],
        title=f"sweep {summary['id']}{name}",
    )
    for r in rows:
        t.add_row(
            r.label,
            _median(r.ticks, 1),
            _median(r.ns, 2),
            _spread(r.ticks),
            Text(r.error or "", style="red"),
        )
    return Group(t, *sweep_notes(summary))


def sweep_notes(summary: dict[str, Any]) -> list[Text]:
    s = summary
    line = (
        f"{s['total']} combinations: {s['ran']} ran now, {s['already_done']} already stored,"
        f" {sum(s['skipped'].values())} skipped, {s['remaining']} left; {s['errors']} error(s)"
    )
    notes = [Text(line, style="dim")]
    reasons = sorted(s["skipped"].items(), key=lambda kv: -kv[1])
    for reason, n in reasons[:MAX_REASONS]:
        notes.append(Text(f"skipped {n}x: {reason}", style="dim"))
    if len(reasons) > MAX_REASONS:
        more = sum(n for _, n in reasons[MAX_REASONS:])
        notes.append(
            Text(
                f"skipped {more}x for {len(reasons) - MAX_REASONS} other reasons (see --json)",
                style="dim",
            )
        )
    return notes


def _lead(r: StoredResult, col: str) -> str:
    if col == "sweep_id":
        return str(r.sweep_id)
    if col == "suite":
        return r.suite
    if col == "label":
        return r.label
    return _knob(col, r.knob(col))


def _results_grid(rows: list[StoredResult], knobs: list[str]) -> tuple[list[Col], list[list[Cell]]]:
    """The columns and cells of stored results: the id and label, the knobs that vary, then
    the statistics, counters and error."""
    extra = [c for c in ("sweep_id", "suite") if len({_lead(r, c) for r in rows}) > 1]
    lead = [*extra, *knobs]
    counters = counter_names(rows)
    cols = [
        Col("id", "right", key=True),
        Col("label", wrap=True, drop=3 if lead else 0, key=True),
        *(Col(c.replace("_id", "")) for c in lead),
        Col("iterations", "right", drop=2),
        Col("ticks/iter", "right"),
        Col("ns/iter", "right"),
        Col("spread", "right", drop=1),
        *(Col(f"{c}/iter", "right", drop=1) for c in counters),
        Col("error", wrap=True, style="red"),
    ]
    cells: list[list[Cell]] = [
        [
            str(r.id),
            r.label,
            *(_lead(r, c) for c in lead),
            str(r.iterations or "-"),
            _median(r.ticks, 1),
            _median(r.ns, 2),
            _spread(r.ticks),
            *(_counter(r, c) for c in counters),
            r.error or "",
        ]
        for r in rows
    ]
    return cols, cells


def results_table(rows: list[StoredResult], knobs: list[str], title: str | None = None) -> FitTable:
    """Stored results with the knobs that vary between them as columns (narrow terminals:
    without the label, iterations and spread, then one block per result headed by its id
    and label)."""
    cols, cells = _results_grid(rows, knobs)
    t = FitTable(cols, title=title)
    for row in cells:
        t.add_row(*row)
    return t


def results_markdown(rows: list[StoredResult], knobs: list[str]) -> str:
    """The stored results as a Markdown table (``results --markdown``)."""
    return markdown(*_results_grid(rows, knobs))


def sweeps_table(sweeps: list[StoredSweep]) -> FitTable:
    """The stored sweeps (the name only where it is not the id)."""
    named = any(s.name and s.name != s.id for s in sweeps)
    t = FitTable(
        [
            Col("id"),
            *([Col("name", wrap=True, drop=3)] if named else []),
            Col("updated", drop=1),
            Col("combinations", "right", drop=2),
            Col("skipped", "right", drop=2),
            Col("stored", "right"),
            Col("errors", "right"),
            Col("status"),
        ],
        title="Stored sweeps",
    )
    for s in sweeps:
        updated = datetime.datetime.fromtimestamp(s.updated).strftime("%Y-%m-%d %H:%M")
        t.add_row(
            s.id,
            *([s.name or ""] if named else []),
            updated,
            str(s.total),
            str(sum(s.skipped.values())),
            str(s.rows),
            str(s.errors),
            s.status,
        )
    return t
