"""What the SQL backends share: the schema and its migrations, the JSON encoding of rows, and
every query that reads the SQL both speak.

Both backends hold the same tables with the same columns, made by the same :data:`MIGRATIONS`
(SQL written as SQLite spells it; :mod:`smclab.store.postgres` maps the column types). A
backend supplies the connection plumbing (:meth:`SqlStore._exec`, :meth:`SqlStore._transact`,
:meth:`SqlStore._read`), where it keeps its schema version, and its sweep locks.

Each result carries a ``uid``: a UUID the writer derives from (host fingerprint, experiment
key, creation time, raw repeats), unique in the table. A write retried after a lost
acknowledgement, or a row merged twice, cannot be stored twice; a result copied to another
store keeps its uid there (it is recomputed from the same columns), so merges in either
direction recognise it.

Schema versions: 0 = smclab 0.1.0 (unmarked); 1 = application id set, ``sweep_locks`` table;
2 = ``extra`` (rounds, modes, noise), keys of non-default knobs only; 3 = ``uid``.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from smclab._version import __version__
from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.model.result import (
    CounterValue,
    Result,
    Stats,
    StoredResult,
    detail_from_json,
    detail_to_json,
)
from smclab.run import machine
from smclab.store.base import ResultStore, StoredHost, StoredSweep, StoreError, SweepLocked
from smclab.store.lock import Holder

APPLICATION_ID = 0x534D434C  # "SMCL"
SCHEMA_VERSION = 3

T = TypeVar("T")


class Row(Protocol):
    """A row by column name (``sqlite3.Row`` or a psycopg dict row)."""

    def __getitem__(self, key: str, /) -> Any: ...


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    @property
    def rowcount(self) -> int: ...


V0 = (
    """CREATE TABLE IF NOT EXISTS hosts (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    facts TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    host_id INTEGER NOT NULL REFERENCES hosts(id),
    suite TEXT NOT NULL,
    name TEXT,
    sweep_id TEXT,
    exp_key TEXT NOT NULL,
    experiment TEXT NOT NULL,
    iterations INTEGER,
    raw_ticks TEXT NOT NULL,
    ticks_median REAL, ticks_min REAL, ticks_spread REAL,
    ns_median REAL, ns_min REAL, ns_spread REAL,
    counters TEXT NOT NULL,
    error TEXT,
    version TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS results_sweep ON results(sweep_id, exp_key)",
    """CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    name TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    grid TEXT NOT NULL,
    total INTEGER NOT NULL,
    skipped TEXT NOT NULL,
    status TEXT NOT NULL,
    version TEXT NOT NULL
)""",
)


def result_uid(fingerprint: str, exp_key: str, created: float, raw_ticks: Sequence[int]) -> str:
    """The uid of a result: the same on every store that holds it."""
    text = json.dumps([fingerprint, exp_key, created, list(raw_ticks)])
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"smclab:result:{text}"))


def _rekey(store: SqlStore) -> None:
    """Experiment keys hash only the knobs that differ from their defaults (from schema 2 on),
    so a knob added later changes no key: recompute the stored ones."""
    rows = store._exec("SELECT id, experiment FROM results").fetchall()
    for row in rows:
        exp = _experiment(json.loads(row["experiment"]))
        if exp is not None:
            store._exec("UPDATE results SET exp_key = ? WHERE id = ?", (exp.code_key(), row["id"]))


def _fill_uids(store: SqlStore) -> None:
    """Give every stored result its uid (rows stored twice before: the later one its own)."""
    rows = store._exec(
        "SELECT r.id, h.fingerprint, r.exp_key, r.created, r.raw_ticks FROM results r"
        " JOIN hosts h ON h.id = r.host_id ORDER BY r.id"
    ).fetchall()
    seen: set[str] = set()
    for row in rows:
        try:
            ticks = [int(t) for t in json.loads(row["raw_ticks"])]
        except (ValueError, TypeError):
            ticks = [-1, int(row["id"])]  # unreadable: a uid of its own
        uid = result_uid(row["fingerprint"], row["exp_key"], row["created"], ticks)
        if uid in seen:
            uid = str(uuid.uuid5(uuid.UUID(uid), str(row["id"])))
        seen.add(uid)
        store._exec("UPDATE results SET uid = ? WHERE id = ?", (uid, row["id"]))


Step = str | Callable[["SqlStore"], None]
#: schema version -> the steps (SQL as SQLite spells it, or a function of the store) that bring
#: the version before it to it; both backends run the same steps
MIGRATIONS: dict[int, tuple[Step, ...]] = {
    1: (
        *V0,  # smclab 0.1.0 created these lazily: a file may lack the sweeps table
        """CREATE TABLE IF NOT EXISTS sweep_locks (
    sweep_id TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started INTEGER,
    fingerprint TEXT NOT NULL,
    since REAL NOT NULL
)""",
    ),
    # rounds, modes and noise of a result (JSON); keys of non-default knobs only
    2: ("ALTER TABLE results ADD COLUMN extra TEXT", _rekey),
    # a result's uid: a duplicate row is impossible, merges match on it
    3: (
        "ALTER TABLE results ADD COLUMN uid TEXT",
        _fill_uids,
        "CREATE UNIQUE INDEX IF NOT EXISTS results_uid ON results(uid)",
        "CREATE INDEX IF NOT EXISTS results_host ON results(host_id)",
    ),
}

RESULT_COLUMNS = (
    "created, host_id, suite, name, sweep_id, exp_key, experiment, iterations, raw_ticks,"
    " ticks_median, ticks_min, ticks_spread, ns_median, ns_min, ns_spread, counters, error,"
    " version, extra, uid"
)
INSERT_RESULT = (
    f"INSERT INTO results({RESULT_COLUMNS}) VALUES ({', '.join('?' * 20)})"
    " ON CONFLICT(uid) DO NOTHING RETURNING id"
)
SWEEP_COLUMNS = "id, name, created, updated, grid, total, skipped, status, version"
INSERT_SWEEP = f"INSERT INTO sweeps({SWEEP_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"


# -- rows <-> objects ------------------------------------------------------------------------


def _stats(row: Row, prefix: str) -> Stats | None:
    values = [row[f"{prefix}_{k}"] for k in ("median", "min", "spread")]
    return None if None in values else Stats(*values)


def _stats_columns(s: Stats | None) -> tuple[float | None, ...]:
    return (s.median, s.min, s.spread) if s else (None, None, None)


def _experiment(data: dict[str, Any]) -> Experiment | None:
    try:
        return Experiment.from_dict(data)
    except (SpecError, TypeError, ValueError, KeyError):  # a row from another smclab version
        return None


def stored_result(row: Row) -> StoredResult:
    """A results row (joined with its host's ``facts AS host``) as a StoredResult."""
    data = json.loads(row["experiment"])
    rounds, modes, noise = detail_from_json(json.loads(row["extra"] or "null"))
    counters = {
        k: CounterValue(c.get("per_iter"), c.get("reason"), c.get("note"), c.get("scale"))
        for k, c in json.loads(row["counters"]).items()
    }
    return StoredResult(
        id=row["id"],
        created=row["created"],
        host_id=row["host_id"],
        host=json.loads(row["host"]),
        suite=row["suite"],
        name=row["name"],
        sweep_id=row["sweep_id"],
        exp_key=row["exp_key"],
        experiment=_experiment(data),
        experiment_data=data,
        iterations=row["iterations"],
        raw_ticks=tuple(json.loads(row["raw_ticks"])),
        ticks=_stats(row, "ticks"),
        ns=_stats(row, "ns"),
        counters=counters,
        error=row["error"],
        version=row["version"],
        rounds=rounds,
        modes=modes,
        noise=noise,
    )


def result_values(
    r: Result | StoredResult, host_id: int, fingerprint: str, created: float, **given: Any
) -> tuple[Any, ...]:
    """The values of :data:`INSERT_RESULT` for a new result (``given``: suite, name and
    sweep_id) or a stored one (as it is, under this store's ``host_id``)."""
    if isinstance(r, Result):
        key = r.experiment.code_key()
        experiment = r.experiment.to_dict()
        stats = (r.ticks_per_iter, r.ns_per_iter)
        head = (given["suite"], given["name"], given["sweep_id"])
        version = __version__
    else:
        key, experiment, stats = r.exp_key, r.experiment_data, (r.ticks, r.ns)
        head, version = (r.suite, r.name, r.sweep_id), r.version
    ticks = list(r.raw_ticks)
    return (
        created,
        host_id,
        *head,
        key,
        json.dumps(experiment),
        r.iterations,
        json.dumps(ticks),
        *_stats_columns(stats[0]),
        *_stats_columns(stats[1]),
        json.dumps({k: v.to_dict() for k, v in r.counters.items()}),
        r.error,
        version,
        json.dumps(detail_to_json(r.rounds, r.modes, r.noise)),
        result_uid(fingerprint, key, created, ticks),
    )


#: SQL true for an error row ``r`` superseded by a later result without error of the same
#: experiment (host, suite, sweep and code key): the latest result decides an experiment's status
SUPERSEDED = (
    "EXISTS (SELECT 1 FROM results s WHERE s.error IS NULL AND s.host_id = r.host_id"
    " AND s.exp_key = r.exp_key AND s.suite = r.suite"
    " AND (s.sweep_id = r.sweep_id OR (s.sweep_id IS NULL AND r.sweep_id IS NULL))"
    " AND s.id > r.id)"
)


def _where(filters: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """``WHERE`` for the filters that are given (None: any)."""
    given = {k: v for k, v in filters.items() if v is not None}
    if not given:
        return "", ()
    return " WHERE " + " AND ".join(f"{k} = ?" for k in given), tuple(given.values())


# -- the store -------------------------------------------------------------------------------


class SqlStore(ABC):
    """A :class:`smclab.store.ResultStore` over SQL (see the module docstring)."""

    location: str

    def __init__(self, location: str) -> None:
        self.location = location
        self.notice: Callable[[str], None] | None = None
        self._hosts: dict[str, int] = {}

    # -- what a backend supplies ----------------------------------------------------------
    @abstractmethod
    def _exec(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        """Run one statement (``?`` placeholders) in the transaction in progress."""

    @abstractmethod
    def _transact(self, work: Callable[[], T], what: str | None = None) -> T:
        """``work()`` in one write transaction; a database error becomes StoreWriteError
        (``what``: the message's start)."""

    @abstractmethod
    def _read(self, sql: str, args: Sequence[Any] = ()) -> Iterator[Row]:
        """The rows of a query; a database error becomes StoreError."""

    @abstractmethod
    def _live_sweeps(self, sweep_id: str | None) -> set[str]:
        """Ids of the sweeps (``sweep_id``, or any) whose lock holder may still run."""

    @abstractmethod
    def lock_sweep(self, sweep_id: str, holder: Holder) -> None: ...

    @abstractmethod
    def unlock_sweep(self, sweep_id: str, holder: Holder) -> None: ...

    @abstractmethod
    def check(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def _cannot_write(self) -> str:
        return f"cannot write to the store {self.location}"

    def _run_steps(self, first: int, last: int = SCHEMA_VERSION) -> None:
        """The migration steps of versions ``first`` .. ``last`` (in a transaction)."""
        for v in range(first, last + 1):
            for step in MIGRATIONS[v]:
                if isinstance(step, str):
                    self._exec(self._ddl(step))
                else:
                    step(self)

    def _ddl(self, sql: str) -> str:
        """A migration's SQL as this backend spells it."""
        return sql

    # -- results ----------------------------------------------------------------------
    def host_id(self, facts: dict[str, Any]) -> int:
        fp = machine.fingerprint(facts)
        if fp not in self._hosts:
            self._hosts[fp] = self._transact(lambda: self._add_host(fp, facts))
        return self._hosts[fp]

    def _add_host(self, fingerprint: str, facts: dict[str, Any]) -> int:
        self._exec(
            "INSERT INTO hosts(fingerprint, facts) VALUES (?, ?)"
            " ON CONFLICT(fingerprint) DO NOTHING",
            (fingerprint, json.dumps(facts)),
        )
        found = self._exec("SELECT id FROM hosts WHERE fingerprint = ?", (fingerprint,))
        return int(found.fetchone()["id"])

    def add(
        self, result: Result, suite: str, name: str | None = None, sweep_id: str | None = None
    ) -> int:
        host = self.host_id(result.host)
        fp = machine.fingerprint(result.host)
        what = f"{self._cannot_write()} (the result of {result.experiment.label()} is not stored)"
        created = time.time()
        while True:
            values = result_values(
                result, host, fp, created, suite=suite, name=name, sweep_id=sweep_id
            )
            row_id = self._add_row(values, what)
            if row_id is not None:
                return row_id
            # another writer stored a result with this uid (the same host, experiment and raw
            # ticks at the same clock reading): this one is stored a clock step later
            created = math.nextafter(created, math.inf)

    def _add_row(self, values: tuple[Any, ...], what: str) -> int | None:
        """Store one new result row in its own transaction (see :meth:`_insert`)."""
        return self._transact(lambda: self._insert(values), what)

    def _insert(self, values: tuple[Any, ...]) -> int | None:
        """Insert a result row; if its uid is stored: the row's id when it is this very write
        (retried: the same suite, name and sweep), else None (another result took the uid)."""
        row = self._exec(INSERT_RESULT, values).fetchone()
        if row is not None:
            return int(row["id"])
        row = self._exec(
            "SELECT id, suite, name, sweep_id FROM results WHERE uid = ?", (values[-1],)
        ).fetchone()
        retried = (row["suite"], row["name"], row["sweep_id"]) == tuple(values[2:5])
        return int(row["id"]) if retried else None

    def results(
        self,
        *,
        suite: str | None = None,
        sweep_id: str | None = None,
        host_id: int | None = None,
    ) -> Iterator[StoredResult]:
        where, args = _where({"r.suite": suite, "r.sweep_id": sweep_id, "r.host_id": host_id})
        sql = (
            "SELECT r.*, h.facts AS host FROM results r JOIN hosts h ON h.id = r.host_id"
            f"{where} ORDER BY r.id"
        )
        for row in self._read(sql, args):
            try:
                yield stored_result(row)
            except (ValueError, TypeError, AttributeError) as e:
                raise StoreError(
                    f"cannot read result {row['id']} of {self.location}: {e}"
                ) from None

    def done_keys(self, sweep_id: str, host_id: int | None = None, errors: bool = True) -> set[str]:
        where, args = _where({"sweep_id": sweep_id, "host_id": host_id})
        sql = f"SELECT DISTINCT exp_key FROM results{where}" + (
            "" if errors else " AND error IS NULL"
        )
        return {row["exp_key"] for row in self._read(sql, args)}

    def hosts(self) -> list[StoredHost]:
        sql = (
            "SELECT h.id, h.fingerprint, h.facts, COUNT(r.id) AS rows, COUNT(r.error) AS errors"
            " FROM hosts h LEFT JOIN results r ON r.host_id = h.id"
            " GROUP BY h.id, h.fingerprint, h.facts ORDER BY h.id"
        )
        return [
            StoredHost(r["id"], r["fingerprint"], json.loads(r["facts"]), r["rows"], r["errors"])
            for r in self._read(sql)
        ]

    # -- sweeps -----------------------------------------------------------------------
    def save_sweep(
        self,
        sweep_id: str,
        name: str | None,
        grid: dict[str, list[Any]],
        total: int,
        skipped: dict[str, int],
        status: str = "running",
    ) -> None:
        now = time.time()
        values = (sweep_id, name, now, now, json.dumps(grid), total, json.dumps(skipped))
        self._transact(
            lambda: self._exec(
                f"{INSERT_SWEEP} ON CONFLICT(id) DO UPDATE SET name=excluded.name,"
                " updated=excluded.updated, grid=excluded.grid, total=excluded.total,"
                " skipped=excluded.skipped, status=excluded.status, version=excluded.version",
                (*values, status, __version__),
            )
        )

    def set_sweep_status(self, sweep_id: str, status: str) -> None:
        self._transact(
            lambda: self._exec(
                "UPDATE sweeps SET status = ?, updated = ? WHERE id = ?",
                (status, time.time(), sweep_id),
            )
        )

    def sweep(self, sweep_id: str) -> StoredSweep | None:
        found = self._sweeps(sweep_id)
        return found[0] if found else None

    def sweeps(self) -> list[StoredSweep]:
        return self._sweeps(None)

    def _sweeps(self, sweep_id: str | None) -> list[StoredSweep]:
        where, args = _where({"s.id": sweep_id})
        sql = (
            "SELECT s.*, (SELECT COUNT(*) FROM results r WHERE r.sweep_id = s.id) AS rows,"
            " (SELECT COUNT(r.error) FROM results r WHERE r.sweep_id = s.id"
            f" AND NOT {SUPERSEDED}) AS errors"
            f" FROM sweeps s{where} ORDER BY s.created, s.id"
        )
        rows = list(self._read(sql, args))
        live = self._live_sweeps(sweep_id) if any(r["status"] == "running" for r in rows) else set()
        return [
            StoredSweep(
                id=r["id"],
                name=r["name"],
                created=r["created"],
                updated=r["updated"],
                grid=json.loads(r["grid"]),
                total=r["total"],
                skipped=json.loads(r["skipped"]),
                # running, unless its holder was killed before it could say so
                status="interrupted"
                if r["status"] == "running" and r["id"] not in live
                else r["status"],
                version=r["version"],
                rows=r["rows"],
                errors=r["errors"],
            )
            for r in rows
        ]

    def sweep_suite(self, sweep_id: str) -> str | None:
        for row in self._read("SELECT suite FROM results WHERE sweep_id = ? LIMIT 1", (sweep_id,)):
            return str(row["suite"])
        return None

    # -- removing -------------------------------------------------------------------------
    def delete_sweep(self, sweep_id: str) -> int:
        def work() -> int:
            if sweep_id in self._live_sweeps(sweep_id):
                raise SweepLocked(
                    f"sweep '{sweep_id}' is running in {self.location}: stop it before deleting it"
                )
            rows = self._exec("DELETE FROM results WHERE sweep_id = ?", (sweep_id,)).rowcount
            found = self._exec("DELETE FROM sweeps WHERE id = ?", (sweep_id,)).rowcount
            self._exec("DELETE FROM sweep_locks WHERE sweep_id = ?", (sweep_id,))
            if not rows and not found:
                raise SpecError(f"no sweep '{sweep_id}' in {self.location}")
            return int(rows)

        return self._transact(work)

    def prune(self, sweep_id: str | None = None) -> int:
        where, args = _where({"r.sweep_id": sweep_id})
        where = f"{where} AND" if where else " WHERE"
        sql = f"DELETE FROM results AS r{where} r.error IS NOT NULL AND {SUPERSEDED}"
        return int(self._transact(lambda: self._exec(sql, args).rowcount))

    # -- folding stores together --------------------------------------------------------
    def merge_from(self, other: ResultStore) -> dict[str, int]:
        """Hosts are matched on their fingerprint (ids are remapped), results on their uid
        (host fingerprint, exp_key, created, raw repeats), so merging the same store twice
        adds nothing; a sweep whose id is already here is kept as it is."""
        return self._transact(
            lambda: self._merge(other), f"cannot merge {other.location} into {self.location}"
        )

    def _merge(self, other: ResultStore) -> dict[str, int]:
        counts = dict.fromkeys(
            ("added", "skipped", "hosts_added", "sweeps_added", "sweeps_skipped"), 0
        )
        host_ids: dict[int, tuple[int, str]] = {}
        for h in other.hosts():
            known = self._exec("SELECT id FROM hosts WHERE fingerprint = ?", (h.fingerprint,))
            counts["hosts_added"] += known.fetchone() is None
            host_ids[h.id] = (self._add_host(h.fingerprint, h.facts), h.fingerprint)
        for r in other.results():
            host, fp = host_ids[r.host_id]
            row = self._exec(INSERT_RESULT, result_values(r, host, fp, r.created)).fetchone()
            counts["added" if row is not None else "skipped"] += 1
        for s in other.sweeps():
            cur = self._exec(
                f"{INSERT_SWEEP} ON CONFLICT(id) DO NOTHING",
                (
                    s.id,
                    s.name,
                    s.created,
                    s.updated,
                    json.dumps(s.grid),
                    s.total,
                    json.dumps(s.skipped),
                    s.status,
                    s.version,
                ),
            )
            counts["sweeps_added"] += cur.rowcount
            counts["sweeps_skipped"] += 1 - cur.rowcount
        return counts

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
