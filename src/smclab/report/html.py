"""A self-contained HTML report for `smclab diagnose`: host, findings, a plot per probe
(PNG embedded as data URIs), the advise ranking and the raw table. Readable offline."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from smclab.model.result import MeasurementError  # noqa: E402
from smclab.report import host_line  # noqa: E402
from smclab.suites.advise import Advice, Entry  # noqa: E402
from smclab.suites.diagnose import (  # noqa: E402
    PROBES,
    Bars,
    Curve,
    Diagnosis,
    Finding,
    ProbeResult,
)
from smclab.suites.diagnose.base import Measured, measured  # noqa: E402

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.finding { margin: .4em 0; } .high { color: #176117; } .medium { color: #8a6d00; }
.low { color: #a11; } .dim { color: #666; font-size: .9em; }
table { border-collapse: collapse; font-size: .85em; } td, th { padding: 2px 8px;
 border-bottom: 1px solid #eee; text-align: right; } td:first-child, th:first-child {
 text-align: left; } img { max-width: 100%; }
"""


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


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
    return _png(fig)


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
    return _png(fig)


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
    return _png(fig)


def _raw_table(d: Diagnosis) -> str:
    rows = [
        "<tr><th>probe</th><th>point</th><th>experiment</th><th>ticks/it</th>"
        "<th>ns/it</th><th>spread</th><th>error</th></tr>"
    ]
    for pr in d.probes:
        for p in pr.points:
            t, n = p.ticks, p.ns
            rows.append(
                f"<tr><td>{pr.probe.name}</td><td>{html.escape(p.plan.label)}</td>"
                f"<td>{html.escape(p.experiment.label())}</td>"
                f"<td>{t.median:.1f}</td><td>{n.median:.2f}</td><td>{t.spread:.1%}</td>"
                if t and n
                else f"<tr><td>{pr.probe.name}</td><td>{html.escape(p.plan.label)}</td>"
                f"<td>{html.escape(p.experiment.label())}</td><td>-</td><td>-</td><td>-</td>"
            )
            rows[-1] += f"<td>{html.escape(p.error or '')}</td></tr>"
    return "<table>" + "\n".join(rows) + "</table>"


def render(d: Diagnosis, advice: Sequence[Advice] = ()) -> str:
    """The page: findings, a plot per probe, a section per workload's measured workarounds
    (``advice``, one Advice per workload), the raw table."""
    h = d.host
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>smclab diagnose"
        f" {html.escape(d.run_id)}</title><style>{CSS}</style></head><body>",
        "<h1>smclab diagnose</h1>",
        f"<p>{html.escape(host_line(h))}; kernel {html.escape(str(h.get('kernel')))};"
        f" run {html.escape(d.run_id)} ({'quick' if d.quick else 'full'},"
        f" {d.seconds:.0f} s); smclab {html.escape(str(h.get('smclab_version')))}</p>",
        "<h2>Findings</h2>",
    ]
    for f in d.findings:
        unstable = (
            f" <span class='medium'>[unstable: {html.escape(f.unstable)}]</span>"
            if f.unstable
            else ""
        )
        out.append(
            f"<p class='finding'>• {html.escape(f.text)} <span class='{f.confidence}'>"
            f"[{f.confidence}]</span>{unstable}</p>"
        )
    bad = [c for c in d.checks if not c.holds]
    if d.checks:
        out.append(
            f"<p class='finding'>Consistency: {len(d.checks)} predictions of the findings"
            f" checked against measured points they did not come from; {len(bad)}"
            " contradicted</p>"
        )
    for c in bad:
        out.append(
            f"<p class='finding low'>✗ contradiction ({html.escape(c.probe)}):"
            f" {html.escape(c.claim)}; measured: {html.escape(c.evidence)}</p>"
        )
    for pr in d.probes:
        out.append(f"<h2>{html.escape(pr.probe.title)}</h2>")
        if pr.skipped:
            out.append(f"<p class='dim'>skipped: {html.escape(pr.skipped)}</p>")
            continue
        for f in (f for f in d.findings if f.probe == pr.probe.name):
            out.append(f"<p class='finding'>{html.escape(f.text)}</p>")
        img = probe_plot(pr, d.findings)
        if img:
            out.append(f"<img alt='{html.escape(pr.probe.name)}' src='{img}'>")
    for a in advice:
        out.append(f"<h2>Workarounds, measured: the {html.escape(a.workload)} workload</h2>")
        best = a.recommended[0] if a.recommended else None
        if best:
            out.append(
                f"<p class='finding'>Best: <b>{html.escape(best.id)}</b>,"
                f" {best.speedup:.1f}x faster than the naive way, {best.to_floor:.2f}x"
                f" the floor: {html.escape(best.how_to(a.naive.experiment))}.</p>"
            )
        else:
            out.append("<p class='finding'>No candidate beat the naive way measurably.</p>")
        out.append(f"<img alt='ranking {html.escape(a.workload)}' src='{ranking_plot(a)}'>")
    out.append("<h2>Raw measurements</h2>")
    out.append(_raw_table(d))
    out.append("</body></html>")
    return "\n".join(out)


def write_html(path: str | Path, d: Diagnosis, advice: Sequence[Advice] = ()) -> None:
    Path(path).write_text(render(d, advice))


def write_report(path: str | Path, d: Diagnosis, advice: Sequence[Advice] = ()) -> None:
    """:func:`write_html`, after the measurements were stored: a failure to write is a
    :class:`MeasurementError` that says so."""
    try:
        write_html(path, d, advice)
    except OSError as e:
        raise MeasurementError(f"measured and stored, but cannot write {path}: {e}") from None
