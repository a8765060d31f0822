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
import errno
import os
import random
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from smclab.store.base import StoreCorrupt, StoreError, StoreWriteError, SweepLocked
from smclab.store.lock import Holder, alive_since
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

#: seconds an opener waits for another smclab's lock
LOCK_WAIT = 30

#: a new store is made as ``.NAME.PID.HEX.new`` beside ``NAME`` (with SQLite's journal files
#: for it); what a creator killed mid-way left there is removed by the next writer once it is
#: older than this (seconds) and its process is gone (see :func:`_remove_leftovers`)
LEFTOVER_AGE = 60.0
_JOURNALS = ("-journal", "-wal", "-shm")

#: the tables and columns by which a file of smclab 0.1.0 is recognised
_OLD_LAYOUT = {
    "hosts": {"id", "fingerprint", "facts"},
    "results": {"id", *RESULT_COLUMNS.split(", ")} - {"extra", "uid"},
    "sweeps": {"id", "name", "created", "updated", "grid", "total", "skipped", "status"},
}


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    """A connection to ``path``. A reader's writes nothing: where it may write the folder it is
    an ordinary connection with ``query_only`` set (so the last one to close still tidies the
    ``-wal`` and ``-shm`` files away); else read-only (``mode=ro``), or where SQLite cannot
    make the ``-shm`` file a WAL store needs (a read-only folder or mount) ``immutable=1``
    (the file is then read as it is: whatever a writer left in its ``-wal`` is not seen)."""
    if not read_only or _writable(path):
        db = sqlite3.connect(path, timeout=LOCK_WAIT, isolation_level=None)
        if read_only:
            db.execute("PRAGMA query_only = ON")
    else:
        uri = f"file:{quote(str(path.absolute()))}"
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=LOCK_WAIT, isolation_level=None)
        try:
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            db.close()
            db = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
    db.row_factory = sqlite3.Row
    return db


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _remove_leftovers(path: Path) -> list[Path]:
    """Remove what creators of ``path`` that were killed mid-way left beside it: the files
    ``.NAME.PID.HEX.new`` (and their journals) whose process ``PID`` is gone and which nobody
    wrote for :data:`LEFTOVER_AGE` seconds. A process running under that pid that started after
    the file was last written is another one (the pid was reused): the file is removed too.
    The age bound keeps the files of a creator this system cannot see (another machine or
    container sharing the folder) until it must long have finished (a creation takes
    milliseconds); the process check keeps those of a live one here however long it takes (a
    creator stopped with Ctrl-Z). Returns the files removed."""
    journals = "|".join(_JOURNALS)
    name = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[0-9a-f]+\.new(?:{journals})?")
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        m = name.fullmatch(entry.name)
        if m is None:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            written = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if now - written < LEFTOVER_AGE or alive_since(int(m[1]), written):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _new_file(path: Path) -> Path:
    """A new empty file ``.NAME.PID.HEX.new`` beside ``path`` that no other file (a leftover,
    or the journal of one) shares a name with."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            continue
        if not any(os.path.lexists(f"{tmp}{j}") for j in _JOURNALS):
            return tmp
        os.unlink(tmp)  # a journal of a former file of this name would be replayed into it
    raise StoreError(f"cannot create the store {path}: no free temporary name beside it")


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
    def open(cls, path: Path, *, create: bool, read_only: bool = False) -> SqliteStore:
        """The store in ``path`` (see :func:`smclab.store.open_store`)."""
        if not read_only and os.access(path.parent, os.W_OK):
            _remove_leftovers(path)
        if not path.exists():
            if not create:
                raise StoreError(f"no store file {path}")
            if not path.parent.is_dir():
                raise StoreError(f"cannot create the store {path}: no folder {path.parent}")
            cls._create(path)
        elif not path.is_file():
            raise StoreError(f"{path} is not a file")
        try:
            db = _connect(path, read_only)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the store {path}: {e}") from None
        store = cls(path, db)
        try:
            store._prepare(create, read_only)
        except BaseException:
            store.db.close()
            raise
        return store

    @classmethod
    def _create(cls, path: Path) -> None:
        """Make a new store at ``path`` whole or not at all: it is built under a name of its
        own and linked to ``path`` when complete, so no other opener ever sees it half-made;
        if another smclab linked one first, that one is used. Where the filesystem has no hard
        links, the schema is made in place in one exclusive transaction instead. A creator
        killed here leaves its file, which a later writer removes (:func:`_remove_leftovers`)."""
        try:
            tmp = _new_file(path)
        except OSError as e:
            raise StoreError(f"cannot create the store {path}: {e.strerror or e}") from None
        try:
            try:
                db = sqlite3.connect(tmp, timeout=LOCK_WAIT, isolation_level=None)
            except sqlite3.Error as e:
                raise StoreError(f"cannot create the store {path}: {e}") from None
            try:
                new = cls(tmp, db)
                new._migrate(create=True)
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error as e:
                raise StoreError(f"cannot create the store {path}: {e}") from None
            finally:
                db.close()
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another smclab made it meanwhile
            except OSError as e:
                if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                    raise StoreError(f"cannot create the store {path}: {e.strerror}") from None
                with contextlib.suppress(FileExistsError):  # made in place by _prepare
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except OSError as e:
            raise StoreError(f"cannot create the store {path}: {e.strerror or e}") from None
        finally:
            for suffix in ("", *_JOURNALS):
                with contextlib.suppress(OSError):
                    os.unlink(f"{tmp}{suffix}")

    def _prepare(self, create: bool, read_only: bool) -> None:
        """Check and, where needed, upgrade what the file holds. SQLite reports some lock
        conflicts at once, without waiting (a change of journal mode, a read transaction
        that must become a write while another smclab makes the same store in place): those
        are tried again, with a short random pause, for as long as the connection's timeout."""
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                self._prepare_once(create, read_only)
                return
            except sqlite3.OperationalError as e:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise self._error(e) from None
                time.sleep(random.uniform(0.002, 0.02))
            except sqlite3.DatabaseError as e:
                raise self._error(e) from None

    def _prepare_once(self, create: bool, read_only: bool) -> None:
        self.db.execute("BEGIN")  # the header and the tables read as one snapshot
        try:
            version = self._inspect(create)
        finally:
            self.db.execute("ROLLBACK")
        self._quick_check()
        if version < SCHEMA_VERSION:
            self._upgrade(create, read_only)
        if create and self._journal_mode() != "wal":
            self.db.execute("PRAGMA journal_mode=WAL")

    def _journal_mode(self) -> str:
        return str(self.db.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def _upgrade(self, create: bool, read_only: bool) -> None:
        """Bring an older schema up to date: in place, or for a reader of a file it may not
        write (a read-only folder or mount), in a copy in memory (the file is left as it is)."""
        if read_only:
            if _writable(self.path):
                self.db.execute("PRAGMA query_only = OFF")
            else:
                db = sqlite3.connect(":memory:", isolation_level=None)
                self.db.backup(db)
                self.db.close()
                db.row_factory = sqlite3.Row
                self.db = db
        self._migrate(create)
        if read_only:
            self.db.execute("PRAGMA query_only = ON")

    def _error(self, e: sqlite3.Error) -> StoreError:
        """The StoreError for an SQLite error: a damaged file is a :class:`StoreCorrupt`."""
        if isinstance(e, sqlite3.DatabaseError) and "malformed" in str(e):
            return self._corrupt(str(e))
        return StoreError(f"cannot open the store {self.path}: {e}")

    def _corrupt(self, problem: str, more: int = 0) -> StoreCorrupt:
        first = " ".join(problem.split())
        extra = f" (and {more} more problems)" if more > 0 else ""
        return StoreCorrupt(
            f"the store {self.path} is corrupted: {first}{extra} (PRAGMA integrity_check);"
            " restore it from a copy or give another --db"
        )

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

    def _quick_check(self, pragma: str = "quick_check") -> None:
        rows = [str(r[0]) for r in self.db.execute(f"PRAGMA {pragma}")]
        if rows != ["ok"]:
            problems = [p for r in rows for p in r.splitlines() if p and not p.startswith("***")]
            raise self._corrupt(problems[0] if problems else rows[0], len(problems) - 1)

    def check(self) -> None:
        try:
            self._quick_check("integrity_check")
        except sqlite3.DatabaseError as e:
            raise self._error(e) from None

    def _migrate(self, create: bool) -> None:
        with self._write(f"cannot upgrade the store {self.path}"):
            # what is in the file is decided again under the write lock: another smclab may
            # have made or upgraded it meanwhile
            version = self._inspect(create)
            if version >= SCHEMA_VERSION:
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
            if isinstance(e, sqlite3.DatabaseError) and "malformed" in str(e):
                raise self._corrupt(str(e)) from None
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
