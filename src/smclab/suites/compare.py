"""Compare stored results across hosts, and fold stores into one.

A *column* is one host of one store: its latest result (by ``created``) for every experiment,
error rows skipped. :func:`compare` lines columns up on the experiment's knobs
(``Experiment.knob_key()``: not iterations or repeats) and gives, per experiment,
each host's ns/iter, ticks/iter and spread, and its ns/iter relative to the first host (wall
time: ticks count each host's own TSC, so they do not compare across CPUs), with a test of
that ratio over the stored repeats (see :func:`repeats_ns`), and per host the geometric mean
of its ratios over the experiments every host holds. :func:`merge`
folds stores into one without duplicates (see :meth:`ResultStore.merge_from`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smclab.errors import SpecError
from smclab.model.result import StoredResult, latest_results
from smclab.model.rounds import compare_samples
from smclab.store import ResultStore, StoreError, default_path, is_url, open_store, redact

#: the host facts ``compare --json`` lists for each column
HOST_KEYS = ("model_name", "family", "model", "microcode", "hypervisor")


@dataclass
class Column:
    """One host of one store and its latest result per knob key (no errors)."""

    source: str
    host_id: int
    facts: dict[str, Any]
    rows: dict[str, StoredResult] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.host_id,
            "source": self.source,
            **{k: self.facts.get(k) for k in HOST_KEYS},
        }


def _filters(suite: str | None, sweep_id: str | None) -> str:
    parts = [f"suite '{suite}'" if suite else "", f"sweep '{sweep_id}'" if sweep_id else ""]
    text = " and ".join(p for p in parts if p)
    return f" for {text}" if text else ""


def parse_host_ids(texts: tuple[str, ...] | list[str]) -> list[int]:
    ids = []
    for t in texts:
        try:
            ids.append(int(t))
        except ValueError:
            raise SpecError(
                f"'{t}' is not a host id (with --db, give host ids; see --hosts)"
            ) from None
    return ids


def load_columns(
    store: ResultStore,
    source: str,
    host_ids: list[int] | None = None,
    suite: str | None = None,
    sweep_id: str | None = None,
) -> list[Column]:
    """The columns of ``store``: the hosts ``host_ids`` (each must have results), or every
    host with results (at least one must)."""
    hosts = {h.id: h for h in store.hosts()}
    if host_ids is not None:
        for i in host_ids:
            if i not in hosts:
                known = ", ".join(str(h) for h in hosts) or "none"
                raise SpecError(f"no host {i} in {source} (hosts: {known})")
    ids = list(dict.fromkeys(host_ids)) if host_ids is not None else list(hosts)
    cols = {i: Column(source, i, hosts[i].facts) for i in ids}
    for i, col in cols.items():
        # the same knobs match, however many iterations measured them
        mine = store.results(suite=suite, sweep_id=sweep_id, host_id=i)
        col.rows = latest_results(mine, StoredResult.knob_key, "ticks")
    where = _filters(suite, sweep_id)
    if host_ids is not None:
        for c in cols.values():
            if not c.rows:
                raise SpecError(f"host {c.host_id} in {source} has no results{where}")
        return list(cols.values())
    found = [c for c in cols.values() if c.rows]
    if not found:
        raise SpecError(f"{source} holds no results{where}")
    return found


def _ratio(value: float | None, ref: float | None) -> float | None:
    if value is None or not ref:
        return None
    return value / ref


def _ns(r: StoredResult | None) -> float | None:
    return r.ns.median if r is not None and r.ns is not None else None


def _value(r: StoredResult | None) -> dict[str, Any] | None:
    if r is None:
        return None
    spread = r.ticks.spread if r.ticks else r.ns.spread if r.ns else None
    return {
        "ns_per_iter": _ns(r),
        "ticks_per_iter": r.ticks.median if r.ticks else None,
        "spread": spread,
    }


def repeats_ns(r: StoredResult) -> list[float]:
    """ns/iter of each stored repeat (its ticks, scaled as the stored medians are)."""
    if not r.iterations or r.ns is None or r.ticks is None or not r.ticks.median:
        return []
    scale = r.ns.median / r.ticks.median / r.iterations
    return [t * scale for t in r.raw_ticks if t > 0]


def _test(r: StoredResult | None, first: StoredResult | None) -> dict[str, Any] | None:
    """``r`` against the first host's result over their stored repeats: an exact Mann-Whitney
    U test and the Hodges-Lehmann ratio with its 95% interval (model.rounds.compare_samples).
    Why that test: two runs share no rounds to pair, and a few repeats of skewed, often
    bimodal timings rule out a t-test; the U test is exact for any sample size and assumes no
    distribution."""
    if r is None or first is None:
        return None
    a, b = repeats_ns(r), repeats_ns(first)
    if not a or not b:
        return None
    c = compare_samples(a, b)
    return {
        "test": "mann-whitney",
        "repeats": [len(a), len(b)],
        **{k: v for k, v in c.to_dict().items() if k != "rounds"},
    }


def geomean(ratios: list[float]) -> float | None:
    """The geometric mean of positive ``ratios`` (None without any)."""
    logs = [math.log(x) for x in ratios if x and x > 0]
    return math.exp(sum(logs) / len(logs)) if logs else None


def compare(columns: list[Column], common: bool = False) -> dict[str, Any]:
    """``{"hosts": [...], "rows": [...], "geomean": [...]}`` as ``smclab compare --json``
    prints it: one row per knob key stored on any column (on every column with ``common``);
    ``geomean[i]``: host i's ns/iter relative to the first host, the geometric mean over the
    experiments stored on every host (``rows``: how many)."""
    if len(columns) < 2:
        got = f"{columns[0].facts.get('model_name')} in {columns[0].source}" if columns else ""
        raise SpecError(
            f"compare needs at least two hosts, got {len(columns)}"
            + (f" ({got})" if got else "")
            + ": give another store, or --db FILE HOSTID HOSTID"
        )
    keys = list(dict.fromkeys(k for c in columns for k in c.rows))
    rows: list[dict[str, Any]] = []
    for key in keys:
        cells = [c.rows.get(key) for c in columns]
        if common and any(r is None for r in cells):
            continue
        ref = next(r for r in cells if r is not None)
        first = _ns(cells[0])
        rows.append(
            {
                "exp_key": ref.exp_key,
                "knob_key": key,
                "label": ref.label,
                "name": ref.name,
                "experiment": ref.experiment_data,
                "values": [_value(r) for r in cells],
                "ratio_to_first": [None if r is None else _ratio(_ns(r), first) for r in cells],
                "test_to_first": [None] + [_test(r, cells[0]) for r in cells[1:]],
            }
        )
    everywhere = [r for r in rows if None not in r["ratio_to_first"]]
    means = [
        {"ratio": geomean([r["ratio_to_first"][i] for r in everywhere]), "rows": len(everywhere)}
        for i in range(len(columns))
    ]
    return {"hosts": [c.to_dict() for c in columns], "rows": rows, "geomean": means}


#: what ``smclab compare`` reads: (store, the host ids to compare in it, None: every host)
Target = tuple[str, list[int] | None]


def targets(sources: tuple[str, ...], db: str | None, list_hosts: bool = False) -> list[Target]:
    """What ``smclab compare SOURCES [--db DB] [--hosts]`` reads: with ``db`` (or no sources:
    the default store) the hosts ``sources`` of that one store (all when none are given or
    the hosts are listed), else every host of each store ``sources``."""
    if db is not None or not sources:
        path = db if db is not None else str(default_path())
        if list_hosts and sources:
            raise SpecError("--hosts lists every host of --db: give no host ids")
        ids = None if list_hosts or not sources else parse_host_ids(sources)
        return [(path, ids)]
    for i, src in enumerate(sources):
        if twin := next((s for s in sources[:i] if same_file(s, src)), None):
            raise SpecError(
                f"{redact(src)} is given twice (as {redact(twin)}): its hosts count once"
            )
    return [(src, None) for src in sources]


@contextlib.contextmanager
def _opened(found: list[Target]) -> Iterator[list[tuple[str, ResultStore, list[int] | None]]]:
    """The stores of ``found`` opened for reading (every one, or none: an error closes those
    already open)."""
    stores: list[tuple[str, ResultStore, list[int] | None]] = []
    try:
        for src, ids in found:
            stores.append((redact(src), open_store(src, create=False, read_only=True), ids))
        yield stores
    finally:
        for _, st, _ in stores:
            st.close()


def stored_hosts(found: list[Target]) -> list[dict[str, Any]]:
    """Every host of the stores of ``found`` (``compare --hosts``)."""
    with _opened(found) as stores:
        return [h for src, st, _ in stores for h in list_hosts(st, src)]


def compare_stores(
    found: list[Target],
    suite: str | None = None,
    sweep_id: str | None = None,
    common: bool = False,
) -> dict[str, Any]:
    """:func:`compare` of the columns of the stores of ``found``."""
    with _opened(found) as stores:
        columns = [
            c for src, st, ids in stores for c in load_columns(st, src, ids, suite, sweep_id)
        ]
    return compare(columns, common)


# -- merging --------------------------------------------------------------------------------


def same_file(a: str | Path, b: str | Path) -> bool:
    if is_url(a) or is_url(b):
        return str(a) == str(b)
    try:
        return Path(a).resolve() == Path(b).resolve() or Path(a).samefile(b)
    except OSError:
        return False


def merge(dest: str | Path, sources: list[str]) -> dict[str, Any]:
    """Fold the stores ``sources`` into ``dest`` (created if missing), one transaction per
    source; all sources are checked before anything is written, and a ``dest`` this merge
    created is removed again if nothing could be merged into it."""
    for s in sources:
        if same_file(s, dest):
            raise SpecError(f"cannot merge {redact(s)} into itself")
    stores: list[ResultStore] = []
    new = not is_url(dest) and not Path(dest).exists()
    try:
        for s in sources:
            stores.append(open_store(s, create=False, read_only=True))
            stores[-1].check()  # the full check: nothing damaged is folded in
        with open_store(dest, create=True) as into:
            into.check()
            out = []
            try:
                for s, src in zip(sources, stores, strict=True):
                    out.append({"source": redact(s), **into.merge_from(src)})
            except StoreError:
                if new and not out:
                    into.close()
                    _remove_store(dest)
                raise
            hosts = into.hosts()
    finally:
        for st in stores:
            st.close()
    total = sum(h.rows for h in hosts)
    return {"into": redact(str(dest)), "sources": out, "results": total, "hosts": len(hosts)}


def _remove_store(path: str | Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def merge_lines(data: dict[str, Any]) -> list[str]:
    lines = []
    for s in data["sources"]:
        line = (
            f"{s['source']}: {s['added']} result(s) added, {s['skipped']} skipped (already"
            f" there); {s['hosts_added']} host(s) added; {s['sweeps_added']} sweep(s) added"
        )
        if s["sweeps_skipped"]:
            line += f", {s['sweeps_skipped']} kept as stored (same id)"
        lines.append(line)
    lines.append(f"{data['into']}: {data['results']} result(s) from {data['hosts']} host(s)")
    return lines


def list_hosts(store: ResultStore, source: str) -> list[dict[str, Any]]:
    """Every host of ``store`` for ``compare --hosts``."""
    return [
        {
            "id": h.id,
            "source": source,
            **{k: h.facts.get(k) for k in (*HOST_KEYS, "kernel")},
            "rows": h.rows,
            "errors": h.errors,
        }
        for h in store.hosts()
    ]
