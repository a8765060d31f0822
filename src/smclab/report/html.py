"""A self-contained HTML report for `smclab diagnose`: host, findings, a plot per probe
(PNG embedded as data URIs), the advise ranking and the raw table. Readable offline."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from smclab.report import host_line  # noqa: E402

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.finding { margin: .4em 0; } .high { color: #176117; } .medium { color: #8a6d00; }
.low { color: #a11; } .dim { color: #666; font-size: .9em; }
table { border-collapse: collapse; font-size: .85em; } td, th { padding: 2px 8px;
 border-bottom: 1px solid #eee; text-align: right; } td:first-child, th:first-child {
 text-align: left; } img { max-width: 100%; }
"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _ok(points: list[Any]) -> list[Any]:
    return [p for p in points if p.ticks is not None]


def _bars(points: list[Any], title: str, ref: str | None = None) -> str:
    pts = _ok(points)
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(pts) + 1.2))
    labels = [p.plan.label for p in pts]
    med = [p.ticks.median for p in pts]
    err = [p.ticks.median * p.ticks.spread / 2 for p in pts]
    ax.barh(labels, med, xerr=err, color="#4a78b0", ecolor="#222", capsize=2)
    if ref:
        ref_pt = next((p for p in pts if p.plan.label == ref), None)
        if ref_pt:
            ax.axvline(ref_pt.ticks.median, color="#c33", ls="--", label=ref)
            ax.legend(loc="lower right")
    ax.invert_yaxis()
    ax.set_xlabel("TSC ticks per iteration (error bar: ±½ IQR)")
    ax.set_title(title)
    return _png(fig)


def _curve(
    points: list[Any],
    title: str,
    xlabel: str,
    groups: list[str],
    ref: str | None,
    mark: float | None = None,
    logx: str = "symlog",
) -> str:
    fig, ax = plt.subplots(figsize=(9, 4))
    for g in groups:
        pts = sorted(
            (p for p in _ok(points) if p.plan.group == g and p.plan.x is not None),
            key=lambda p: p.plan.x,
        )
        if pts:
            ax.errorbar(
                [p.plan.x for p in pts],
                [p.ticks.median for p in pts],
                yerr=[p.ticks.median * p.ticks.spread / 2 for p in pts],
                marker="o",
                capsize=2,
                label=g,
            )
    ref_pt = next((p for p in _ok(points) if p.plan.label == ref), None)
    if ref_pt:
        ax.axhline(ref_pt.ticks.median, color="#c33", ls="--", label=ref)
    if mark is not None:
        ax.axvline(mark, color="#2a2", ls=":", label=f"granularity: {mark:g} B")
    if logx == "symlog":
        ax.set_xscale("symlog", linthresh=64)
        ax.set_xlim(left=0)
    elif logx:
        ax.set_xscale(logx, base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("TSC ticks per iteration")
    ax.set_title(title)
    ax.legend()
    return _png(fig)


def probe_plot(pr: Any, findings: list[Any]) -> str | None:
    name, pts = pr.probe.name, pr.points
    if not _ok(pts):
        return None
    if name == "granularity":
        nums = next(
            (f.numbers for f in findings if f.probe == name and "after_safe" in f.numbers), {}
        )
        return _curve(
            pts,
            "Penalty against the distance from the executed byte",
            "distance D (bytes)",
            ["after", "before"],
            "far-store",
            nums.get("after_safe"),
        )
    if name == "write-ahead":
        return _curve(
            pts, "Write-ahead curve (16K ring, step 64)", "A (bytes ahead)", ["ahead"], "far-store"
        )
    if name == "buffer":
        groups = sorted({p.plan.group for p in pts})
        return _curve(pts, "Buffer size", "buffer (bytes)", groups, None, logx="log")
    ref = {"penalty": "far-store", "barriers": "none", "cross-modifying": "no writer"}
    return _bars(pts, pr.probe.title, ref.get(name))


def ranking_plot(advice: Any) -> str:
    entries = [e for e in advice.entries if e.ok]
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(entries) + 1.5))
    ax.barh(
        [e.id for e in entries],
        [e.result.ns_per_iter.median for e in entries],
        color=["#3a3" if e.verdict == "helps" else "#bbb" for e in entries],
    )
    ax.axvline(advice.naive.result.ns_per_iter.median, color="#c33", ls="--", label="naive")
    ax.axvline(advice.floor.result.ns_per_iter.median, color="#33c", ls=":", label="floor")
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ns per iteration (log scale; green: helps)")
    ax.set_title(f"Workarounds ranked ({advice.workload} workload)")
    ax.legend(loc="lower right")
    return _png(fig)


def _raw_table(d: Any) -> str:
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


def render(d: Any, advice: Any = None) -> str:
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
        out.append(
            f"<p class='finding'>• {html.escape(f.text)} <span class='{f.confidence}'>"
            f"[{f.confidence}]</span></p>"
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
    if advice is not None:
        out.append("<h2>Workarounds, measured</h2>")
        best = advice.recommended[0] if advice.recommended else None
        if best:
            out.append(
                f"<p class='finding'>Best: <b>{html.escape(best.id)}</b>,"
                f" {best.speedup:.1f}x faster than the naive loop, {best.to_floor:.2f}x"
                f" the floor: {html.escape(best.how_to(advice.naive.experiment))}.</p>"
            )
        out.append(f"<img alt='ranking' src='{ranking_plot(advice)}'>")
    out.append("<h2>Raw measurements</h2>")
    out.append(_raw_table(d))
    out.append("</body></html>")
    return "\n".join(out)


def write_html(path: str | Path, d: Any, advice: Any = None) -> None:
    Path(path).write_text(render(d, advice))
