"""PNG plots of a stored sweep: a metric (ns or ticks per iteration) against one knob, one line
per value of another knob. Error bars are +- half the IQR (spread x median / 2).

Every other knob that varies in the sweep splits the lines further, and so does the host when
the store holds the sweep for several hosts, so a line never mixes two configurations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smclab.errors import SpecError
from smclab.model.experiment import FIELDS, LIST_FIELDS, field_meta
from smclab.model.knobs import format_size
from smclab.model.result import Metric, StoredResult, latest_results

#: metric -> the y axis label
METRICS: dict[Metric, str] = {"ns": "ns/iter", "ticks": "ticks/iter (TSC)"}
#: the fields a plot can use as its x axis or lines
PLOT_FIELDS = tuple(f for f in FIELDS if f not in LIST_FIELDS)
MAX_TICKS = 12


#: what installs the plotting dependency (the error names it)
PLOT_EXTRA = "pip install 'smclab[plot]'"


def pyplot(what: str = "plotting") -> Any:
    """matplotlib's pyplot (the Agg backend); SpecError naming the ``plot`` extra when it is
    not installed (``what`` needs it)."""
    try:
        import matplotlib
    except ImportError:
        raise SpecError(f"{what} needs matplotlib: {PLOT_EXTRA}") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_pyplot = pyplot


def knob(text: str, option: str) -> str:
    key = text.replace("-", "_")
    if key not in PLOT_FIELDS:
        names = ", ".join(f.replace("_", "-") for f in PLOT_FIELDS)
        raise SpecError(f"unknown knob '{text}' for {option} (knobs: {names})")
    return key


def _show(name: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            if field_meta(name)["kind"] == "size":
                return format_size(value)
        except (KeyError, SpecError):
            pass
    return str(value)


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


@dataclass
class Series:
    label: str
    points: list[tuple[Any, float, float]] = field(default_factory=list)  # x, y, half IQR


def series(
    rows: list[StoredResult], x: str, y: Metric = "ns", lines: str | None = None
) -> tuple[list[Series], list[Any]]:
    """Lines of stored results, and the x values in order.

    The latest result per host and exp_key is used; error rows are skipped. Raises SpecError
    when nothing is left or ``x`` does not vary.
    """
    ok = list(latest_results(rows, lambda r: (r.host_id, r.exp_key), y).values())
    if not ok:
        raise SpecError("no results without errors to plot")
    if lines == x:
        raise SpecError("--lines must name another knob than --x")

    def distinct(name: str) -> list[Any]:
        seen: dict[str, Any] = {}
        for r in ok:
            v = r.knob(name)
            seen.setdefault(json.dumps(v), v)
        return list(seen.values())

    varying = [f for f in PLOT_FIELDS if len(distinct(f)) > 1]
    xs = distinct(x)
    if len(xs) < 2:
        more = ", ".join(f.replace("_", "-") for f in varying) or "nothing"
        raise SpecError(f"knob '{x}' does not vary in these results (varying: {more})")
    if _numeric(xs):
        xs = sorted(xs)
    split = ([lines] if lines else []) + [f for f in varying if f not in (x, lines)]
    hosts = {r.host_id: r.host.get("model_name") or f"host {r.host_id}" for r in ok}
    by_line: dict[str, Series] = {}
    for r in ok:
        parts = [f"{f}={_show(f, r.knob(f))}" for f in split]
        if len(hosts) > 1:
            parts.insert(0, f"{hosts[r.host_id]} (host {r.host_id})")
        label = ", ".join(parts)
        s = by_line.setdefault(label, Series(label))
        stats = r.stats(y)
        assert stats is not None  # latest_results skips results without it
        s.points.append((r.knob(x), stats.median, (stats.spread or 0.0) * stats.median / 2))
    order = {json.dumps(v): i for i, v in enumerate(xs)}
    for s in by_line.values():
        s.points.sort(key=lambda p: order[json.dumps(p[0])])
    return list(by_line.values()), xs


def sweep_figure(
    rows: list[StoredResult],
    x: str,
    y: Metric = "ns",
    lines: str | None = None,
    logx: bool = False,
    title: str | None = None,
    logy: bool = False,
) -> Any:
    """A matplotlib Figure of ``rows`` (see :func:`series`)."""
    lines_, xs = series(rows, x, y, lines)
    numeric = _numeric(xs)
    if logx and not numeric:
        raise SpecError(f"--logx needs a numeric knob; '{x}' is not")
    plt = _pyplot()  # imported only now: bad input fails fast
    from matplotlib.ticker import NullLocator

    pos = {json.dumps(v): (v if numeric else i) for i, v in enumerate(xs)}
    fig, ax = plt.subplots(figsize=(8, 5))
    for s in lines_:
        ax.errorbar(
            [pos[json.dumps(p[0])] for p in s.points],
            [p[1] for p in s.points],
            yerr=[p[2] for p in s.points],
            marker="o",
            capsize=3,
            label=s.label or None,
        )
    if logx:
        positive = [v for v in xs if v > 0]
        if len(positive) == len(xs):
            ax.set_xscale("log")
        else:
            ax.set_xscale("symlog", linthresh=min(positive) if positive else 1)
    if not numeric or len(xs) <= MAX_TICKS:
        ax.set_xticks([pos[json.dumps(v)] for v in xs], [_show(x, v) for v in xs])
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(x.replace("_", "-"))
    ax.set_ylabel(METRICS[y])
    if logy:
        ax.set_yscale("log")  # every plotted value is a positive time
    else:
        ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    if any(s.label for s in lines_):
        ax.legend(fontsize="small")
    return fig


def image_format(path: str | Path) -> str:
    """The image format of ``path``'s suffix among those matplotlib writes (no suffix: png);
    SpecError for any other suffix."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if not suffix:
        return "png"
    fig = _pyplot().figure()
    formats = fig.canvas.get_supported_filetypes()
    _pyplot().close(fig)
    if suffix not in formats:
        raise SpecError(
            f"cannot write a plot to {path}: '.{suffix}' is not an image format"
            f" (use one of: {', '.join(sorted(formats))})"
        )
    return suffix


def write_png(fig: Any, path: str | Path, fmt: str = "png") -> None:
    """Write ``fig`` to ``path`` as ``fmt`` (see :func:`image_format`)."""
    plt = _pyplot()
    try:
        fig.savefig(path, format=fmt, dpi=110, bbox_inches="tight")
    except OSError as e:
        raise SpecError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        plt.close(fig)


def sweep_title(rows: list[StoredResult], sweep_id: str) -> str:
    """``sweep ID on CPU`` (the CPU only when one host measured the rows)."""
    hosts = {r.host.get("model_name") for r in rows}
    return f"sweep {sweep_id}" + (f" on {hosts.pop()}" if len(hosts) == 1 else "")


def plot_sweep(
    rows: list[StoredResult],
    sweep_id: str,
    path: str | Path,
    fmt: str,
    x: str,
    y: Metric = "ns",
    lines: str | None = None,
    logx: bool = False,
    logy: bool = False,
) -> None:
    """Write the figure of the stored sweep ``sweep_id`` (its ``rows``) to ``path`` as
    ``fmt``."""
    try:
        fig = sweep_figure(rows, x, y, lines, logx, sweep_title(rows, sweep_id), logy)
    except SpecError as e:
        raise SpecError(f"sweep '{sweep_id}': {e}") from None
    write_png(fig, path, fmt)
