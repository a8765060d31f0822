"""The atlas: every host's facts side by side, from any number of stores and the built-in
reference (the recorded hosts, shipped as compact fact files).

A host's facts are the typed facts of the findings ``diagnose`` prints (each probe's
``facts``, read from its findings' numbers), computed from the latest stored run of each probe
on that host; the seed's four configurations come from its stored table, the best workaround
per workload from the latest stored ``advise`` run. Nothing here interprets a probe's points:
the findings do, and the atlas only reads the facts they state.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.model.result import Result, Stats, StoredResult
from smclab.model.stats import comparison, confidence, differs, no_difference
from smclab.store import ResultStore, StoredSweep, is_url, open_store, redact
from smclab.suites.diagnose import PROBES, Fact, PlanPoint, Point, ProbeSpec, facts_of, find
from smclab.suites.diagnose.base import Host, ProbeResult
from smclab.suites.seed import ROW_NAMES, ROWS, SEED_CONFIGS, SeedTable
from smclab.suites.workarounds import SETS

#: the version of the exported fact files (bump when a fact's meaning or a file's shape changes)
ATLAS_FORMAT = 1
#: the host facts that tell two CPUs apart (two stores of one identity make one column)
IDENTITY = ("vendor", "family", "model", "stepping", "model_name", "microcode", "hypervisor")
#: the host facts a column keeps (the flags are left out of the compact files)
HOST_KEYS = (*IDENTITY, "kernel", "cpus", "caches", "tsc_hz")
#: two numbers this many times apart differ in a way that matters for a JIT
JIT_FACTOR = 2.0
RUN_RE = re.compile(r"^diagnose-(?P<run>\d{8}T\d{6})-(?P<probe>.+)$")
ADVISE_RE = re.compile(r"^advise-(?P<workload>.+)-(?P<run>\d{8}T\d{6})$")


@dataclass(frozen=True)
class Row:
    """One fact of the atlas: its key, a short title (fits 20 columns, unit included), its
    unit, and what it says in full."""

    name: str
    title: str
    unit: str = ""
    what: str = ""


ROWS_: tuple[Row, ...] = (
    Row("ticks_per_penalty", "1 penalty, ticks", "ticks", "one SMC penalty (stores probe's model)"),
    Row("ns_per_penalty", "1 penalty, ns", "ns", "one SMC penalty at the host's TSC rate"),
    Row("seed_penalty_ticks", "seed-far, ticks/it", "ticks", "seed loop minus far-store"),
    Row("seed_penalty_ns", "seed-far, ns/it", "ns", "seed loop minus far-store"),
    Row("seed_over_far_store", "seed / far-store", "x", "seed loop over its far-store control"),
    Row("penalties_per_seed_iter", "penalties/seed iter", "", "estimated without a PMU"),
    Row("charged_per_rep", "rep strings charged", "", "a penalty per store/byte/line or flat"),
    Row("charged_per_ordinary", "mov stores charged", "", "a penalty per store/byte/line or flat"),
    Row("lines_mov8", "1-byte mov: lines", "lines", "lines (rel. to the executed one) that cost"),
    Row("partly_lines_mov8", "...partly", "lines", "lines where only some offsets cost"),
    Row("lines_rep_movsb", "rep movsb: lines", "lines", "lines (rel. to the executed one)"),
    Row("partly_lines_rep_movsb", "...partly", "lines", "lines where only some offsets cost"),
    Row("write_ahead_bytes", "write-ahead enough", "bytes", "write-ahead that removes the cost"),
    Row(
        "old_code_free_from_ring",
        "old code free from",
        "bytes",
        "ring from which rewriting old code is free",
    ),
    Row(
        "page_split_store_ticks",
        "page-split store",
        "ticks",
        "an 8-byte store split across a page, into data, over the same store not split",
    ),
    Row("barriers_helping", "barriers helping", "", "placements faster in total and net"),
    Row("cpuid_ticks", "CPUID, ticks", "ticks", "one CPUID (a VM exit under a hypervisor)"),
    Row("cpuid_ns", "CPUID, ns", "ns", "one CPUID"),
    Row("clflushopt_ticks", "clflushopt, ticks", "ticks", "clflushopt after the copy, into data"),
    Row(
        "writer_store_ticks",
        "xmod/writer store",
        "ticks",
        "cost to the executing thread per writer store",
    ),
    Row(
        "writer_vs_same_thread",
        "xmod / same-thread",
        "x",
        "per writer store over the same-thread penalty",
    ),
    Row("stale_per_run", "stale code per run", "per run", "stale runs, no protocol"),
    Row("stale_upper95", "stale bound (95%)", "per run", "upper bound of stale runs per run"),
    *(
        Row(f"seed {c}", f"{c} / baseline", "x", f"the seed's {c} over its baseline")
        for c in SEED_CONFIGS
    ),
    *(
        Row(f"best {w}", f"best: {w}", "x naive", f"advise's best for {w}: x naive, x floor")
        for w in SETS
    ),
)
#: the atlas's rows, by name
CATALOGUE: dict[str, Row] = {r.name: r for r in ROWS_}


@dataclass(frozen=True)
class Cell:
    """A fact of one host, with the stored points behind it (keys of :attr:`Column.points`)."""

    fact: Fact
    points: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The fact and its points (the evidence's labels are the points' labels)."""
        d = {**self.fact.to_dict(), "points": list(self.points)}
        if self.points:
            d.pop("evidence")
        return d

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any], points: dict[str, Any]) -> Cell:
        refs = tuple(d.get("points", ()))
        evidence = d.get("evidence") or [points[k]["label"] for k in refs if k in points]
        f = Fact(name, d["value"], d["unit"], d["confidence"], d["probe"], tuple(evidence))
        return cls(f, refs)


@dataclass
class Column:
    """One host: who it is, when and with what it was measured, and its facts."""

    host: dict[str, Any]
    date: str  # of the latest result used (UTC, ISO date)
    version: str  # smclab's version that measured it
    sources: list[str]
    cells: dict[str, Cell]
    #: the raw points behind the cells: key -> probe, label, sweep, store id, ticks, spread
    points: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference: bool = False  # from the built-in reference

    @property
    def label(self) -> str:
        return host_label(self.host) + (" (ref)" if self.reference else "")

    def value(self, name: str) -> Any:
        c = self.cells.get(name)
        return c.fact.value if c else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "atlas_format": ATLAS_FORMAT,
            "label": self.label,
            "host": self.host,
            "date": self.date,
            "smclab": self.version,
            "sources": self.sources,
            "reference": self.reference,
            "facts": {n: c.to_dict() for n, c in self.cells.items()},
            "missing": [r.name for r in ROWS_ if r.name not in self.cells],
            "points": self.points,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], reference: bool = False) -> Column:
        if d.get("atlas_format") != ATLAS_FORMAT:
            raise SpecError(
                f"an atlas fact file of format {d.get('atlas_format')!r}, not {ATLAS_FORMAT}"
            )
        cells = {n: Cell.from_dict(n, c, d["points"]) for n, c in d["facts"].items()}
        return cls(d["host"], d["date"], d["smclab"], d["sources"], cells, d["points"], reference)


def host_label(host: dict[str, Any]) -> str:
    """``Intel 0x6/0xcf``, ``AMD 0x19/0x11``: vendor, family/model."""
    vendor = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}.get(host.get("vendor", ""), "CPU")
    fam, model = host.get("family"), host.get("model")
    if fam is None or model is None:
        return vendor
    return f"{vendor} {fam:#x}/{model:#x}"


def identity(host: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(host.get(k) for k in IDENTITY)


def jit_differs(values: Iterable[Any]) -> bool:
    """Whether facts of several hosts differ in a way that matters for a JIT: numbers
    :data:`JIT_FACTOR` apart (or zero against non-zero), or different categories."""
    vals = [v for v in values if v is not None]
    if len(vals) < 2:
        return False
    nums = [v for v in vals if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(nums) == len(vals):
        lo, hi = min(nums), max(nums)
        return hi > 0 if lo <= 0 else hi / lo >= JIT_FACTOR
    if all(isinstance(v, dict) for v in vals):
        return len({v.get("id") for v in vals}) > 1
    return len({json.dumps(v, sort_keys=True) for v in vals}) > 1


@dataclass
class Atlas:
    columns: list[Column]

    def rows(self) -> list[Row]:
        """The catalogue's rows, and any fact a column has that the catalogue lacks."""
        extra = {n for c in self.columns for n in c.cells if n not in CATALOGUE}
        return [*ROWS_, *(Row(n, n) for n in sorted(extra))]

    def marked(self, row: Row) -> bool:
        return jit_differs(c.value(row.name) for c in self.columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "atlas_format": ATLAS_FORMAT,
            "rows": [{"name": r.name, "title": r.title, "unit": r.unit} for r in self.rows()],
            "differs_for_jit": [r.name for r in self.rows() if self.marked(r)],
            "hosts": [c.to_dict() for c in self.columns],
        }


# --- reading stores ------------------------------------------------------------------------


def _stats(r: StoredResult, series: str) -> tuple[Stats | None, Stats | None]:
    """The stored statistics with their per-round values, as one interleaved series (every
    point of a stored sweep was measured in one interleaved run)."""
    t, n = r.ticks, r.ns
    if t is None:
        return None, None
    rounds = tuple(r.round_values())
    s = series if rounds else None
    ticks = Stats(t.median, t.min, t.spread, rounds, s)
    if n is None:
        return ticks, None
    scale = n.median / t.median if t.median else 0.0
    return ticks, Stats(n.median, n.min, n.spread, tuple(x * scale for x in rounds), s)


def _knob_key(p: PlanPoint) -> str | None:
    try:
        return Experiment(**p.knobs).knob_key()
    except (SpecError, TypeError, ValueError):
        return None


def stored_points(
    spec: ProbeSpec, results: list[StoredResult], host: Host, series: str
) -> tuple[list[Point], dict[str, StoredResult]]:
    """A stored run of a probe as the points its findings take: each stored result is matched
    to the planned points with its knobs (as planned on ``host``: quick or full, whichever
    the run was), a result no plan has keeps the label it was stored with. Also label ->
    stored result."""
    by_key = {r.experiment.knob_key(): r for r in results if r.experiment is not None}
    best: list[tuple[PlanPoint, StoredResult]] = []
    for quick in (True, False):
        planned = spec.planned(host, quick)
        got = [(p, by_key[k]) for p in planned if (k := _knob_key(p)) in by_key]
        if len(got) > len(best):
            best = got
    used = {id(r) for _, r in best}
    for r in results:
        if id(r) not in used and r.experiment is not None:
            label = (r.name or r.exp_key).split(": ", 1)[-1]
            best.append((PlanPoint(label, None, "stored", {}), r))
    points, by_label = [], {}
    for p, r in best:
        assert r.experiment is not None
        ticks, ns = _stats(r, series)
        counts = {k: v.per_iter for k, v in r.counters.items()}
        notes = {k: v.note for k, v in r.counters.items() if v.note}
        points.append(Point(p, r.experiment, ticks, ns, counts, r.error, notes))
        by_label[p.label] = r
    return points, by_label


@dataclass
class _Source:
    """What one host's stored results give, before they become a column."""

    name: str
    host: dict[str, Any]
    results: list[StoredResult]
    #: the runs of probes that store no results (stale-code): (probe, run, sweep, rows)
    runs: list[tuple[str, str, StoredSweep, list[dict[str, Any]]]] = field(default_factory=list)


def _date(created: float) -> str:
    return dt.datetime.fromtimestamp(created, dt.UTC).strftime("%Y-%m-%d")


def _round(x: float | None) -> float | None:
    """Four significant digits (a raw point in a fact file: enough to read, not to refit)."""
    return None if x is None else float(f"{x:.4g}")


class _Builder:
    """Cells and their raw points for one column, source by source."""

    def __init__(self, sources: list[_Source]) -> None:
        self.sources = sources
        self.cells: dict[str, Cell] = {}
        self.points: dict[str, dict[str, Any]] = {}
        self.used: list[StoredResult] = []

    def add(
        self, facts: list[Fact], by_label: dict[str, StoredResult], src: int, probe: str
    ) -> None:
        for f in facts:
            refs = []
            for label in f.evidence:
                r = by_label.get(label)
                if r is None:
                    continue
                key = f"s{src}-{r.id}"  # the store (its place in sources) and result id
                refs.append(key)
                self.points[key] = {
                    "probe": probe,
                    "label": label,
                    "sweep": r.sweep_id,
                    "id": r.id,
                    "store": self.sources[src].name,
                    "ticks": _round(r.ticks.median if r.ticks else None),
                    "spread": _round(r.ticks.spread if r.ticks else None),
                }
            self.cells[f.name] = Cell(f, tuple(refs))
        self.used += by_label.values()

    def latest(
        self, pick: Callable[[StoredResult], tuple[str, str] | None]
    ) -> list[tuple[str, int, list[StoredResult]]]:
        """(key, source, results) of the latest group per key: ``pick(result)`` gives a
        (key, run) or None; the latest run of a key wins across the sources."""
        groups: dict[str, tuple[str, int, list[StoredResult]]] = {}
        for i, s in enumerate(self.sources):
            runs: dict[tuple[str, str], list[StoredResult]] = {}
            for r in s.results:
                kr = pick(r)
                if kr is not None:
                    runs.setdefault(kr, []).append(r)
            for (key, run), rs in runs.items():
                if key not in groups or run > groups[key][0]:
                    groups[key] = (run, i, rs)
        return [(k, i, rs) for k, (_, i, rs) in groups.items()]


def _diagnose_run(r: StoredResult) -> tuple[str, str] | None:
    m = RUN_RE.match(r.sweep_id or "")
    if m is None or m.group("probe") not in PROBES:
        return None
    return m.group("probe"), m.group("run")


def _advise_run(r: StoredResult) -> tuple[str, str] | None:
    m = ADVISE_RE.match(r.sweep_id or "")
    if m is None or m.group("workload") not in SETS:
        return None
    return m.group("workload"), m.group("run")


def _result(r: StoredResult, series: str) -> Result:
    assert r.experiment is not None
    ticks, ns = _stats(r, series)
    return Result(
        r.experiment,
        r.host,
        r.iterations or 0,
        ticks,
        ns,
        dict(r.counters),
        r.error,
        list(r.raw_ticks),
        [list(x) for x in r.rounds],
    )


def _seed_runs(results: list[StoredResult]) -> list[list[StoredResult]]:
    """The stored ``smclab seed`` tables, oldest first (a table ends where a row repeats)."""
    runs: list[list[StoredResult]] = []
    for r in sorted((r for r in results if r.suite == "seed"), key=lambda r: r.created):
        if not runs or any(x.name == r.name for x in runs[-1]):
            runs.append([])
        runs[-1].append(r)
    return runs


def seed_table(results: list[StoredResult]) -> tuple[SeedTable, dict[str, StoredResult]] | None:
    """The latest stored seed table that has the seed's configurations and baseline."""
    for run in reversed(_seed_runs(results)):
        named = {r.name: r for r in run if r.experiment is not None and r.name in ROW_NAMES}
        if all(n in named for n in (*SEED_CONFIGS, "baseline")):
            series = f"seed-{run[0].id}"
            rows = [(row, _result(named[row.name], series)) for row in ROWS if row.name in named]
            return SeedTable(run[0].host, rows), {n: r for n, r in named.items() if n}
    return None


def best_workaround(workload: str, results: list[StoredResult]) -> Fact | None:
    """The fastest stored candidate of one advise run that executes fresh code and beats the
    naive loop (sign test over the rounds), with its ratio to the naive loop and the floor."""
    series = f"advise-{workload}"
    named = {r.name: r for r in results if r.name and r.ticks is not None and not r.error}
    naive = named.get("naive")
    floor = next((r for n, r in named.items() if n.startswith("floor")), None)
    if naive is None:
        return None
    known = {c.id: c.fresh for c in SETS[workload].listed(naive.host)}
    n_t, _ = _stats(naive, series)
    assert n_t is not None
    helping, others = [], []
    for name, r in named.items():
        # a candidate's controls (advise's search stores them as "<id> (<what> control)")
        # execute no fresh code
        if name == "naive" or r is floor or not known.get(name, not name.endswith(" control)")):
            continue
        t, _ = _stats(r, series)
        if t is None:
            continue
        others.append(t)
        if differs(t, n_t) and t.median < n_t.median:
            helping.append((t, name, r))
    ev = ("naive", *((floor.name,) if floor and floor.name else ()))
    if not helping:
        value: Any = "none beats the naive loop"
        return Fact(f"best {workload}", value, "", no_difference(n_t, *others), "advise", ev)
    t, name, r = min(helping, key=lambda x: x[0].median)
    c = comparison(n_t, t)
    value = {
        "id": name,
        "label": r.label,
        "x_naive": c.ratio if c else n_t.median / t.median,
        "ticks": t.median,
    }
    if floor is not None:
        f_t, _ = _stats(floor, series)
        if f_t is not None:
            cf = comparison(t, f_t)
            value["x_floor"] = cf.ratio if cf else t.median / f_t.median
    return Fact(f"best {workload}", value, "x naive", confidence((t, n_t)), "advise", (name, *ev))


def column(sources: list[_Source]) -> Column:
    """One host's column from its stored results (one or more stores of one identity)."""
    b = _Builder(sources)
    for probe, i, rs in b.latest(_diagnose_run):
        spec, host = PROBES[probe], rs[0].host
        points, by_label = stored_points(spec, rs, host, rs[0].sweep_id or probe)
        pr = ProbeResult(spec.plan(False, 2), points, rs[0].sweep_id)
        b.add(facts_of([pr], find([pr], host), host), by_label, i, probe)
    tables = [(got, i) for i, s in enumerate(sources) if (got := seed_table(s.results))]
    if tables:  # the latest table of any source
        (table, named), i = max(tables, key=lambda t: max(r.created for r in t[0][1].values()))
        b.add(table.facts(), named, i, "seed")
    for workload, i, rs in b.latest(_advise_run):
        f = best_workaround(workload, rs)
        if f is not None:
            b.add([f], {r.name: r for r in rs if r.name}, i, "advise")
    used = b.used or [r for s in sources for r in s.results]
    stamps = [(r.created, r.version, r.host) for r in used]
    latest: dict[str, tuple[str, dict[str, Any], StoredSweep, list[dict[str, Any]]]] = {}
    for s in sources:
        for probe, run, sweep, rows in s.runs:
            if probe not in latest or run > latest[probe][0]:
                latest[probe] = (run, s.host, sweep, rows)
    for probe, (_, host, sweep, rows) in latest.items():
        pr = ProbeResult(PROBES[probe].plan(False, 2), [], sweep.id, rows=rows)
        b.add(facts_of([pr], find([pr], host), host), {}, 0, probe)
        stamps.append((sweep.updated, sweep.version, host))
    created, version, last = max(stamps, key=lambda t: t[0])
    host = {k: last[k] for k in HOST_KEYS if k in last}
    return Column(host, _date(created), version, [s.name for s in sources], b.cells, b.points)


def read_store(store: ResultStore, name: str) -> list[_Source]:
    """Every host of one store, with its results and the runs of probes that store none."""
    out = {
        identity(h.facts): _Source(name, h.facts, list(store.results(host_id=h.id)))
        for h in store.hosts()
    }
    for sweep in store.sweeps():
        m = RUN_RE.match(sweep.id)
        spec = PROBES.get(m.group("probe")) if m else None
        if m is None or spec is None or spec.rows is None or spec.rows.stored is None:
            continue
        rows, host = spec.rows.stored(sweep.grid)
        src = out.setdefault(identity(host), _Source(name, host, []))
        src.runs.append((m.group("probe"), m.group("run"), sweep, rows))
    return list(out.values())


def from_stores(targets: Iterable[str | Path]) -> list[Column]:
    """One column per host identity over the stores ``targets`` (paths or URLs)."""
    sources: list[_Source] = []
    for t in targets:
        with open_store(t, create=False) as st:
            # a file by its name only: a fact file never carries a machine's path
            sources += read_store(st, redact(str(t)) if is_url(t) else Path(t).name)
    by_id: dict[tuple[Any, ...], list[_Source]] = {}
    for s in sources:
        if s.results or s.runs:
            by_id.setdefault(identity(s.host), []).append(s)
    columns = [column(ss) for ss in by_id.values()]
    return [c for c in columns if c.cells]  # a host with only other runs states no fact


# --- the built-in reference -------------------------------------------------------------------

REFERENCE = "reference"


def reference() -> list[Column]:
    """The recorded hosts shipped with smclab (``smclab atlas --export`` made them)."""
    out = []
    folder = resources.files("smclab.suites").joinpath(REFERENCE)
    if not folder.is_dir():
        return []
    for f in sorted(folder.iterdir(), key=lambda f: f.name):
        if f.name.endswith(".json"):
            out.append(Column.from_dict(json.loads(f.read_text()), reference=True))
    return out


def file_name(c: Column) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", host_label(c.host).lower()).strip("-")
    return f"{slug}-{c.date}.json"


def export(columns: list[Column], folder: str | Path) -> list[Path]:
    """Write each column as a compact fact file into ``folder`` (the reference's format)."""
    dest = Path(folder)
    if not dest.is_dir():
        raise SpecError(f"no such directory: {dest}")
    out = []
    for c in columns:
        p = dest / file_name(c)
        d = c.to_dict()
        d["reference"] = False
        p.write_text(json.dumps(d, sort_keys=True, separators=(",", ":")) + "\n")
        out.append(p)
    return out


def atlas(stores: Iterable[str | Path], builtin: bool = True) -> Atlas:
    """Every host of ``stores``, then the reference hosts (unless ``builtin`` is false)."""
    return Atlas([*from_stores(stores), *(reference() if builtin else [])])


# --- placing a host among the known ones ---------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a host's facts place it among the known hosts."""

    closest: Column
    compared: int  # facts both have
    differs: tuple[Row, ...]  # where the two differ in a way that matters for a JIT

    def to_dict(self) -> dict[str, Any]:
        return {
            "closest": self.closest.label,
            "date": self.closest.date,
            "compared": self.compared,
            "differs": [r.name for r in self.differs],
        }


def _distance(a: Any, b: Any) -> float:
    nums = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    if nums:
        if a <= 0 or b <= 0:
            return 0.0 if a == b else 1.0
        return min(1.0, abs(math.log(a / b)) / math.log(4))
    return 0.0 if not jit_differs([a, b]) else 1.0


def place(facts: list[Fact], known: list[Column]) -> Placement | None:
    """The known host whose facts are nearest (mean over the facts both have: numbers by
    their log ratio, categories equal or not) and what differs from it for a JIT."""
    mine = {f.name: f.value for f in facts}
    best: tuple[float, int, Column] | None = None
    for c in known:
        shared = [n for n in mine if n in c.cells]
        if not shared:
            continue
        d = sum(_distance(mine[n], c.value(n)) for n in shared) / len(shared)
        if best is None or (d, -len(shared)) < (best[0], -best[1]):
            best = (d, len(shared), c)
    if best is None:
        return None
    _, n, c = best
    diff = tuple(
        CATALOGUE.get(k, Row(k, k))
        for k in mine
        if k in c.cells and jit_differs([mine[k], c.value(k)])
    )
    return Placement(c, n, diff)
