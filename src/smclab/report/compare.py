"""Rich rendering of `smclab compare` (hosts side by side) and its host list."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text

from smclab.model.result import NOISY_SPREAD
from smclab.report import host_line
from smclab.report.layout import Col, FitTable, markdown


def compare_table(data: dict[str, Any]) -> Any:
    """The table ``smclab compare`` prints, with a legend of the hosts: labels wrap between
    words and numbers are never cut; when narrow, the ticks columns go first, then the table
    turns vertical."""

    hosts, rows = data["hosts"], data["rows"]
    cols = [Col("experiment", wrap=True, key=True)]
    for i in range(len(hosts)):
        cols += [Col(f"h{i + 1} ns/it", "right"), Col(f"h{i + 1} ticks/it", "right", drop=1)]
        if i:
            cols.append(Col(f"h{i + 1} x h1", "right"))
    t = FitTable(cols, title=f"{len(rows)} experiment(s) on {len(hosts)} hosts")
    noisy = partial = 0
    for r in rows:
        label = Text(r["label"])
        if r["name"] and r["name"] != r["label"]:
            label.append(f" [{r['name']}]", style="dim")
        cells: list[Any] = [label]
        for i, (v, ratio) in enumerate(zip(r["values"], r["ratio_to_first"], strict=True)):
            if v is None:
                cells += ["-", "-"]
                partial += 1
            else:
                bad = v["spread"] is not None and v["spread"] > NOISY_SPREAD
                noisy += bad
                ns = v["ns_per_iter"]
                cells.append(Text("-" if ns is None else f"{ns:.2f}", "bold red" if bad else ""))
                cells.append(f"{v['ticks_per_iter']:.1f}")
            if i:
                cells.append("-" if ratio is None else f"{ratio:.2f}")
        t.add_row(*cells)
    notes = [
        Text(f"h{i + 1}: {host_line(h)}; host {h['id']} of {h['source']}", style="dim")
        for i, h in enumerate(hosts)
    ]
    notes.append(
        Text(
            "x h1 = ns/iter / ns/iter of h1 (wall time; ticks count each host's own TSC)",
            style="dim",
        )
    )
    means = data["geomean"]
    if means[0]["rows"]:
        text = ", ".join(f"h{i + 1} {m['ratio']:.3g}" for i, m in enumerate(means[1:], 1))
        notes.append(
            Text(
                f"geometric mean of x h1 over the {means[0]['rows']} experiment(s) on every"
                f" host: {text} (--markdown or --json: a test and an interval per row)",
                style="dim",
            )
        )
    if noisy:
        notes.append(Text(f"red: spread (IQR/median) > {NOISY_SPREAD:.0%}", style="dim"))
    if partial:
        missing = sum(1 for r in rows if any(v is None for v in r["values"]))
        notes.append(
            Text(f"{missing} experiment(s) not stored on every host (-); --common hides them")
        )
    return Group(t, *notes)


#: a test's verdict on host i's ns/iter against the first host's
VERDICT_WORDS = {"lower": "faster", "higher": "slower", "same": "same", "unclear": "unclear"}


def _tested(t: dict[str, Any] | None) -> tuple[str, str]:
    """(ratio [interval], verdict (p)) of one test_to_first cell."""
    if t is None:
        return "-", "-"
    ratio = f"{t['ratio']:.3g} [{t['low']:.3g}, {t['high']:.3g}]"
    return ratio, f"{VERDICT_WORDS[t['verdict']]} (p={t['p']:.2g})"


def compare_markdown(data: dict[str, Any]) -> str:
    """``smclab compare --markdown``: per experiment each host's ns/iter, and for every host
    after the first its ratio to the first with the 95% interval and a verdict; then the
    geometric means and the hosts."""
    hosts, rows = data["hosts"], data["rows"]
    cols = [Col("experiment")]
    for i in range(len(hosts)):
        cols.append(Col(f"h{i + 1} ns/it", "right"))
    for i in range(1, len(hosts)):
        cols += [Col(f"h{i + 1} / h1 [95%]", "right"), Col(f"h{i + 1} verdict")]
    cells = []
    for r in rows:
        row = [r["label"]]
        row += ["-" if v is None else f"{v['ns_per_iter']:.4g}" for v in r["values"]]
        for t in r["test_to_first"][1:]:
            row += _tested(t)
        cells.append(row)
    out = markdown(cols, cells)
    means = data["geomean"]
    out += (
        f"\nGeometric mean of h / h1 over the {means[0]['rows']} experiment(s) stored on every"
        " host: "
        + ", ".join(
            f"h{i + 1} {m['ratio']:.3g}" for i, m in enumerate(means) if m["ratio"] is not None
        )
        + "\n\n"
    )
    out += "".join(
        f"- h{i + 1}: {host_line(h)}; host {h['id']} of {h['source']}\n"
        for i, h in enumerate(hosts)
    )
    out += (
        "- h / h1: ns/iter relative to h1 (Hodges-Lehmann estimate over the stored repeats);"
        " verdict: exact Mann-Whitney U test, p <= 0.05 and at least 5% apart\n"
    )
    return out


def hosts_table(hosts: list[dict[str, Any]]) -> FitTable:
    """The stored hosts: source and id (what `compare --db` takes) are never cut; the CPU name
    and kernel wrap; family, model, microcode and hypervisor go first when it is narrow."""
    t = FitTable(
        [
            Col("source"),
            Col("id", "right"),
            Col("cpu", wrap=True),
            Col("family", drop=2),
            Col("model", drop=2),
            Col("microcode", drop=1),
            Col("hypervisor", drop=1),
            Col("kernel", wrap=True, drop=3),
            Col("results", "right"),
            Col("errors", "right"),
        ],
        title="Stored hosts",
    )
    for h in hosts:
        t.add_row(
            h["source"],
            str(h["id"]),
            h["model_name"] or "-",
            "-" if h["family"] is None else f"{h['family']:#x}",
            "-" if h["model"] is None else f"{h['model']:#x}",
            h["microcode"] or "-",
            h["hypervisor"] or "-",
            h["kernel"] or "-",
            str(h["rows"]),
            str(h["errors"]),
        )
    return t
