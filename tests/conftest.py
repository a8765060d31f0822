import os
import subprocess
import sys

import pytest


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Keep every test's store and caches out of the user's home."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "cache"))
    monkeypatch.delenv("SMCLAB_DB", raising=False)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `smclab ...` in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "smclab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def measured_together(*exps, rounds: int = 9, min_ms: float = 2.0) -> list:
    """Measure ``exps`` in interleaved rounds (the protocol for anything compared): a slow
    phase of a shared host then hits all of them alike. Returns their Results, in order.
    9 rounds: one may go the other way on a loaded box and the sign test still decides
    (8 of 9: p = 0.04)."""
    import dataclasses

    from smclab.run import machine
    from smclab.run.interleave import measure_interleaved
    from smclab.run.worker import Runner

    settings = {"repeats": rounds, "min_ms": min_ms, "events": ()}
    with Runner() as runner:
        host = machine.host_facts(runner.tsc_hz())
        return measure_interleaved(runner, [dataclasses.replace(e, **settings) for e in exps], host)


def costs_more(a, b):
    """Assert a direction every x86-64 CPU shows: ``a`` costs more than ``b`` (both Results of
    one interleaved run). Decided by the exact sign test over their paired rounds
    (:func:`smclab.model.rounds.compare_rounds`: p <= 0.07 and a median ratio beyond the 5%
    noise floor); the effect size (the median ratio and its interval) is taken from the same
    run and shown on failure, never compared with a magnitude another CPU showed (those are
    asserted on recorded data). Returns the comparison."""
    from smclab.model.rounds import compare_rounds

    assert a.error is None and b.error is None, (a.error, b.error)
    ra, rb = a.round_values(), b.round_values()
    c = compare_rounds(ra, rb)
    assert c.verdict == "higher", (
        f"expected {a.experiment.label()} > {b.experiment.label()}: ratio {c.ratio:.3g}"
        f" ({c.low:.3g}-{c.high:.3g}), {c.above} of {c.rounds} rounds higher, p={c.p:.3g};"
        f" rounds {ra} vs {rb}"
    )
    return c


# -- store backends --------------------------------------------------------------------------
#: a PostgreSQL server the store tests may create databases on (.ci/run starts one)
PG_URL = os.environ.get("SMCLAB_TEST_PG")


def pg_unavailable() -> str | None:
    """Why the PostgreSQL cases cannot run (None: they can)."""
    if not PG_URL:
        return "no PostgreSQL server: set SMCLAB_TEST_PG=postgresql://... (see README)"
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed: pip install '.[postgres]'"
    try:
        psycopg.connect(PG_URL, connect_timeout=5).close()
    except psycopg.Error as e:
        return f"cannot connect to SMCLAB_TEST_PG: {' '.join(str(e).split())}"
    return None


def need_pg() -> None:
    """Skip without a server, or fail when one is required (SMCLAB_REQUIRE_PG=1, as in CI)."""
    reason = pg_unavailable()
    if reason is None:
        return
    if os.environ.get("SMCLAB_REQUIRE_PG") == "1":
        pytest.fail(f"SMCLAB_REQUIRE_PG=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def pg_database_url(dbname: str, url: str | None = None) -> str:
    """``url`` (SMCLAB_TEST_PG) with another database name."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url or PG_URL or "")
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def pg_admin():
    import psycopg

    return psycopg.connect(PG_URL, autocommit=True)


@pytest.fixture
def pg_url():
    """The URL of a new, empty PostgreSQL database (dropped afterwards)."""
    import uuid

    need_pg()
    name = f"smclab_test_{uuid.uuid4().hex[:12]}"
    with pg_admin() as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield pg_database_url(name)
    finally:
        with pg_admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A new store's location on each backend: a file path, or an empty database's URL."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite")
    return request.getfixturevalue("pg_url")
