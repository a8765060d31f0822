"""Rich rendering of `smclab diagnose` findings and `smclab advise` rankings."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.text import Text

from smclab.report import host_line
from smclab.report.layout import Col, FitTable
from smclab.suites.advise import RANKING, Advice
from smclab.suites.diagnose import Diagnosis
from smclab.suites.diagnose.base import measured
from smclab.suites.diagnose.consistency import summary as checks_summary
from smclab.suites.workarounds import SETS

CONFIDENCE_STYLE = {"high": "green", "medium": "yellow", "low": "red"}


def diagnosis(d: Diagnosis) -> Group:
    """A :class:`smclab.suites.diagnose.Diagnosis` as findings grouped by probe."""
    parts: list[Text] = [
        Text(f"smclab diagnose on {host_line(d.host)}", style="bold"),
        Text(
            f"run {d.run_id}, {'quick' if d.quick else 'full'},{d.rounds_text}, {d.seconds:.0f} s",
            style="dim",
        ),
    ]
    for pr in d.probes:
        title = Text(f"\n{pr.probe.title}", style="bold")
        parts.append(title)
        if pr.skipped:
            parts.append(Text(f"  skipped: {pr.skipped}", style="yellow"))
            continue
        errors = [p for p in pr.points if p.error]
        found = [f for f in d.findings if f.probe == pr.probe.name]
        for f in found:
            parts.append(
                Text.assemble(
                    "  • ",
                    f.text,
                    " ",
                    (f"[{f.confidence}]", CONFIDENCE_STYLE[f.confidence]),
                    *((" ", (f"[unstable: {f.unstable}]", "yellow")) if f.unstable else ()),
                )
            )
        if not found:
            parts.append(Text("  no finding: the data do not support one", style="dim"))
        ok = measured(pr.points)
        if ok:
            spread = max(p.ticks.spread for p in ok)
            reps = ok[0].experiment.repeats
            parts.append(
                Text(
                    f"  {len(ok)} points, {reps} repeats each, max spread"
                    f" {spread:.1%}" + (f", {len(errors)} failed" if errors else ""),
                    style="dim",
                )
            )
    parts += consistency(d)
    return Group(*parts)


def consistency(d: Diagnosis) -> list[Text]:
    """The consistency check: each contradiction printed as such, the rest counted."""
    if not d.checks:
        return []
    bad = [c for c in d.checks if not c.holds]
    head = f"\nConsistency: {checks_summary(d.checks)}"
    out = [Text(head, style="bold" if not bad else "bold red")]
    for c in bad:
        out.append(
            Text(f"  ✗ contradiction ({c.probe}): {c.claim}; measured: {c.evidence}", style="red")
        )
    return out


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def advice(a: Advice) -> Group:
    """A :class:`smclab.suites.advise.Advice` as a ranked table."""
    naive = a.naive.experiment
    t = FitTable(
        [
            Col("#", "right", key=True),
            Col("workaround", key=True),
            Col("ns/it", "right"),
            Col("spread", "right", drop=1),
            Col("x naive", "right"),
            Col("x data", "right", drop=3),
            Col("x limit", "right", drop=4),
            Col("x floor", "right", drop=2),
            Col("verdict", wrap=True),
        ],
        title=f"smclab advise ({a.workload}) on {host_line(a.host)}",
        box=box.SIMPLE,
    )
    ranked = [e for e in a.entries if e.fresh]
    rows = [("naive", a.naive), ("floor", a.floor)] + [
        (str(ranked.index(e) + 1) if e.fresh else "alt", e) for e in a.entries
    ]
    for rank, e in rows:
        r = e.result
        ns, ticks = r.ns_per_iter, r.ticks_per_iter
        if not e.ok or ns is None or ticks is None:
            t.add_row(
                rank, e.id, "-", "-", "-", "-", "-", "-", Text(f"failed: {r.error}", style="red")
            )
            continue
        style = {"helps": "green", "hurts": "red", "no effect": "yellow"}.get(e.verdict, "")
        t.add_row(
            rank,
            e.id,
            f"{ns.median:.2f}",
            f"{ticks.spread:.1%}",
            f"{e.speedup:.2f}",
            _x(e.to_control("data")),
            _x(e.to_control("limit")),
            f"{e.to_floor:.2f}",
            Text(e.verdict if rank not in ("naive", "floor") else rank, style=style),
        )
    notes = [
        Text(RANKING, style="dim"),
        Text(
            f"naive: {a.naive.experiment.label()}; floor: {a.floor.experiment.label()}"
            f" ({SETS[a.workload].floor_note}); x data: over the same code storing into data;"
            " x limit: over the same calls to code never modified",
            style="dim",
        ),
    ]
    if a.search is not None:
        o = a.search
        notes.append(
            Text(
                f"searched {o.evaluated} of {o.space.valid_points} valid points of the"
                f" {o.space.name} space ({o.space.size} combinations, {len(o.trace)}"
                " measurements); the table is its confirmation:"
                f" {len(ranked)} leaders with naive, floor and controls"
                + (
                    f", {len(a.entries) - len(ranked)} alternatives"
                    if len(ranked) < len(a.entries)
                    else ""
                )
                + ", interleaved",
                style="dim",
            )
        )
    rec = a.recommended
    if rec:
        best = rec[0]
        data = best.to_control("data")
        notes.append(
            Text(
                f"Best: {best.id}: {best.speedup:.1f}x faster than the naive loop,"
                + (f" {data:.2f}x its data control," if data is not None else "")
                + f" {best.to_floor:.2f}x the floor.",
                style="bold",
            )
        )
        for e in rec[:3]:
            notes.append(Text(f"  {e.id}: {e.how_to(naive)}."))
    goal = a.goal
    if goal["best"] is not None and goal["best_to_data_control"] is not None:
        verdict = "met" if goal["met"] else "not met"
        notes.append(
            Text(
                f"Goal (the best candidate executing fresh code ≤ {goal['to_data_control']}x"
                f" its own data control): {verdict}: {goal['best']} at"
                f" {goal['best_to_data_control']:.2f}x.",
                style="bold" if goal["met"] else "bold red",
            )
        )
    elif goal["best"] is None:
        notes.append(
            Text("No candidate executing fresh code beats the naive loop here.", style="bold red")
        )
    idle = [e.id for e in a.entries if e.verdict == "no effect"]
    if idle:
        notes.append(Text(f"No measurable effect: {', '.join(idle)}.", style="yellow"))
    if len(ranked) < len(a.entries):
        notes.append(
            Text(
                "alt: not the same work (less of it, or without what makes it safe):"
                " measured beside the others, never recommended",
                style="dim",
            )
        )
    by_why: dict[str, list[str]] = {}
    for cid, why in a.skipped.items():
        by_why.setdefault(why, []).append(cid)
    for why, ids in by_why.items():
        named = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        notes.append(Text(f"Not run: {named}: {why}.", style="dim"))
    return Group(t, *notes)
