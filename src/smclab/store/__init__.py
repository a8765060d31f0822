"""Result stores: the :class:`ResultStore` seam the suites, reports and CLI use, and
:func:`open_store`, which picks the backend for a path or URL.

A store holds every result with its experiment, host facts, raw repeats, counters and error,
the sweeps (grid, size, skip counts, status) and the sweep locks. The only backend today is
SQLite (:mod:`smclab.store.sqlite`); ``postgresql://`` URLs are recognised and refused until a
backend for them exists. :mod:`smclab.store.export` flattens stored results for JSON and CSV.

The default location is ``$XDG_DATA_HOME/smclab/results.sqlite``; ``SMCLAB_DB`` or ``--db``
override it.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from smclab.model.result import Result, StoredResult
from smclab.store.lock import Holder

__all__ = [
    "Holder",
    "ResultStore",
    "StoreError",
    "StoreWriteError",
    "StoredHost",
    "StoredSweep",
    "SweepLocked",
    "default_path",
    "open_store",
]


class StoreError(RuntimeError):
    """The store cannot be opened, is not an smclab store, or cannot be read (bad input: the
    CLI exits 2)."""


class StoreWriteError(StoreError):
    """A write to an open store failed (disk full, I/O error): what was committed before is
    kept (the CLI exits 1)."""


class SweepLocked(StoreError):
    """Another live process runs the sweep."""


@dataclass(frozen=True)
class StoredSweep:
    """A stored sweep with its ``rows`` (stored results) and ``errors`` (error results no later
    success of the same experiment superseded) counts. ``status`` is
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

    # -- removing ---------------------------------------------------------------------
    def delete_sweep(self, sweep_id: str) -> int:
        """Remove the sweep ``sweep_id``: its results, its record and a stale lock; returns
        how many results went. Raises :class:`SweepLocked` if a live process runs it and
        SpecError if the store knows no such sweep (nothing is removed then)."""
        ...

    def prune(self, sweep_id: str | None = None) -> int:
        """Remove the error results a later result without error of the same experiment (same
        host, suite, sweep and code key) superseded, of sweep ``sweep_id`` (None: all);
        returns how many went."""
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


def default_path() -> Path:
    env = os.environ.get("SMCLAB_DB")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smclab" / "results.sqlite"


_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def open_store(target: str | Path | None, *, create: bool) -> ResultStore:
    """The store at ``target``: a file path, ``sqlite:///PATH`` (``sqlite:////abs/path`` for
    an absolute one, as SQLAlchemy spells it), or None for :func:`default_path`.

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
            raise StoreError(f"PostgreSQL stores are not supported yet: {_redact(target)}")
        if scheme != "sqlite":
            raise StoreError(f"unknown store URL scheme '{scheme}' (use a path or sqlite:///PATH)")
        text = target[len(m.group(0)) :]
        if not text.startswith("/") or text == "/":
            raise StoreError(f"no path in {target} (use sqlite:///PATH)")
        text = text[1:]
    from smclab.store.sqlite import SqliteStore

    return SqliteStore.open(Path(text), create=create)


def _redact(url: str) -> str:
    """``url`` without a password."""
    return re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", url)
