"""Result stores: the :class:`ResultStore` seam the suites, reports and CLI use, and
:func:`open_store`, which picks the backend for a path or URL.

A store holds every result with its experiment, host facts, raw repeats, counters and error,
the sweeps (grid, size, skip counts, status) and the sweep locks. The backends share their
schema and queries (:mod:`smclab.store.sql`): SQLite files (:mod:`smclab.store.sqlite`, the
embedded default) and PostgreSQL databases (:mod:`smclab.store.postgres`, a lab's shared store,
``postgresql://`` URLs). :mod:`smclab.store.export` flattens stored results for JSON and CSV.

The default location is ``$XDG_DATA_HOME/smclab/results.sqlite``; ``SMCLAB_DB`` (a path or a
URL) or ``--db`` override it.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from smclab.model.result import Result, StoredResult
from smclab.store.lock import Holder

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCHEMES = ("postgresql", "postgres", "sqlite")

__all__ = [
    "Holder",
    "ResultStore",
    "StoreError",
    "StoreUnavailable",
    "StoreWriteError",
    "StoredHost",
    "StoredSweep",
    "SweepLocked",
    "default_path",
    "open_store",
    "redact",
]


class StoreError(RuntimeError):
    """The store cannot be opened, is not an smclab store, or cannot be read (bad input: the
    CLI exits 2)."""


class StoreWriteError(StoreError):
    """A write to an open store failed (disk full, I/O error): what was committed before is
    kept (the CLI exits 1)."""


class StoreUnavailable(StoreWriteError):
    """The database server went away mid-run and did not come back in time (exit 1): what
    was committed before is kept, the write in flight is reported."""


class SweepLocked(StoreError):
    """Another live process runs the sweep."""


@dataclass(frozen=True)
class StoredSweep:
    """A stored sweep with its ``rows`` and ``errors`` (stored results) counts. ``status`` is
    running, done or interrupted; a sweep stored as running whose lock holder is gone (killed)
    reads as interrupted."""

    id: str
    name: str | None
    created: float
    updated: float
    grid: dict[str, list[Any]]
    total: int
    skipped: dict[str, int]
    status: str
    version: str
    rows: int
    errors: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class StoredHost:
    """A stored host with its ``rows`` and ``errors`` (stored results) counts."""

    id: int
    fingerprint: str
    facts: dict[str, Any]
    rows: int
    errors: int


class ResultStore(Protocol):
    """What the suites, reports and CLI need from a store (one backend module each)."""

    #: where the store is, as messages show it (a path or URL)
    location: str

    # -- results ----------------------------------------------------------------------
    def host_id(self, facts: dict[str, Any]) -> int:
        """The id of the host with these facts (matched on its fingerprint), added if new."""
        ...

    def add(
        self, result: Result, suite: str, name: str | None = None, sweep_id: str | None = None
    ) -> int:
        """Store one result in its own transaction; returns its id."""
        ...

    def results(
        self,
        *,
        suite: str | None = None,
        sweep_id: str | None = None,
        host_id: int | None = None,
    ) -> Iterator[StoredResult]:
        """Stored results, oldest first, of the given suite, sweep and host (None: any)."""
        ...

    def done_keys(self, sweep_id: str, host_id: int | None = None, errors: bool = True) -> set[str]:
        """``Experiment.code_key()`` of every result stored for ``sweep_id`` (error rows too
        unless ``errors`` is false), on host ``host_id`` if given."""
        ...

    def hosts(self) -> list[StoredHost]:
        """Stored hosts by id."""
        ...

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
        """Create or update a sweep (its grid, size and skip counts); ``created`` is kept."""
        ...

    def set_sweep_status(self, sweep_id: str, status: str) -> None: ...

    def sweep(self, sweep_id: str) -> StoredSweep | None:
        """One stored sweep, or None."""
        ...

    def sweeps(self) -> list[StoredSweep]:
        """Stored sweeps, oldest first."""
        ...

    def sweep_suite(self, sweep_id: str) -> str | None:
        """The suite that stored a sweep's results (sweep, diagnose, advise), None if empty."""
        ...

    def lock_sweep(self, sweep_id: str, holder: Holder) -> None:
        """Take the lock of ``sweep_id`` for ``holder``: raises :class:`SweepLocked` if a live
        process holds it; the lock of a process that is gone (on this host) is taken over."""
        ...

    def unlock_sweep(self, sweep_id: str, holder: Holder) -> None:
        """Release the lock of ``sweep_id`` if ``holder`` has it."""
        ...

    # -- folding stores together, closing -------------------------------------------
    def merge_from(self, other: ResultStore) -> dict[str, int]:
        """Copy ``other``'s hosts, results and sweeps into this store in one transaction,
        without duplicates; returns the counts ``added``, ``skipped``, ``hosts_added``,
        ``sweeps_added`` and ``sweeps_skipped``."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> ResultStore: ...

    def __exit__(self, *exc: object) -> None: ...


def default_path() -> Path | str:
    """The store to use when none is given: ``SMCLAB_DB`` (a URL is kept as text), else the
    SQLite file in the XDG data directory."""
    env = os.environ.get("SMCLAB_DB")
    if env:
        return env if _URL.match(env) else Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smclab" / "results.sqlite"


def open_store(target: str | Path | None, *, create: bool) -> ResultStore:
    """The store at ``target``: a file path, ``sqlite:///PATH`` (``sqlite:////abs/path`` for
    an absolute one, as SQLAlchemy spells it), ``postgresql://[user[:password]@][host][:port]
    /dbname[?param=value]`` (a lab's shared store: needs ``smclab[postgres]``), or None for
    :func:`default_path`.

    With ``create`` (the writers: sessions, a merge's destination) a missing store is made and
    an existing one is checked for corruption first; without it (the readers) a missing store
    is an error and nothing is created. A file that is not an smclab store is refused before
    anything is written to it. Raises :class:`StoreError`.
    """
    if target is None:
        target = default_path()
    text = str(target)
    if not text:
        raise StoreError("the store path is empty")
    if isinstance(target, str) and (m := _URL.match(target)):
        scheme = m.group(1).lower()
        if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
            from smclab.store.postgres import PostgresStore

            return PostgresStore.open(target, create=create)
        if scheme != "sqlite":
            near = difflib.get_close_matches(scheme, _SCHEMES, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]}://? " if near else ""
            raise StoreError(
                f"unknown store URL scheme '{scheme}' in {redact(target)} ({hint}use a path,"
                " sqlite:///PATH or postgresql://HOST/DB)"
            )
        text = target[len(m.group(0)) :]
        if not text.startswith("/") or text == "/":
            raise StoreError(f"no path in {target} (use sqlite:///PATH)")
        text = text[1:]
    from smclab.store.sqlite import SqliteStore

    return SqliteStore.open(Path(text), create=create)


def redact(url: str) -> str:
    """``url`` with its password (in the authority or a ``password`` parameter) masked."""
    url = re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url, flags=re.IGNORECASE)
