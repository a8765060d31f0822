"""A self-contained HTML report for `smclab diagnose`: host, contents, per probe its findings
(each once, with its confidence) and its plot (inline SVG), the advise ranking and the raw
table (sortable by clicking a column). Readable offline; no script or style from elsewhere."""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smclab.model.result import MeasurementError
from smclab.report import host_line
from smclab.report.plot import pyplot
from smclab.suites.advise import Advice, Entry
from smclab.suites.diagnose import (
    PROBES,
    Bars,
    Curve,
    Diagnosis,
    Finding,
    ProbeResult,
    consistency,
)
from smclab.suites.diagnose.base import Measured, measured

plt = pyplot("--html")


CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.finding { margin: .4em 0; } .high { color: #176117; } .medium { color: #8a6d00; }
.low { color: #a11; } .dim { color: #666; font-size: .9em; }
table { border-collapse: collapse; font-size: .85em; } td, th { padding: 2px 8px;
 border-bottom: 1px solid #eee; text-align: right; } td:first-child, th:first-child {
 text-align: left; } svg { max-width: 100%; height: auto; }
th[data-order] { cursor: pointer; } th[data-order=asc]::after { content: " ▲"; }
th[data-order=desc]::after { content: " ▼"; } table.sortable th { cursor: pointer; }
nav li { margin: .15em 0; }
"""

#: sorts a table.sortable by the clicked column (numbers as numbers, "-" last)
SORT_JS = """
function smclabSort(table, col, th) {
  const asc = th.dataset.order !== "asc";
  const body = table.tBodies[0];
  const key = r => { const n = parseFloat(r.cells[col].textContent); return isNaN(n) ? null : n; };
  const text = r => r.cells[col].textContent;
  const rows = Array.from(body.rows);
  const numeric = rows.some(r => key(r) !== null);
  rows.sort((a, b) => {
    let c;
    if (numeric) {
      const x = key(a), y = key(b);
      c = x === null ? (y === null ? 0 : 1) : y === null ? -1 : x - y;
      if (x === null || y === null) return c;
    } else {
      c = text(a).localeCompare(text(b));
    }
    return asc ? c : -c;
  });
  rows.forEach(r => body.appendChild(r));
  for (const c of table.tHead.rows[0].cells) delete c.dataset.order;
  th.dataset.order = asc ? "asc" : "desc";
}
for (const table of document.querySelectorAll("table.sortable")) {
  Array.from(table.tHead.rows[0].cells).forEach((th, i) =>
    th.addEventListener("click", () => smclabSort(table, i, th)));
  table.dataset.ready = "1";
}
"""


def _svg(fig: Any) -> str:
    """The figure as inline SVG (text kept as text: smaller and sharper than a PNG)."""
    buf = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _bars(pts: list[Measured], spec: Bars, title: str) -> str:
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(pts) + 1.2))
    labels = [p.plan.label for p in pts]
    med = [p.ticks.median for p in pts]
    err = [p.ticks.median * p.ticks.spread / 2 for p in pts]
    ax.barh(labels, med, xerr=err, color="#4a78b0", ecolor="#222", capsize=2)
    if spec.ref:
        ref_pt = next((p for p in pts if p.plan.label == spec.ref), None)
        if ref_pt:
            ax.axvline(ref_pt.ticks.median, color="#c33", ls="--", label=spec.ref)
            ax.legend(loc="lower right")
    ax.invert_yaxis()
    ax.set_xlabel("TSC ticks per iteration (error bar: ±½ IQR)")
    ax.set_title(spec.title or title)
    return _svg(fig)


def _mark(spec: Curve, name: str, findings: list[Finding]) -> tuple[float, str] | None:
    """The value and legend of the curve's mark, from the first finding that has it."""
    if spec.mark is None:
        return None
    key = spec.mark.number
    value = next((f.numbers[key] for f in findings if f.probe == name and key in f.numbers), None)
    return None if value is None else (value, spec.mark.label.format(value))


def _curve(pts: list[Measured], spec: Curve, mark: tuple[float, str] | None) -> str:
    fig, ax = plt.subplots(figsize=(9, 4))
    groups = spec.groups or sorted({p.plan.group for p in pts})
    for g in groups:
        line = sorted(
            ((p.plan.x, p) for p in pts if p.plan.group == g and p.plan.x is not None),
            key=lambda xp: xp[0],
        )
        if line:
            ax.errorbar(
                [x for x, _ in line],
                [p.ticks.median for _, p in line],
                yerr=[p.ticks.median * p.ticks.spread / 2 for _, p in line],
                marker="o",
                capsize=2,
                label=g,
            )
    ref_pt = next((p for p in pts if p.plan.label == spec.ref), None)
    if ref_pt:
        ax.axhline(ref_pt.ticks.median, color="#c33", ls="--", label=spec.ref)
    if mark is not None:
        ax.axvline(mark[0], color="#2a2", ls=":", label=mark[1])
    if spec.xscale == "symlog":
        ax.set_xscale("symlog", linthresh=64)
        ax.set_xlim(left=0)
    elif spec.xscale != "linear":
        ax.set_xscale(spec.xscale, base=2)
    ax.set_xlabel(spec.xlabel)
    ax.set_ylabel("TSC ticks per iteration")
    ax.set_title(spec.title)
    ax.legend()
    return _svg(fig)


def probe_plot(pr: ProbeResult, findings: list[Finding]) -> str | None:
    """The probe's plot as its spec declares it (None: nothing measured, or no such probe)."""
    pts = measured(pr.points)
    probe = PROBES.get(pr.probe.name)
    if not pts or probe is None:
        return None
    spec = probe.plot
    if isinstance(spec, Curve):
        return _curve(pts, spec, _mark(spec, pr.probe.name, findings))
    return _bars(pts, spec, pr.probe.title)


def _ns(e: Entry) -> float:
    """ns/iter of a measured entry (naive and floor always are; others when ``e.ok``)."""
    stats = e.result.ns_per_iter
    if stats is None:
        raise ValueError(f"{e.id} has no measurement")
    return stats.median


def ranking_plot(advice: Advice) -> str:
    entries = [e for e in advice.entries if e.ok]
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(entries) + 1.5))
    ax.barh(
        [e.id for e in entries],
        [_ns(e) for e in entries],
        color=["#3a3" if e.verdict == "helps" else "#bbb" for e in entries],
    )
    ax.axvline(_ns(advice.naive), color="#c33", ls="--", label="naive")
    ax.axvline(_ns(advice.floor), color="#33c", ls=":", label="floor")
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ns per iteration (log scale; green: helps)")
    ax.set_title(f"Workarounds ranked ({advice.workload} workload)")
    ax.legend(loc="lower right")
    return _svg(fig)


def _raw_table(d: Diagnosis) -> str:
    head = ("probe", "point", "experiment", "ticks/it", "ns/it", "spread", "error")
    rows = []
    for pr in d.probes:
        for p in pr.points:
            t, n = p.ticks, p.ns
            nums = (
                (f"{t.median:.1f}", f"{n.median:.2f}", f"{t.spread:.1%}") if t and n else ("-",) * 3
            )
            cells = (pr.probe.name, p.plan.label, p.experiment.label(), *nums, p.error or "")
            rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return (
        "<table class='sortable'><thead><tr>"
        + "".join(f"<th title='sort'>{h}</th>" for h in head)
        + "</tr></thead><tbody>\n"
        + "\n".join(rows)
        + "</tbody></table>"
    )


def _finding(f: Finding) -> str:
    unstable = (
        f" <span class='medium'>[unstable: {html.escape(f.unstable)}]</span>" if f.unstable else ""
    )
    return (
        f"<p class='finding'>{html.escape(f.text)} <span class='{f.confidence}'>"
        f"[{f.confidence}]</span>{unstable}</p>"
    )


def _consistency(d: Diagnosis) -> list[str]:
    """The consistency check: every contradiction, the rest counted."""
    bad = [c for c in d.checks if not c.holds]
    out = [f"<p class='finding'>{html.escape(consistency.summary(d.checks))}</p>"]
    out += [
        f"<p class='finding low'>✗ contradiction ({html.escape(c.probe)}):"
        f" {html.escape(c.claim)}; measured: {html.escape(c.evidence)}</p>"
        for c in bad
    ]
    return out


def render(d: Diagnosis, advice: Sequence[Advice] = ()) -> str:
    """The page: contents; per probe its findings (each once) and its plot; a section per
    workload's measured workarounds (``advice``, one Advice per workload); the raw table."""
    h = d.host
    shown = {pr.probe.name for pr in d.probes}
    other = [f for f in d.findings if f.probe not in shown]
    sections: list[tuple[str, str, int]] = []  # (id, title, findings)
    body: list[str] = []
    for pr in d.probes:
        mine = [f for f in d.findings if f.probe == pr.probe.name]
        sid = f"probe-{pr.probe.name}"
        sections.append((sid, pr.probe.title, len(mine)))
        body.append(f"<h2 id='{html.escape(sid)}'>{html.escape(pr.probe.title)}</h2>")
        if pr.skipped:
            body.append(f"<p class='dim'>skipped: {html.escape(pr.skipped)}</p>")
            continue
        body += [_finding(f) for f in mine]
        img = probe_plot(pr, d.findings)
        if img:
            body.append(f"<figure aria-label='{html.escape(pr.probe.name)}'>{img}</figure>")
    if other:
        sections.append(("other", "Other findings", len(other)))
        body.append("<h2 id='other'>Other findings</h2>")
        body += [_finding(f) for f in other]
    if d.checks:
        sections.append(("consistency", "Consistency", 0))
        body.append("<h2 id='consistency'>Consistency</h2>")
        body += _consistency(d)
    for a in advice:
        sid = f"advise-{a.workload}"
        title = f"Workarounds, measured: the {a.workload} workload"
        sections.append((sid, title, 0))
        body.append(f"<h2 id='{html.escape(sid)}'>{html.escape(title)}</h2>")
        best = a.recommended[0] if a.recommended else None
        if best:
            body.append(
                f"<p class='finding'>Best: <b>{html.escape(best.id)}</b>,"
                f" {best.speedup:.1f}x faster than the naive way, {best.to_floor:.2f}x"
                f" the floor: {html.escape(best.how_to(a.naive.experiment))}.</p>"
            )
        else:
            body.append("<p class='finding'>No candidate beat the naive way measurably.</p>")
        body.append(
            f"<figure aria-label='ranking {html.escape(a.workload)}'>{ranking_plot(a)}</figure>"
        )
    sections.append(("raw", "Raw measurements", 0))
    body.append("<h2 id='raw'>Raw measurements</h2>")
    body.append("<p class='dim'>Click a column to sort by it.</p>")
    body.append(_raw_table(d))
    toc = "".join(
        f"<li><a href='#{html.escape(sid)}'>{html.escape(title)}</a>"
        + (f" <span class='dim'>({n} finding{'s' if n != 1 else ''})</span>" if n else "")
        + "</li>"
        for sid, title, n in sections
    )
    head = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>smclab diagnose {html.escape(d.run_id)}</title><style>{CSS}</style></head>"
        "<body>",
        "<h1>smclab diagnose</h1>",
        f"<p>{html.escape(host_line(h))}; kernel {html.escape(str(h.get('kernel')))};"
        f" run {html.escape(d.run_id)} ({'quick' if d.quick else 'full'},{d.rounds_text},"
        f" {d.seconds:.0f} s); smclab {html.escape(str(h.get('smclab_version')))};"
        f" {len(d.findings)} finding(s)</p>",
        f"<nav><h2>Contents</h2><ul>{toc}</ul></nav>",
    ]
    return "\n".join([*head, *body, f"<script>{SORT_JS}</script></body></html>"])


def write_html(path: str | Path, d: Diagnosis, advice: Sequence[Advice] = ()) -> None:
    Path(path).write_text(render(d, advice))


def write_report(path: str | Path, d: Diagnosis, advice: Sequence[Advice] = ()) -> None:
    """:func:`write_html`, after the measurements were stored: a failure to write is a
    :class:`MeasurementError` that says so."""
    try:
        write_html(path, d, advice)
    except OSError as e:
        raise MeasurementError(f"measured and stored, but cannot write {path}: {e}") from None
