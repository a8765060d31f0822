"""SQLite store: every result with its experiment, host facts, raw repeats, counters, error.

Each result is written in its own transaction, so a killed run loses at most the row in flight.
The default location is ``$XDG_DATA_HOME/smclab/results.sqlite``; ``SMCLAB_DB`` or ``--db``
override it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smclab._version import __version__
from smclab.model.result import Result
from smclab.run import machine

SCHEMA = """
CREATE TABLE IF NOT EXISTS hosts (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    facts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
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
);
CREATE INDEX IF NOT EXISTS results_sweep ON results(sweep_id, exp_key);
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    name TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    grid TEXT NOT NULL,
    total INTEGER NOT NULL,
    skipped TEXT NOT NULL,
    status TEXT NOT NULL,
    version TEXT NOT NULL
);
"""


class StoreError(RuntimeError):
    """The database cannot be opened or is not an smclab store."""


def _names(columns: dict[str, Any]) -> str:
    """Quoted column names for SQL (they come from another file's schema)."""
    return ", ".join('"' + c.replace('"', '""') + '"' for c in columns)


def default_path() -> Path:
    env = os.environ.get("SMCLAB_DB")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smclab" / "results.sqlite"


class Store:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the store {self.path}: {e}") from None
        self.db.row_factory = sqlite3.Row
        self._hosts: dict[str, int] = {}

    def host_id(self, facts: dict[str, Any]) -> int:
        fp = machine.fingerprint(facts)
        if fp not in self._hosts:
            with self.db:
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
        """Store one result in its own transaction; returns its row id."""
        t, n = result.ticks_per_iter, result.ns_per_iter
        host = self.host_id(result.host)
        with self.db:
            cur = self.db.execute(
                "INSERT INTO results(created, host_id, suite, name, sweep_id, exp_key, experiment,"
                " iterations, raw_ticks, ticks_median, ticks_min, ticks_spread, ns_median, ns_min,"
                " ns_spread, counters, error, version)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    t.median if t else None,
                    t.min if t else None,
                    t.spread if t else None,
                    n.median if n else None,
                    n.min if n else None,
                    n.spread if n else None,
                    json.dumps({k: v.to_dict() for k, v in result.counters.items()}),
                    result.error,
                    __version__,
                ),
            )
        return int(cur.lastrowid or 0)

    def rows(self, suite: str | None = None, sweep_id: str | None = None) -> Iterator[dict]:
        """Stored results, oldest first, as plain dicts (JSON fields decoded)."""
        sql = (
            "SELECT r.*, h.facts AS host FROM results r JOIN hosts h ON h.id = r.host_id"
            " WHERE (? IS NULL OR r.suite = ?) AND (? IS NULL OR r.sweep_id = ?) ORDER BY r.id"
        )
        for row in self.db.execute(sql, (suite, suite, sweep_id, sweep_id)):
            d = dict(row)
            for key in ("experiment", "raw_ticks", "counters", "host"):
                d[key] = json.loads(d[key])
            yield d

    # -- sweeps ------------------------------------------------------------------------
    def save_sweep(
        self,
        sweep_id: str,
        name: str | None,
        grid: dict[str, list[Any]],
        total: int,
        skipped: dict[str, int],
        status: str = "running",
    ) -> None:
        """Create or update a sweep (its grid, size and skip counts); ``created`` is kept."""
        now = time.time()
        with self.db:
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
        with self.db:
            self.db.execute(
                "UPDATE sweeps SET status=?, updated=? WHERE id=?", (status, time.time(), sweep_id)
            )

    def sweep(self, sweep_id: str) -> dict[str, Any] | None:
        """One stored sweep with its row counts, or None."""
        found = self.sweeps(sweep_id)
        return found[0] if found else None

    def sweeps(self, sweep_id: str | None = None) -> list[dict[str, Any]]:
        """Stored sweeps, oldest first, with ``rows`` and ``errors`` (stored results) counts."""
        sql = (
            "SELECT s.*, COUNT(r.id) AS rows, COUNT(r.error) AS errors FROM sweeps s"
            " LEFT JOIN results r ON r.sweep_id = s.id WHERE (? IS NULL OR s.id = ?)"
            " GROUP BY s.id ORDER BY s.created, s.id"
        )
        out = []
        for row in self.db.execute(sql, (sweep_id, sweep_id)):
            d = dict(row)
            d["grid"] = json.loads(d["grid"])
            d["skipped"] = json.loads(d["skipped"])
            out.append(d)
        return out

    def sweep_suite(self, sweep_id: str) -> str | None:
        """The suite that stored a sweep's results (sweep, diagnose, advise), None if empty."""
        row = self.db.execute(
            "SELECT suite FROM results WHERE sweep_id = ? LIMIT 1", (sweep_id,)
        ).fetchone()
        return row["suite"] if row else None

    def done_keys(self, sweep_id: str, host_id: int | None = None, errors: bool = True) -> set[str]:
        """``Experiment.code_key()`` of every result stored for ``sweep_id`` (error rows too
        unless ``errors`` is false), on host ``host_id`` if given (a merged store holds other
        hosts' rows too)."""
        sql = (
            "SELECT DISTINCT exp_key FROM results WHERE sweep_id = ? AND (? IS NULL OR host_id = ?)"
            " AND (? OR error IS NULL)"
        )
        args = (sweep_id, host_id, host_id, errors)
        return {row["exp_key"] for row in self.db.execute(sql, args)}

    # -- hosts, and folding stores together -------------------------------------------------
    @classmethod
    def open_existing(cls, path: str | Path) -> Store:
        """An smclab store that must already exist (if not, nothing is created). It is then
        opened like any store: its schema is already there, so only tables a newer smclab added
        (such as ``sweeps``) can be created in it."""
        p = Path(path)
        if not p.is_file():
            raise StoreError(f"no store file {p}")
        try:
            con = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
            try:
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            finally:
                con.close()
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the store {p}: {e}") from None
        if not {"hosts", "results"} <= tables:
            raise StoreError(f"{p} is not an smclab store (no hosts and results tables)")
        return cls(p)

    def hosts(self) -> list[dict[str, Any]]:
        """Stored hosts by id: ``id``, ``fingerprint``, ``facts`` (decoded), and ``rows`` and
        ``errors`` (stored results) counts."""
        sql = (
            "SELECT h.id, h.fingerprint, h.facts, COUNT(r.id) AS rows, COUNT(r.error) AS errors"
            " FROM hosts h LEFT JOIN results r ON r.host_id = h.id GROUP BY h.id ORDER BY h.id"
        )
        out = []
        for row in self.db.execute(sql):
            d = dict(row)
            d["facts"] = json.loads(d["facts"])
            out.append(d)
        return out

    def merge_from(self, other: Store) -> dict[str, int]:
        """Copy ``other``'s hosts, results and sweeps into this store, in one transaction.

        Hosts are matched on their fingerprint (ids are remapped), results on (host
        fingerprint, exp_key, created, raw_ticks), so merging the same store twice adds
        nothing; a sweep whose id is already here is kept as it is. Returns the counts
        ``added``, ``skipped`` (results already here), ``hosts_added``, ``sweeps_added`` and
        ``sweeps_skipped``.
        """
        counts = dict.fromkeys(
            ("added", "skipped", "hosts_added", "sweeps_added", "sweeps_skipped"), 0
        )
        seen_sql = (
            "SELECT h.fingerprint, r.exp_key, r.created, r.raw_ticks FROM results r"
            " JOIN hosts h ON h.id = r.host_id"
        )
        src_sql = (
            "SELECT r.*, h.fingerprint AS host_fingerprint FROM results r"
            " JOIN hosts h ON h.id = r.host_id ORDER BY r.id"
        )
        try:
            with self.db:
                seen = {tuple(row) for row in self.db.execute(seen_sql)}
                host_ids: dict[int, int] = {}
                for h in other.db.execute("SELECT id, fingerprint, facts FROM hosts"):
                    cur = self.db.execute(
                        "INSERT OR IGNORE INTO hosts(fingerprint, facts) VALUES (?, ?)",
                        (h["fingerprint"], h["facts"]),
                    )
                    counts["hosts_added"] += cur.rowcount
                    found = self.db.execute(
                        "SELECT id FROM hosts WHERE fingerprint=?", (h["fingerprint"],)
                    ).fetchone()
                    host_ids[h["id"]] = int(found["id"])
                for row in other.db.execute(src_sql):
                    d = dict(row)
                    fp = d.pop("host_fingerprint")
                    key = (fp, d["exp_key"], d["created"], d["raw_ticks"])
                    if key in seen:
                        counts["skipped"] += 1
                        continue
                    seen.add(key)
                    del d["id"]
                    d["host_id"] = host_ids[d["host_id"]]
                    self.db.execute(
                        f"INSERT INTO results({_names(d)}) VALUES ({', '.join('?' * len(d))})",
                        tuple(d.values()),
                    )
                    counts["added"] += 1
                for row in other.db.execute("SELECT * FROM sweeps ORDER BY created, id"):
                    d = dict(row)
                    cur = self.db.execute(
                        f"INSERT OR IGNORE INTO sweeps({_names(d)})"
                        f" VALUES ({', '.join('?' * len(d))})",
                        tuple(d.values()),
                    )
                    counts["sweeps_added"] += cur.rowcount
                    counts["sweeps_skipped"] += 1 - cur.rowcount
        except sqlite3.Error as e:
            raise StoreError(f"cannot merge {other.path} into {self.path}: {e}") from None
        return counts

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
