"""How many results per second do concurrent writers store, into PostgreSQL and into SQLite?

4 writer processes (``--writers``) each store 2,000 small results (``--rows``) through
:func:`smclab.store.open_store` into one store per backend, one transaction per result as the
suites write them; then the store is read back: every result must be there exactly once
(``lost`` and ``duplicated`` count the names missing or stored twice).

    python benchmarks/store.py [--pg URL] [--writers N] [--rows N] [--json]

``--pg`` (default ``$SMCLAB_TEST_PG``) is a server where the benchmark may create and drop a
database of its own; without it only SQLite runs. The goal: >= 500 results/s into PostgreSQL
from 4 writers on 2 cores, zero lost, zero duplicated.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from smclab.model.experiment import Experiment
from smclab.model.result import CounterValue, Result, Stats
from smclab.store import open_store

GOAL = 500.0
HOST = {"vendor": "AuthenticAMD", "family": 25, "model": 1, "model_name": "bench", "tsc_hz": 2e9}


def small_result(writer: int, i: int) -> Result:
    return Result(
        experiment=Experiment(step=64 * (i % 64)),
        host=HOST,
        iterations=1000,
        ticks_per_iter=Stats(100.0 + i, 95.0, 0.01),
        ns_per_iter=Stats(50.0, 47.5, 0.01),
        counters={"smc-clears": CounterValue(None, "unavailable: benchmark")},
        raw_ticks=[100_000 + writer, 95_000 + i, 101_000],
    )


def writer(target: str, suite: str, w: int, rows: int, start: Any) -> None:
    with open_store(target, create=True) as store:
        store.host_id(HOST)
        start.wait()
        for i in range(rows):
            store.add(small_result(w, i), suite, f"{w}-{i}")


def run_backend(target: str, writers: int, rows: int) -> dict[str, Any]:
    open_store(target, create=True).close()  # the schema, made once before the clock starts
    suite = f"bench-{uuid.uuid4().hex[:8]}"
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(writers + 1)
    procs = [
        ctx.Process(target=writer, args=(target, suite, w, rows, start)) for w in range(writers)
    ]
    for p in procs:
        p.start()
    start.wait()
    t0 = time.perf_counter()
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    with open_store(target, create=False) as store:
        names = Counter(r.name for r in store.results(suite=suite))
    expected = {f"{w}-{i}" for w in range(writers) for i in range(rows)}
    stored = sum(names.values())
    return {
        "writers": writers,
        "rows": writers * rows,
        "stored": stored,
        "lost": len(expected - set(names)),
        "duplicated": sum(n - 1 for n in names.values() if n > 1),
        "failed_writers": len(failed),
        "seconds": round(wall, 3),
        "rows_per_s": round(stored / wall, 1) if wall else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pg", default=os.environ.get("SMCLAB_TEST_PG"), help="PostgreSQL URL")
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--rows", type=int, default=2000, help="results per writer")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out: dict[str, Any] = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = run_backend(str(Path(tmp) / "bench.sqlite"), args.writers, args.rows)
    if args.pg:
        from urllib.parse import urlsplit, urlunsplit

        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        name = f"smclab_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.pg, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
            sync = admin.execute("SHOW synchronous_commit").fetchone()
            fsync = admin.execute("SHOW fsync").fetchone()
        try:
            url = urlunsplit(urlsplit(args.pg)._replace(path=f"/{name}"))
            out["postgresql"] = run_backend(url, args.writers, args.rows)
            out["postgresql"]["server"] = {
                "synchronous_commit": sync[0] if sync else None,
                "fsync": fsync[0] if fsync else None,
                "host": conninfo_to_dict(args.pg).get("host"),
            }
        finally:
            with psycopg.connect(args.pg, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    ok = all(
        b["lost"] == 0 and b["duplicated"] == 0 and b["failed_writers"] == 0
        for k, b in out.items()
        if k != "cpus"
    )
    pg = out.get("postgresql")
    out["goal"] = {
        "postgresql_rows_per_s": GOAL,
        "met": bool(pg and ok and pg["rows_per_s"] >= GOAL),
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for backend in ("sqlite", "postgresql"):
            b = out.get(backend)
            if b is None:
                print(f"{backend:10}  skipped (no --pg URL and no $SMCLAB_TEST_PG)")
                continue
            print(
                f"{backend:10}  {b['writers']} writers x {b['rows'] // b['writers']} results:"
                f" {b['rows_per_s']:8.1f} results/s ({b['seconds']:.2f} s),"
                f" {b['lost']} lost, {b['duplicated']} duplicated"
            )
        met = "yes" if out["goal"]["met"] else "no"
        print(
            f"goal: >= {GOAL:.0f} results/s into PostgreSQL from {args.writers} writers on"
            f" {out['cpus']} cores, zero lost, zero duplicated: {met}"
        )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
