"""The SQLite backend of :class:`smclab.store.ResultStore`.

Each result is written in its own transaction, so a killed run loses at most the row in flight.
An smclab file carries ``PRAGMA application_id`` :data:`APPLICATION_ID` and its schema version
in ``PRAGMA user_version``. A file from smclab 0.1.0 (no application id, version 0, the
``hosts``/``results``/``sweeps`` tables) is upgraded in place when opened; any other non-empty
database is refused before anything is written to it. Writers run ``PRAGMA quick_check`` when
they open a store, so a corrupted file is reported before anything is measured.

Schema versions: 0 = smclab 0.1.0 (unmarked); 1 = application id set, ``sweep_locks`` table.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from smclab._version import __version__
from smclab.model.experiment import Experiment
from smclab.model.knobs import SpecError
from smclab.model.result import (
    CounterValue,
    Result,
    Stats,
    StoredResult,
    detail_from_json,
    detail_to_json,
)
from smclab.run import machine
from smclab.store import (
    ResultStore,
    StoredHost,
    StoredSweep,
    StoreError,
    StoreWriteError,
    SweepLocked,
)
from smclab.store.lock import Holder

APPLICATION_ID = 0x534D434C  # "SMCL"
SCHEMA_VERSION = 2

_V0 = (
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


def _rekey(db: sqlite3.Connection) -> None:
    """Experiment keys hash only the knobs that differ from their defaults (from schema 2 on),
    so a knob added later changes no key: recompute the stored ones."""
    rows = db.execute("SELECT id, experiment FROM results").fetchall()
    for row_id, text in rows:
        exp = _experiment(json.loads(text))
        if exp is not None:
            db.execute("UPDATE results SET exp_key = ? WHERE id = ?", (exp.code_key(), row_id))


Step = str | Callable[[sqlite3.Connection], None]
#: schema version -> the steps (SQL, or a function of the connection) that bring the version
#: before it to it
MIGRATIONS: dict[int, tuple[Step, ...]] = {
    1: (
        *_V0,  # smclab 0.1.0 created these lazily: a file may lack the sweeps table
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
}
_RESULT_COLUMNS = (
    "created, host_id, suite, name, sweep_id, exp_key, experiment, iterations, raw_ticks,"
    " ticks_median, ticks_min, ticks_spread, ns_median, ns_min, ns_spread, counters, error,"
    " version, extra"
)
#: the tables and columns by which a file of smclab 0.1.0 is recognised
_OLD_LAYOUT = {
    "hosts": {"id", "fingerprint", "facts"},
    "results": {"id", *_RESULT_COLUMNS.split(", ")} - {"extra"},
    "sweeps": {"id", "name", "created", "updated", "grid", "total", "skipped", "status"},
}
#: SQL true for an error row ``r`` superseded by a later result without error of the same
#: experiment (host, suite, sweep and code key): the latest result decides an experiment's status
_SUPERSEDED = (
    "EXISTS (SELECT 1 FROM results s WHERE s.error IS NULL AND s.host_id = r.host_id"
    " AND s.exp_key = r.exp_key AND s.suite = r.suite AND s.sweep_id IS r.sweep_id"
    " AND s.id > r.id)"
)
_INSERT_RESULT = f"INSERT INTO results({_RESULT_COLUMNS}) VALUES ({', '.join('?' * 19)})"


def _stats(row: sqlite3.Row, prefix: str) -> Stats | None:
    values = [row[f"{prefix}_{k}"] for k in ("median", "min", "spread")]
    return None if None in values else Stats(*values)


def _stats_columns(s: Stats | None) -> tuple[float | None, ...]:
    return (s.median, s.min, s.spread) if s else (None, None, None)


def _experiment(data: dict[str, Any]) -> Experiment | None:
    try:
        return Experiment.from_dict(data)
    except (SpecError, TypeError, ValueError, KeyError):  # a row from another smclab version
        return None


def _stored(row: sqlite3.Row) -> StoredResult:
    data = json.loads(row["experiment"])
    rounds, modes, noise = detail_from_json(json.loads(row["extra"] or "null"))
    counters = {
        k: CounterValue(c.get("per_iter"), c.get("reason"), c.get("note"))
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


def _holder(row: sqlite3.Row) -> Holder:
    return Holder(row["node"], row["pid"], row["started"], row["fingerprint"])


class SqliteStore:
    """A store in one SQLite file (see the module docstring); open it with :meth:`open`."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self.location = str(path)
        self.db = db
        self._hosts: dict[str, int] = {}

    # -- opening ----------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, *, create: bool) -> SqliteStore:
        """The store in ``path`` (see :func:`smclab.store.open_store`)."""
        existed = path.exists()
        if not existed:
            if not create:
                raise StoreError(f"no store file {path}")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the store {path}: {e.strerror or e}") from None
        elif not path.is_file():
            raise StoreError(f"{path} is not a file")
        try:
            db = sqlite3.connect(path, timeout=30, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the store {path}: {e}") from None
        db.row_factory = sqlite3.Row
        store = cls(path, db)
        try:
            store._prepare(create)
        except BaseException:
            db.close()
            if not existed:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            raise
        return store

    def _prepare(self, create: bool) -> None:
        try:
            version = self._inspect(create)
            if create:
                self._quick_check()
            if version < SCHEMA_VERSION:
                self._migrate()
            if create:
                self.db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the store {self.path}: {e}") from None

    def _header(self) -> tuple[int, int]:
        app = self.db.execute("PRAGMA application_id").fetchone()[0]
        return int(app), int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _inspect(self, create: bool) -> int:
        """The schema version of the file (reads only); raises StoreError for a file that is
        not an smclab store or comes from a newer smclab."""
        app, version = self._header()
        if app == APPLICATION_ID:
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was made by a newer smclab (schema {version}; this one reads"
                    f" up to {SCHEMA_VERSION})"
                )
            return version
        tables = {
            r[0]
            for r in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if app == 0 and version == 0:
            if not tables and create:
                return 0  # a new (or empty) file
            if tables and self._old_layout(tables):
                return 0
        what = "an empty database" if not tables else "an SQLite database of another program"
        raise StoreError(f"{self.path} is not an smclab store ({what}): it was left untouched")

    def _old_layout(self, tables: set[str]) -> bool:
        if not {"hosts", "results"} <= tables <= set(_OLD_LAYOUT):
            return False
        for t in tables:
            cols = {r["name"] for r in self.db.execute(f"PRAGMA table_info({t})")}
            if not _OLD_LAYOUT[t] <= cols:
                return False
        return True

    def _quick_check(self) -> None:
        problems = [r[0] for r in self.db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            first = " ".join(str(problems[0]).split())
            raise StoreError(
                f"the store {self.path} is corrupted: {first}{more}; restore it from a copy"
                " or give another --db"
            )

    def _migrate(self) -> None:
        with self._write(f"cannot upgrade the store {self.path}"):
            app, version = self._header()  # another process may have done it meanwhile
            if app == APPLICATION_ID and version >= SCHEMA_VERSION:
                return
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for step in MIGRATIONS[v]:
                    if isinstance(step, str):
                        self.db.execute(step)
                    else:
                        step(self.db)
            self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- plumbing ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self, what: str | None = None) -> Iterator[None]:
        """One write transaction; an SQLite error in it becomes a StoreWriteError (rolled back:
        what was committed before is kept)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise StoreWriteError(f"{what or self._cannot_write()}: {e}") from None
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException as e:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise StoreWriteError(f"{what or self._cannot_write()}: {e}") from None
            raise

    def _cannot_write(self) -> str:
        return f"cannot write to the store {self.path}"

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> Iterator[sqlite3.Row]:
        try:
            yield from self.db.execute(sql, args)
        except sqlite3.Error as e:
            raise StoreError(f"cannot read the store {self.path}: {e}") from None

    # -- results ----------------------------------------------------------------------
    def host_id(self, facts: dict[str, Any]) -> int:
        fp = machine.fingerprint(facts)
        if fp not in self._hosts:
            with self._write():
                self.db.execute(
                    "INSERT OR IGNORE INTO hosts(fingerprint, facts) VALUES (?, ?)",
                    (fp, json.dumps(facts)),
                )
                row = self.db.execute("SELECT id FROM hosts WHERE fingerprint=?", (fp,)).fetchone()
            self._hosts[fp] = int(row["id"])
        return self._hosts[fp]

    def add(
        self, result: Result, suite: str, name: str | None = None, sweep_id: str | None = None
    ) -> int:
        host = self.host_id(result.host)
        with self._write():
            cur = self.db.execute(
                _INSERT_RESULT,
                (
                    time.time(),
                    host,
                    suite,
                    name,
                    sweep_id,
                    result.experiment.code_key(),
                    json.dumps(result.experiment.to_dict()),
                    result.iterations,
                    json.dumps(result.raw_ticks),
                    *_stats_columns(result.ticks_per_iter),
                    *_stats_columns(result.ns_per_iter),
                    json.dumps({k: v.to_dict() for k, v in result.counters.items()}),
                    result.error,
                    __version__,
                    json.dumps(detail_to_json(result.rounds, result.modes, result.noise)),
                ),
            )
        return int(cur.lastrowid or 0)

    def results(
        self,
        *,
        suite: str | None = None,
        sweep_id: str | None = None,
        host_id: int | None = None,
    ) -> Iterator[StoredResult]:
        sql = (
            "SELECT r.*, h.facts AS host FROM results r JOIN hosts h ON h.id = r.host_id"
            " WHERE (? IS NULL OR r.suite = ?) AND (? IS NULL OR r.sweep_id = ?)"
            " AND (? IS NULL OR r.host_id = ?) ORDER BY r.id"
        )
        args = (suite, suite, sweep_id, sweep_id, host_id, host_id)
        for row in self._read(sql, args):
            try:
                yield _stored(row)
            except (ValueError, TypeError, AttributeError) as e:
                raise StoreError(f"cannot read result {row['id']} of {self.path}: {e}") from None

    def done_keys(self, sweep_id: str, host_id: int | None = None, errors: bool = True) -> set[str]:
        sql = (
            "SELECT DISTINCT exp_key FROM results WHERE sweep_id = ? AND (? IS NULL OR host_id = ?)"
            " AND (? OR error IS NULL)"
        )
        return {row["exp_key"] for row in self._read(sql, (sweep_id, host_id, host_id, errors))}

    def hosts(self) -> list[StoredHost]:
        sql = (
            "SELECT h.id, h.fingerprint, h.facts, COUNT(r.id) AS rows, COUNT(r.error) AS errors"
            " FROM hosts h LEFT JOIN results r ON r.host_id = h.id GROUP BY h.id ORDER BY h.id"
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
        with self._write():
            self.db.execute(
                "INSERT INTO sweeps(id, name, created, updated, grid, total, skipped, status,"
                " version) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
                " name=excluded.name, updated=excluded.updated, grid=excluded.grid,"
                " total=excluded.total, skipped=excluded.skipped, status=excluded.status,"
                " version=excluded.version",
                (
                    sweep_id,
                    name,
                    now,
                    now,
                    json.dumps(grid),
                    total,
                    json.dumps(skipped),
                    status,
                    __version__,
                ),
            )

    def set_sweep_status(self, sweep_id: str, status: str) -> None:
        with self._write():
            self.db.execute(
                "UPDATE sweeps SET status=?, updated=? WHERE id=?", (status, time.time(), sweep_id)
            )

    def sweep(self, sweep_id: str) -> StoredSweep | None:
        found = self._sweeps(sweep_id)
        return found[0] if found else None

    def sweeps(self) -> list[StoredSweep]:
        return self._sweeps(None)

    def _sweeps(self, sweep_id: str | None) -> list[StoredSweep]:
        sql = (
            "SELECT s.*, COUNT(r.id) AS rows,"
            f" COUNT(CASE WHEN r.error IS NOT NULL AND NOT {_SUPERSEDED} THEN 1 END) AS errors"
            " FROM sweeps s"
            " LEFT JOIN results r ON r.sweep_id = s.id WHERE (? IS NULL OR s.id = ?)"
            " GROUP BY s.id ORDER BY s.created, s.id"
        )
        locks = {
            r["sweep_id"]: _holder(r)
            for r in self._read(
                "SELECT * FROM sweep_locks WHERE ? IS NULL OR sweep_id = ?", (sweep_id, sweep_id)
            )
        }
        out = []
        for r in self._read(sql, (sweep_id, sweep_id)):
            status = r["status"]
            if status == "running":  # unless its holder was killed before it could say so
                holder = locks.get(r["id"])
                if holder is None or holder.alive() is False:
                    status = "interrupted"
            out.append(
                StoredSweep(
                    id=r["id"],
                    name=r["name"],
                    created=r["created"],
                    updated=r["updated"],
                    grid=json.loads(r["grid"]),
                    total=r["total"],
                    skipped=json.loads(r["skipped"]),
                    status=status,
                    version=r["version"],
                    rows=r["rows"],
                    errors=r["errors"],
                )
            )
        return out

    def sweep_suite(self, sweep_id: str) -> str | None:
        for row in self._read("SELECT suite FROM results WHERE sweep_id = ? LIMIT 1", (sweep_id,)):
            return str(row["suite"])
        return None

    def _check_unlocked(self, sweep_id: str, holder: Holder | None = None) -> None:
        """Raise SweepLocked if a live process other than ``holder`` holds the sweep's lock
        (inside a write transaction)."""
        row = self.db.execute(
            "SELECT * FROM sweep_locks WHERE sweep_id = ?", (sweep_id,)
        ).fetchone()
        if row is not None:
            other = _holder(row)
            if other != holder and other.alive() is not False:
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["since"]))
                raise SweepLocked(
                    f"sweep '{sweep_id}' is already running ({other.describe()}, since"
                    f" {since}) in {self.path}: wait until it ends or stop it"
                )

    def lock_sweep(self, sweep_id: str, holder: Holder) -> None:
        now = time.time()
        with self._write():
            self._check_unlocked(sweep_id, holder)
            self.db.execute(
                "INSERT OR REPLACE INTO sweep_locks(sweep_id, node, pid, started, fingerprint,"
                " since) VALUES (?,?,?,?,?,?)",
                (sweep_id, holder.node, holder.pid, holder.started, holder.fingerprint, now),
            )

    def unlock_sweep(self, sweep_id: str, holder: Holder) -> None:
        with self._write():
            self.db.execute(
                "DELETE FROM sweep_locks WHERE sweep_id = ? AND node = ? AND pid = ?",
                (sweep_id, holder.node, holder.pid),
            )

    # -- removing ---------------------------------------------------------------------
    def delete_sweep(self, sweep_id: str) -> int:
        with self._write():
            self._check_unlocked(sweep_id)
            rows = self.db.execute("DELETE FROM results WHERE sweep_id = ?", (sweep_id,)).rowcount
            found = self.db.execute("DELETE FROM sweeps WHERE id = ?", (sweep_id,)).rowcount
            self.db.execute("DELETE FROM sweep_locks WHERE sweep_id = ?", (sweep_id,))
            if not rows and not found:
                raise SpecError(f"no sweep '{sweep_id}' in {self.path}")
        return int(rows)

    def prune(self, sweep_id: str | None = None) -> int:
        with self._write():
            cur = self.db.execute(
                f"DELETE FROM results AS r WHERE r.error IS NOT NULL AND {_SUPERSEDED}"
                " AND (? IS NULL OR r.sweep_id = ?)",
                (sweep_id, sweep_id),
            )
        return int(cur.rowcount)

    # -- folding stores together --------------------------------------------------------
    def merge_from(self, other: ResultStore) -> dict[str, int]:
        """Hosts are matched on their fingerprint (ids are remapped), results on (host
        fingerprint, exp_key, created, raw_ticks), so merging the same store twice adds
        nothing; a sweep whose id is already here is kept as it is."""
        counts = dict.fromkeys(
            ("added", "skipped", "hosts_added", "sweeps_added", "sweeps_skipped"), 0
        )
        seen_sql = (
            "SELECT h.fingerprint, r.exp_key, r.created, r.raw_ticks FROM results r"
            " JOIN hosts h ON h.id = r.host_id"
        )
        with self._write(f"cannot merge {other.location} into {self.path}"):
            seen = {
                (fp, key, created, tuple(json.loads(ticks)))
                for fp, key, created, ticks in self.db.execute(seen_sql)
            }
            host_ids: dict[int, int] = {}
            fingerprints: dict[int, str] = {}
            for h in other.hosts():
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO hosts(fingerprint, facts) VALUES (?, ?)",
                    (h.fingerprint, json.dumps(h.facts)),
                )
                counts["hosts_added"] += cur.rowcount
                found = self.db.execute(
                    "SELECT id FROM hosts WHERE fingerprint=?", (h.fingerprint,)
                ).fetchone()
                host_ids[h.id] = int(found["id"])
                fingerprints[h.id] = h.fingerprint
            for r in other.results():
                key = (fingerprints[r.host_id], r.exp_key, r.created, r.raw_ticks)
                if key in seen:
                    counts["skipped"] += 1
                    continue
                seen.add(key)
                self._insert(r, host_ids[r.host_id])
                counts["added"] += 1
            for s in other.sweeps():
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO sweeps(id, name, created, updated, grid, total,"
                    " skipped, status, version) VALUES (?,?,?,?,?,?,?,?,?)",
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

    def _insert(self, r: StoredResult, host_id: int) -> None:
        """A stored result as it is (another store's), under this store's ``host_id``."""
        self.db.execute(
            _INSERT_RESULT,
            (
                r.created,
                host_id,
                r.suite,
                r.name,
                r.sweep_id,
                r.exp_key,
                json.dumps(r.experiment_data),
                r.iterations,
                json.dumps(list(r.raw_ticks)),
                *_stats_columns(r.ticks),
                *_stats_columns(r.ns),
                json.dumps({k: v.to_dict() for k, v in r.counters.items()}),
                r.error,
                r.version,
                json.dumps(detail_to_json(r.rounds, r.modes, r.noise)),
            ),
        )

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
