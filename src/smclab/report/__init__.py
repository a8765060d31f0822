"""Rendering: rich tables for results, the seed table and host facts."""

from __future__ import annotations

import os
import re
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from smclab.errors import SpecError
from smclab.model.noise import NOISY_SHARE
from smclab.model.result import CounterValue, Result, Stats
from smclab.report.layout import Col, FitTable
from smclab.run.noise import Check


def host_line(host: dict[str, Any]) -> str:
    """``AMD EPYC (family 0x19, model 0x1, microcode 0x1000065, under KVM); TSC 2.445 GHz``
    (parts the host facts lack are left out)."""
    parts = []
    if host.get("family") is not None:
        parts.append(f"family {host['family']:#x}")
    if host.get("model") is not None:
        parts.append(f"model {host['model']:#x}")
    if host.get("microcode"):
        parts.append(f"microcode {host['microcode']}")
    if host.get("hypervisor"):
        parts.append(f"under {host['hypervisor']}")
    name = host.get("model_name") or "unknown CPU"
    text = f"{name} ({', '.join(parts)})" if parts else name
    return text + (f"; TSC {host['tsc_hz'] / 1e9:.3f} GHz" if host.get("tsc_hz") else "")


def check_writable(path: str) -> None:
    """Refuse an output file whose directory does not exist or is not writable, before
    anything is measured (raises SpecError)."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise SpecError(f"cannot write {path}: {parent} is not a writable directory")


_LISTING_LINE = re.compile(r"^  [0-9a-f]{16}  (.*)$")


def collapse_runs(listing: str) -> str:
    """A listing with every run of identical instructions (same bytes, e.g. the payload's
    ``nop`` padding) shown as its first line marked ``× N``."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            out.append(run[0] + (f" × {len(run)}" if len(run) > 1 else ""))
            run.clear()

    key: str | None = None  # bytes and instruction of the run
    for line in listing.splitlines():
        m = _LISTING_LINE.match(line)
        if m and m.group(1) == key:
            run.append(line)
            continue
        flush()
        key = m.group(1) if m else None
        (run if m else out).append(line)
    flush()
    return "\n".join(out)


def fmt_stats(s: Stats | None, digits: int = 1) -> str:
    return "-" if s is None else f"{s.median:.{digits}f}"


MODES_MARK = "~"
MODES_LEGEND = (
    f"{MODES_MARK}: its repeats fall into several modes far apart; the median describes"
    " none of them (--json lists the modes)"
)


def fmt_result(r: Result, digits: int = 1, ns: bool = False) -> str:
    """A result's median ticks (or ns) per iteration, marked when it is multimodal."""
    text = fmt_stats(r.ns_per_iter if ns else r.ticks_per_iter, digits)
    return text + MODES_MARK if r.multimodal else text


def modes_line(r: Result) -> str | None:
    """``modes: 2700 (11 repeats), 30000 (4 repeats)`` for a multimodal result."""
    if not r.multimodal:
        return None
    parts = [f"{m.value:.1f} ({m.count} repeats)" for m in r.modes]
    return f"{MODES_MARK} modes (ticks/iter): " + ", ".join(parts)


def fmt_spread(s: Stats | None) -> Text:
    if s is None:
        return Text("-")
    return Text(f"{s.spread:.1%}", style="bold red" if s.noisy else "")


def fmt_counter(c: CounterValue | None, short: bool = False) -> str:
    if c is None:
        return "-"
    if c.per_iter is None:
        return "n/a" if short else f"n/a: {c.reason}"
    return f"{c.per_iter:.3g}"


def _reasons(results: list[Result], events: list[str]) -> list[Text]:
    """One line per distinct reason a counter was not available (cells just say n/a) and per
    proxy event (what it really counts)."""
    lines = set()
    for r in results:
        for e in events:
            c = r.counters.get(e)
            if c is not None and c.per_iter is None:
                lines.add(f"n/a: {e}: {c.reason}")
            elif c is not None and c.note:
                lines.add(f"note: {c.note}")
    return [Text(line, style="dim") for line in sorted(lines)]


def result_table(label: str, r: Result) -> Group:
    """One result, one fact per line."""
    t = Table(title=label, show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value", justify="right")
    t.add_column("min", justify="right")
    t.add_row("iterations", str(r.iterations or "-"), "")
    t.add_row(
        "ticks/iter",
        fmt_result(r),
        "-" if r.ticks_per_iter is None else f"min {r.ticks_per_iter.min:.1f}",
    )
    t.add_row(
        "ns/iter",
        fmt_stats(r.ns_per_iter, 2),
        "-" if r.ns_per_iter is None else f"min {r.ns_per_iter.min:.2f}",
    )
    t.add_row("spread (IQR/median)", fmt_spread(r.ticks_per_iter), "")
    if r.ticks_per_patch is not None:
        t.add_row(f"ticks/patch (x {r.experiment.rate})", f"{r.ticks_per_patch:.1f}", "")
    for e in r.experiment.events:
        t.add_row(f"{e}/iter", fmt_counter(r.counters.get(e), short=True), "")
    if r.error:
        t.add_row("error", Text(r.error, style="red"), "")
    modes = modes_line(r)
    extra = [Text(modes, style="yellow")] if modes else []
    return Group(t, *extra, *_reasons([r], list(r.experiment.events)))


def smc_cell(c: CounterValue | None, estimate: float | None) -> str:
    """The SMC column: the measured count where a PMU gave one, the model's estimate beside
    it (``2.00 (≈1.9)``), or the estimate alone (``≈2.0``) where none did; ``≈`` marks an
    estimate (the table's est. note says how it was made)."""
    est = None if estimate is None else f"≈{estimate:.1f}"
    if c is not None and c.per_iter is not None:
        return fmt_counter(c) + (f" ({est})" if est else "")
    return est or fmt_counter(c, short=True)


ROW_LEGEND = ("baseline", "no-store", "far-store", "direct", "4K/0 near")


def moved_with(s: Stats, base: Stats | None) -> float | None:
    """The spread of ``s``'s per-round ratios to ``base`` when ``s``'s per-round values spread
    more than NOISY_SPREAD but those ratios do not (both moved together: the host's speed
    moved, not the row); None otherwise or without paired rounds."""
    if base is None or s.series is None or s.series != base.series:
        return None
    if len(s.rounds) != len(base.rounds) or len(s.rounds) < 4:
        return None
    ratios = [a / b for a, b in zip(s.rounds, base.rounds, strict=True) if b > 0]
    if len(ratios) < 4 or not Stats.of(list(s.rounds)).noisy:
        return None
    r = Stats.of(ratios)
    return None if r.noisy else r.spread


def spread_reason(res: Any, base: Stats | None = None) -> str | None:
    """Why a result's repeats spread more than NOISY_SPREAD, from what was measured beside
    them: the host's load during its repeats, two modes, a reference ``base`` measured in the
    same rounds that moved alike, or none of these (None: not spread)."""
    s = res.ticks_per_iter
    if s is None or not s.noisy:
        return None
    n = res.noise
    if n is not None and n.noisy:
        what = []
        if n.steal_pct / 100 > NOISY_SHARE:
            what.append(f"the hypervisor took {n.steal_pct:.0f}%")
        if n.other_cpu_pct / 100 > NOISY_SHARE:
            what.append(f"other tasks used {n.other_cpu_pct:.0f}%")
        return (
            f"{s.spread:.0%}, the host: {' and '.join(what)} of its CPU during its repeats"
            f" ({n.ctx_switches} preemption{'' if n.ctx_switches == 1 else 's'})"
        )
    if res.multimodal:
        return f"{s.spread:.0%}, two modes (below)"
    together = moved_with(s, base)
    if together is not None:
        return (
            f"{s.spread:.0%}, the host's speed: the baseline moved alike in the same rounds"
            f" (the per-round ratio to it spreads {together:.0%})"
        )
    return f"{s.spread:.0%}, not explained by the load measured beside it (steal, other tasks)"


def seed_table(table: Any) -> Group:
    """The seed table (a :class:`smclab.suites.seed.SeedTable`) with its findings."""
    h = table.host
    t = FitTable(
        [
            Col("row", key=True),
            Col("ticks/it", "right"),
            Col("ns/it", "right"),
            Col("spread", "right", drop=1),
            Col("x base", "right"),
            Col("SMC/it", "right", drop=1),
            Col("KBL s", "right", drop=2),
            Col("KBL SMC", "right", drop=2),
        ],
        title=f"The seed's experiment on {host_line(h)}",
    )
    for row, res in table.rows:
        ratio = table.ratio_to_baseline(row.name)
        t.add_row(
            row.name,
            fmt_result(res),
            fmt_result(res, 2, ns=True),
            fmt_spread(res.ticks_per_iter),
            "-" if ratio is None else f"{ratio:.2f}",
            smc_cell(res.counters.get("smc-clears"), table.estimate(row.name)),
            "-" if row.published_seconds is None else f"{row.published_seconds:.2f}",
            "-" if row.published_clears is None else f"{row.published_clears / 1e8:.2f}",
        )
    notes = [
        Text(f"{row.name}: {res.error or row.what}", style="red" if res.error else "dim")
        for row, res in table.rows
        if res.error or (row.name in ROW_LEGEND)
    ]
    fit_rows = [
        row.name for row, _ in table.rows if row.name not in ROW_LEGEND and "fit" in row.what
    ]
    if fit_rows:
        notes.append(
            Text(
                f"{', '.join(n for n in fit_rows if not n.endswith(' far'))}: rep movsb of 1 byte,"
                " rep movsq of 64 bytes at the 4K/0 slot (far: the same into data),"
                " measured to fit the penalty model of the est. column",
                style="dim",
            )
        )
    notes.append(
        Text(
            "per iteration (it); ticks = TSC ticks; x base = the median over the interleaved"
            " rounds of ticks / baseline ticks in the same round;"
            " KBL = published on the seed's Kaby Lake i7-7567U (100M iterations, SMC per"
            " iteration); ≈: an estimate (est.)",
            style="dim",
        )
    )
    base = table.stats("baseline")
    spread = [
        (row.name, why)
        for row, res in table.rows
        if (why := spread_reason(res, None if row.name == "baseline" else base))
    ]
    if spread:
        notes.append(
            Text(
                "why a row spreads more than 5%: "
                + "; ".join(f"{name}: {why}" for name, why in spread),
                style="yellow",
            )
        )
    if any(res.multimodal for _, res in table.rows):
        notes.append(Text(MODES_LEGEND, style="yellow"))
    notes += _reasons([r for _, r in table.rows], ["smc-clears"])
    notes.append(Text(table.estimate_note(), style="dim"))
    notes += [Text("• " + f) for f in table.findings()]
    return Group(t, *notes)


def checks_table(checks: list[Check]) -> Table:
    """`smclab host --check`: one row per setting, what it is, and what to do about it."""
    t = Table(title="What would make this machine quieter for measuring")
    t.add_column("check", no_wrap=True)
    t.add_column("state")
    t.add_column("ok", justify="center", no_wrap=True)
    t.add_column("advice")
    for c in checks:
        mark = Text("-") if c.ok is None else Text("yes", "green") if c.ok else Text("no", "red")
        t.add_row(c.name, c.state, mark, c.advice)
    return t


def host_table(facts: dict[str, Any], events: dict[str, str | None]) -> Group:
    t = Table(title="Host", show_header=False)
    t.add_column("fact", style="bold")
    t.add_column("value", overflow="fold")
    for key, value in facts.items():
        if key == "flags":
            value = " ".join(value)
        elif key == "vulnerabilities":
            value = "\n".join(f"{k}: {v}" for k, v in value.items()) or "-"
        elif key == "governor" and value is None:
            value = "none (no cpufreq: the frequency is not the guest's to set)"
        elif key == "tsc_hz":
            value = f"{value / 1e9:.4f} GHz"
        t.add_row(key, str(value))
    c = Table(title="Counters")
    c.add_column("event")
    c.add_column("status", overflow="fold")
    for name, reason in events.items():
        c.add_row(name, Text("available", style="green") if reason is None else Text(reason))
    return Group(t, c)


def catalog_table(
    variants: list[Any], flags: frozenset[str], no_second: str | None = None
) -> Group:
    """The catalog, one section per workload: id, what it does (and the CPU features it
    needs), whether this host runs it."""
    t = FitTable(
        [Col("id"), Col("what it does", wrap=True), Col("here")],
        title=f"smclab catalog: {len(variants)} variants",
        box=box.SIMPLE_HEAD,
    )
    workload = None
    for v in variants:
        if v.workload != workload:
            workload = v.workload
            t.add_row(Text(f"{workload}:", style="bold"), "", "")
        what = Text(v.summary + (f" (needs {' '.join(v.features)})" if v.features else ""))
        reason = v.reason(flags, no_second)
        t.add_row(v.id, what, Text("no", style="yellow") if reason else Text("yes", style="green"))
    missing = sorted({f for v in variants for f in v.missing(flags)})
    notes = [Text(f"no: this CPU lacks {', '.join(missing)}", style="dim")] if missing else []
    others = {r for v in variants if not v.missing(flags) and (r := v.reason(flags, no_second))}
    notes += [Text(f"no: {r}", style="dim") for r in sorted(others)]
    return Group(t, *notes)
