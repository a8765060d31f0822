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

import difflib
from pathlib import Path

from smclab.store.base import (
    SCHEMES,
    URL_RE,
    ResultStore,
    StoreCorrupt,
    StoredHost,
    StoredSweep,
    StoreError,
    StoreUnavailable,
    StoreWriteError,
    SweepLocked,
    default_path,
    is_url,
    pasteable,
    redact,
)
from smclab.store.lock import Holder
from smclab.store.postgres import PostgresStore
from smclab.store.sqlite import SqliteStore

__all__ = [
    "Holder",
    "ResultStore",
    "StoreCorrupt",
    "StoreError",
    "StoreUnavailable",
    "StoreWriteError",
    "StoredHost",
    "StoredSweep",
    "SweepLocked",
    "default_path",
    "is_url",
    "open_store",
    "pasteable",
    "redact",
]


def open_store(target: str | Path | None, *, create: bool, read_only: bool = False) -> ResultStore:
    """The store at ``target``: a file path, ``sqlite:///PATH`` (``sqlite:////abs/path`` for
    an absolute one, as SQLAlchemy spells it), ``postgresql://[user[:password]@][host][:port]
    /dbname[?param=value]`` (a lab's shared store: needs ``smclab[postgres]``), or None for
    :func:`default_path`.

    With ``create`` (the writers: sessions, a merge's destination) a missing store is made
    (whole or not at all, however many smclab make it at once; its folder must exist, except
    the default one); without it a missing store is an error and nothing is created.
    ``read_only`` (the readers: results, compare, plot, a merge's sources) opens an SQLite
    file read-only, so a store on a read-only folder or mount opens too. Every store is
    quick-checked when opened (a damaged one raises :class:`StoreCorrupt`); a file that is not
    an smclab store is refused before anything is written to it. Raises :class:`StoreError`.
    """
    if create and read_only:
        raise ValueError("a store opened read-only cannot be created")
    if target is None:
        target = default_path()
        if create and isinstance(target, Path):
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(
                    f"cannot create the folder {target.parent}: {e.strerror}"
                ) from None
    text = str(target)
    if not text:
        raise StoreError("the store path is empty")
    if isinstance(target, str) and (m := URL_RE.match(target)):
        scheme = m.group(1).lower()
        if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
            return PostgresStore.open(target, create=create, read_only=read_only)
        if scheme != "sqlite":
            near = difflib.get_close_matches(scheme, SCHEMES, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]}://? " if near else ""
            raise StoreError(
                f"unknown store URL scheme '{scheme}' in {redact(target)} ({hint}use a path,"
                " sqlite:///PATH or postgresql://HOST/DB)"
            )
        text = target[len(m.group(0)) :]
        if not text.startswith("/") or text == "/":
            raise StoreError(f"no path in {target} (use sqlite:///PATH)")
        text = text[1:]
    return SqliteStore.open(Path(text), create=create, read_only=read_only)
