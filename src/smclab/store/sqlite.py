"""The SQLite backend of :class:`smclab.store.ResultStore`.

Each result is written in its own transaction, so a killed run loses at most the row in flight.
An smclab file carries ``PRAGMA application_id`` :data:`APPLICATION_ID` and its schema version
in ``PRAGMA user_version``. A file from smclab 0.1.0 (no application id, version 0, the
``hosts``/``results``/``sweeps`` tables) is upgraded in place when opened; any other non-empty
database is refused before anything is written to it. Writers run ``PRAGMA quick_check`` when
they open a store, so a corrupted file is reported before anything is measured.

The schema, its migrations and the queries are :mod:`smclab.store.sql`'s (shared with
PostgreSQL); sweep locks are rows of ``sweep_locks`` whose holder's liveness is checked.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from smclab.store.base import StoreError, StoreWriteError, SweepLocked
from smclab.store.lock import Holder
from smclab.store.sql import (
    APPLICATION_ID,
    MIGRATIONS,
    RESULT_COLUMNS,
    SCHEMA_VERSION,
    Row,
    SqlStore,
)

__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION", "SqliteStore"]

T = TypeVar("T")

#: the tables and columns by which a file of smclab 0.1.0 is recognised
_OLD_LAYOUT = {
    "hosts": {"id", "fingerprint", "facts"},
    "results": {"id", *RESULT_COLUMNS.split(", ")} - {"extra", "uid"},
    "sweeps": {"id", "name", "created", "updated", "grid", "total", "skipped", "status"},
}


def _holder(row: Row) -> Holder:
    return Holder(row["node"], row["pid"], row["started"], row["fingerprint"])


class SqliteStore(SqlStore):
    """A store in one SQLite file (see the module docstring); open it with :meth:`open`."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        super().__init__(str(path))
        self.path = path
        self.db = db

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
            self._run_steps(version + 1)
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

    def _transact(self, work: Callable[[], T], what: str | None = None) -> T:
        with self._write(what):
            return work()

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, tuple(args))

    def _read(self, sql: str, args: Sequence[Any] = ()) -> Iterator[Row]:
        try:
            yield from self.db.execute(sql, tuple(args))
        except sqlite3.Error as e:
            raise StoreError(f"cannot read the store {self.path}: {e}") from None

    # -- sweep locks --------------------------------------------------------------------
    def _live_sweeps(self, sweep_id: str | None) -> set[str]:
        rows = self._read(
            "SELECT * FROM sweep_locks" + (" WHERE sweep_id = ?" if sweep_id else ""),
            (sweep_id,) if sweep_id else (),
        )
        return {r["sweep_id"] for r in rows if _holder(r).alive() is not False}

    def lock_sweep(self, sweep_id: str, holder: Holder) -> None:
        now = time.time()
        with self._write():
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

    def close(self) -> None:
        self.db.close()
