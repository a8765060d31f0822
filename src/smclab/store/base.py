"""What every store backend shares: the ResultStore protocol, stored sweeps and hosts, the
errors, and how a store is named (paths, URLs, the default)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from smclab.model.result import Result, StoredResult
from smclab.store.lock import Holder

URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
SCHEMES = ("postgresql", "postgres", "sqlite")


class StoreError(RuntimeError):
    """The store cannot be opened, is not an smclab store, or cannot be read (bad input: the
    CLI exits :attr:`exit_code` 2)."""

    exit_code = 2


class StoreWriteError(StoreError):
    """A write to an open store failed (disk full, I/O error): what was committed before is
    kept (the CLI exits 1)."""

    exit_code = 1


class StoreCorrupt(StoreError):
    """The store is damaged (``PRAGMA integrity_check`` fails): nothing is read from it or
    written to it (the CLI exits 1)."""

    exit_code = 1


class StoreUnavailable(StoreWriteError):
    """The database server went away mid-run and did not come back in time (exit 1): what
    was committed before is kept, the write in flight is reported."""


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
    #: told what the store waits for (a database server that went away), if set
    notice: Callable[[str], None] | None

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

    # -- folding stores together, checking, closing ----------------------------------
    def check(self) -> None:
        """The full integrity check (run before a store is merged): raises
        :class:`StoreCorrupt` for a damaged store. Opening runs a quick one."""
        ...

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
        return env if URL_RE.match(env) else Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smclab" / "results.sqlite"


def is_url(target: str | Path) -> bool:
    """Whether ``target`` names a store by URL (``scheme://``) rather than a file path."""
    return isinstance(target, str) and URL_RE.match(target) is not None


def redact(url: str) -> str:
    """``url`` with its password (in the authority or a ``password`` parameter) masked."""
    url = re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url, flags=re.IGNORECASE)


def pasteable(url: str) -> str:
    """``url`` without its password, for a command line a hint suggests: pasted back, it
    connects as before (libpq takes the password from ``PGPASSWORD`` or ``~/.pgpass``)."""
    url = re.sub(r"(://[^/:@]*):[^/@]*@", r"\1@", url)
    url = re.sub(r"([?&])password=[^&]*&?", r"\1", url, flags=re.IGNORECASE)
    return url.rstrip("?&")
