"""The store protocol on both backends (SQLite and PostgreSQL, the `store_url` fixture):
results, hosts, sweeps and locks, the schema and its migration from the previous version, many
writers, merges across backends, and PostgreSQL's own failure modes (a dropped connection, a
server gone, bad URLs, foreign databases)."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import PG_URL, need_pg, pg_admin, pg_database_url, run_cli
from test_store import HOST, make_result

from smclab.model.experiment import Experiment
from smclab.store import (
    StoreError,
    StoreUnavailable,
    StoreWriteError,
    SweepLocked,
    open_store,
)
from smclab.store.lock import Holder
from smclab.store.sql import APPLICATION_ID, SCHEMA_VERSION

TESTS = os.path.dirname(__file__)
FAST = ("--iterations", "2000", "--repeats", "2")


def is_pg(url: str) -> bool:
    return url.startswith("postgresql://")


def raw(url: str, sql: str, args: tuple = ()) -> list[tuple]:
    """Run SQL on the store's database outside smclab (``?`` placeholders)."""
    if is_pg(url):
        import psycopg

        with psycopg.connect(url, autocommit=True) as con:
            cur = con.execute(sql.replace("?", "%s"), args)
            return cur.fetchall() if cur.description else []
    con = sqlite3.connect(url)
    try:
        rows = con.execute(sql, args).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def one_line_error(r: subprocess.CompletedProcess, rc: int = 2) -> str:
    assert r.returncode == rc, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smclab: error:"), r.stderr
    return lines[0]


# -- the protocol on both backends ------------------------------------------------------------


def test_round_trip_hosts_and_keys(store_url):
    with open_store(store_url, create=True) as s:
        s.add(make_result(64), "sweep", "one", sweep_id="sw")
        s.add(make_result(error="SIGILL: boom"), "sweep", "two", sweep_id="sw")
        other = make_result(128)
        other.host = {**HOST, "model_name": "another CPU"}
        s.add(other, "run", "three")
        rows = list(s.results())
        mine = s.host_id(HOST)
        assert [r.name for r in s.results(host_id=mine)] == ["one", "two"]
        assert [r.name for r in s.results(suite="run")] == ["three"]
        assert s.done_keys("sw", mine, errors=False) == {Experiment(step=64).code_key()}
        assert len(s.done_keys("sw")) == 2
        hosts = s.hosts()
        assert s.sweep_suite("sw") == "sweep" and s.sweep_suite("nope") is None
    one, two, three = rows
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert one.experiment == Experiment(step=64) and one.raw_ticks == (100_000, 95_000, 101_000)
    assert one.ticks.median == 100.0 and two.error == "SIGILL: boom" and two.ticks is None
    assert [(h.rows, h.errors) for h in hosts] == [(2, 1), (1, 0)]
    assert three.host["model_name"] == "another CPU" and three.host_id != one.host_id
    assert raw(store_url, "SELECT COUNT(DISTINCT uid) FROM results") == [(3,)]


def test_sweeps_and_locks(store_url):
    me = Holder.current("{}")
    with open_store(store_url, create=True) as s:
        s.save_sweep("sw", "grid", {"step": [0, 64]}, 2, {"x": 1})
        s.lock_sweep("sw", me)
        s.lock_sweep("sw", me)  # the holder again: fine
        assert s.sweep("sw").status == "running"
        s.add(make_result(0), "sweep", sweep_id="sw")
        s.set_sweep_status("sw", "done")
        s.unlock_sweep("sw", me)
        (sweep,) = s.sweeps()
    assert (sweep.id, sweep.grid, sweep.total, sweep.skipped) == (
        "sw",
        {"step": [0, 64]},
        2,
        {"x": 1},
    )
    assert (sweep.status, sweep.rows, sweep.errors) == ("done", 1, 0)
    assert raw(store_url, "SELECT COUNT(*) FROM sweep_locks") == [(0,)]


LOCKER = """
import sys, time
from smclab.store import open_store
from smclab.store.lock import Holder
s = open_store(sys.argv[1], create=True)
s.save_sweep("sw", None, {{}}, 1, {{}})
s.lock_sweep("sw", Holder.current("{{}}"))
print("locked", flush=True)
time.sleep(60)
"""


def test_one_holder_per_sweep_and_a_killed_one_is_recovered(store_url):
    open_store(store_url, create=True).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER.format(), store_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        with open_store(store_url, create=False) as s:
            with pytest.raises(SweepLocked, match=f"process {proc.pid} on this host"):
                s.lock_sweep("sw", Holder.current("{}"))
            assert s.sweep("sw").status == "running"
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            for _ in range(50):  # the server notices the closed connection at once
                if s.sweep("sw").status == "interrupted":
                    break
                time.sleep(0.1)
            assert s.sweep("sw").status == "interrupted"
            s.lock_sweep("sw", Holder.current("{}"))  # the stale holder's lock is taken over
    finally:
        proc.kill()
        proc.wait()


WRITER = """
import sys
sys.path.insert(0, {tests!r})
from test_store import make_result
from smclab.store import open_store
w = int(sys.argv[2])
with open_store(sys.argv[1], create=True) as s:
    for i in range(40):
        s.add(make_result(64 * (i % 8)), "run", f"{{w}}-{{i}}")
"""


def test_concurrent_writers_lose_nothing_and_duplicate_nothing(store_url):
    script = WRITER.format(tests=TESTS)
    procs = [subprocess.Popen([sys.executable, "-c", script, store_url, str(w)]) for w in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    with open_store(store_url, create=False) as s:
        names = [r.name for r in s.results()]
        (host,) = s.hosts()
    assert sorted(names) == sorted(f"{w}-{i}" for w in range(4) for i in range(40))
    assert host.rows == 160


def test_a_duplicate_row_is_impossible(store_url):
    with open_store(store_url, create=True) as s:
        s.add(make_result(64), "run", "one")
    (uid,) = raw(store_url, "SELECT uid FROM results")[0]
    cols = "created, host_id, suite, exp_key, experiment, raw_ticks, counters, version, uid"
    with pytest.raises(Exception, match="(?i)unique"):
        raw(
            store_url,
            f"INSERT INTO results({cols}) VALUES (1, 1, 'run', 'k', '{{}}', '[]',"
            f" '{{}}', 'v', '{uid}')",
        )
    assert raw(store_url, "SELECT COUNT(*) FROM results") == [(1,)]


def test_two_results_alike_at_one_clock_reading_are_both_stored(store_url, monkeypatch):
    """Two writers storing the same experiment with the same raw ticks at the same clock
    reading (seen with 4 concurrent writers on PostgreSQL) share a uid: the second is stored a
    clock step later, not taken for a retry of the first. The same write again is one row."""
    from smclab.store import sql

    monkeypatch.setattr(sql.time, "time", lambda: 1_700_000_000.0)
    with open_store(store_url, create=True) as s:
        first = s.add(make_result(64), "run", "0-1")
        second = s.add(make_result(64), "run", "1-1")
        again = s._add_row(  # a retried write: the same values, the same row
            sql.result_values(
                make_result(64),
                1,
                sql.machine.fingerprint(HOST),
                1_700_000_000.0,
                suite="run",
                name="0-1",
                sweep_id=None,
            ),
            "retry",
        )
        names = sorted(r.name for r in s.results())
    assert first != second and again == first
    assert names == ["0-1", "1-1"]


def test_a_reader_never_creates_and_a_newer_schema_is_refused(store_url):
    if is_pg(store_url):
        with pytest.raises(StoreError, match=r"no smclab store .* \(an empty database"):
            open_store(store_url, create=False)
        assert raw(store_url, "SELECT to_regclass('smclab_schema')") == [(None,)]
    else:
        with pytest.raises(StoreError, match="no store file"):
            open_store(store_url, create=False)
    open_store(store_url, create=True).close()
    if is_pg(store_url):
        raw(store_url, "UPDATE smclab_schema SET version = version + 1")
    else:
        raw(store_url, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer smclab"):
        open_store(store_url, create=True)


# -- the schema and its migration ------------------------------------------------------------


def make_v2(url: str) -> None:
    """A store at schema version 2 (before result uids), with three results (two alike)."""
    from smclab.store.sql import MIGRATIONS

    steps = [s for v in (1, 2) for s in MIGRATIONS[v]]
    if is_pg(url):
        import psycopg

        from smclab.store.postgres import VERSION_TABLE, pg_ddl

        with psycopg.connect(url, autocommit=True) as con, con.transaction():
            for sql in (*VERSION_TABLE, f"INSERT INTO smclab_schema VALUES ({APPLICATION_ID}, 2)"):
                con.execute(sql)
            for step in steps:
                if isinstance(step, str):
                    con.execute(pg_ddl(step))
    else:
        con = sqlite3.connect(url)
        for step in steps:
            if isinstance(step, str):
                con.execute(step)
        con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        con.execute("PRAGMA user_version = 2")
        con.commit()
        con.close()
    exp = json.dumps(Experiment(step=64).to_dict())
    raw(url, "INSERT INTO hosts(fingerprint, facts) VALUES ('fp', ?)", (json.dumps(HOST),))
    cols = "created, host_id, suite, exp_key, experiment, raw_ticks, counters, version, extra"
    for created in (1.5, 1.5, 2.5):
        raw(
            url,
            f"INSERT INTO results({cols}) VALUES (?, 1, 'run', ?, ?, '[1, 2]', '{{}}', 'v', NULL)",
            (created, Experiment(step=64).code_key(), exp),
        )


def test_migration_from_the_previous_version(store_url, tmp_path):
    make_v2(store_url)
    with open_store(store_url, create=False) as s:  # a reader migrates too
        rows = list(s.results())
    assert [r.created for r in rows] == [1.5, 1.5, 2.5]
    uids = [u for (u,) in raw(store_url, "SELECT uid FROM results ORDER BY id")]
    assert len(set(uids)) == 3 and all(uids)  # rows stored twice before keep a uid each
    if is_pg(store_url):
        assert raw(store_url, "SELECT application_id, version FROM smclab_schema") == [
            (APPLICATION_ID, SCHEMA_VERSION)
        ]
    else:
        assert raw(store_url, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    # the migrated rows are recognised by a merge (same uid as a copy made from them); the
    # two alike are one result for a merge, as they were before
    copy = str(tmp_path / "copy.sqlite")
    with open_store(copy, create=True) as c, open_store(store_url, create=False) as s:
        assert c.merge_from(s)["added"] == 2
        assert s.merge_from(c)["skipped"] == 2


def test_same_schema_on_both_backends(pg_url, tmp_path):
    lite = str(tmp_path / "s.sqlite")
    open_store(lite, create=True).close()
    open_store(pg_url, create=True).close()
    tables = ("hosts", "results", "sweeps", "sweep_locks")
    for t in tables:
        mine = [r[1] for r in raw(lite, f"PRAGMA table_info({t})")]
        theirs = raw(
            pg_url,
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
            " ORDER BY ordinal_position",
            (t,),
        )
        assert mine == [c for (c,) in theirs], t
    indexes = {
        n for (n,) in raw(pg_url, "SELECT indexname FROM pg_indexes WHERE tablename = 'results'")
    }
    assert {"results_sweep", "results_uid", "results_host"} <= indexes


# -- across backends -------------------------------------------------------------------------


def test_merge_and_compare_across_backends(pg_url, tmp_path):
    a = str(tmp_path / "a.sqlite")
    with open_store(a, create=True) as s:
        s.add(make_result(64), "run", "one")
        s.add(make_result(128), "run", "two")
        s.save_sweep("sw", None, {}, 0, {}, status="done")
    other = make_result(64)
    other.host = {**HOST, "model_name": "another CPU"}
    with open_store(pg_url, create=True) as s:
        s.add(other, "run", "theirs")

    out = json.loads(run_cli("merge", "--into", pg_url, a, "--json").stdout)
    assert out["sources"][0]["added"] == 2 and out["results"] == 3 and out["hosts"] == 2
    again = json.loads(run_cli("merge", "--into", pg_url, a, "--json").stdout)
    assert again["sources"][0]["skipped"] == 2 and again["sources"][0]["sweeps_skipped"] == 1
    # and back: a new file from the shared store, merged into both again, adds nothing
    b = str(tmp_path / "b.sqlite")
    back = json.loads(run_cli("merge", "--into", b, pg_url, "--json").stdout)
    assert back["sources"][0]["added"] == 3
    assert (
        json.loads(run_cli("merge", "--into", pg_url, b, "--json").stdout)["sources"][0]["skipped"]
        == 3
    )
    assert json.loads(run_cli("merge", "--into", a, b, "--json").stdout)["sources"][0] == {
        "source": b,
        "added": 1,
        "skipped": 2,
        "hosts_added": 1,
        "sweeps_added": 0,
        "sweeps_skipped": 1,
    }

    hosts = json.loads(run_cli("compare", "--db", pg_url, "--hosts", "--json").stdout)["hosts"]
    assert [(h["model_name"], h["rows"]) for h in hosts] == [("another CPU", 1), ("x", 2)]
    data = json.loads(run_cli("compare", "--db", pg_url, "--json").stdout)
    assert len(data["hosts"]) == 2 and data["hosts"][0]["source"] == pg_url
    (row,) = [r for r in data["rows"] if r["label"] == "4K/64"]
    assert row["ratio_to_first"] == [1.0, 1.0]
    first = hosts[1]["id"]
    mine = json.loads(run_cli("results", "--db", pg_url, "--host", str(first), "--json").stdout)[
        "results"
    ]
    assert sorted(r["name"] for r in mine) == ["one", "two"]


def test_cli_measures_into_postgresql_and_env_url(pg_url, monkeypatch):
    r = run_cli("run", "--db", pg_url, "--step", "64", *FAST, "--json")
    assert r.returncode == 0, r.stderr
    r = run_cli("sweep", "--db", pg_url, "--name", "g", "--step", "0,64", *FAST, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sweep"]["ran"] == 2
    monkeypatch.setenv("SMCLAB_DB", pg_url)  # the default store, as a URL
    again = json.loads(run_cli("sweep", "--resume", "g", "--json").stdout)
    assert again["sweep"]["ran"] == 0 and again["sweep"]["already_done"] == 2
    rows = json.loads(run_cli("results", "--json").stdout)["results"]
    assert len(rows) == 3
    (sweep,) = json.loads(run_cli("results", "--sweeps", "--json").stdout)["sweeps"]
    assert (sweep["id"], sweep["status"], sweep["rows"]) == ("g", "done", 2)


# -- PostgreSQL: connections that drop, servers that go away ---------------------------------


def _terminate(store) -> None:
    with pg_admin() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (store.conn.info.backend_pid,))


def test_a_dropped_connection_is_retried_and_the_row_kept(pg_url):
    me = Holder.current("{}")
    with open_store(pg_url, create=True) as s:
        s.save_sweep("sw", None, {}, 2, {})
        s.lock_sweep("sw", me)
        s.add(make_result(0), "sweep", "a", sweep_id="sw")
        _terminate(s)
        s.add(make_result(64), "sweep", "b", sweep_id="sw")  # reconnects, written once
        # the lock was taken again
        with open_store(pg_url, create=False) as t, pytest.raises(SweepLocked):
            t.lock_sweep("sw", me)
        _terminate(s)
        assert [r.name for r in s.results()] == ["a", "b"]  # reads are retried too
        s.unlock_sweep("sw", me)
    assert raw(pg_url, "SELECT COUNT(*), COUNT(DISTINCT uid) FROM results") == [(2, 2)]


def test_a_server_gone_for_good_reports_the_row_in_flight(pg_url, monkeypatch):
    from smclab.store.postgres import PostgresStore

    with open_store(pg_url, create=True) as s:
        s.add(make_result(0), "run", "a")
        s.retry_seconds, s.retry_pause = 0.5, 0.05

        def refuse(url, password):
            raise StoreError("cannot connect: the server is down")

        monkeypatch.setattr(PostgresStore, "_connect", staticmethod(refuse))
        _terminate(s)
        with pytest.raises(StoreUnavailable, match="the result of 4K/64 is not stored") as e:
            s.add(make_result(64), "run", "b")
    assert isinstance(e.value, StoreWriteError)  # the CLI exits 1
    assert raw(pg_url, "SELECT name FROM results") == [("a",)]


# -- PostgreSQL: bad input --------------------------------------------------------------------


def test_bad_urls_are_one_line_and_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    msg = one_line_error(run_cli("run", "--db", "postgersql://u@localhost/smc", *FAST))
    assert "unknown store URL scheme 'postgersql'" in msg and "did you mean postgresql://" in msg
    msg = one_line_error(run_cli("results", "--db", "postgresql://me:s3cret@127.0.0.1:1/smc"), 1)
    assert "cannot connect to the store postgresql://me:***@127.0.0.1:1/smc" in msg
    assert "s3cret" not in msg
    assert list(tmp_path.iterdir()) == []  # no 'postgresql:' directory, nothing at all


def test_without_psycopg_the_extra_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StoreError, match=r"pip install 'smclab\[postgres\]'"):
        open_store("postgresql://localhost/smc", create=True)


def test_a_foreign_database_is_refused_untouched(pg_url):
    raw(pg_url, "CREATE TABLE notes (id SERIAL PRIMARY KEY, text TEXT)")
    raw(pg_url, "INSERT INTO notes(text) VALUES ('a'), ('b')")
    for args in (("run", "--db", pg_url, *FAST), ("results", "--db", pg_url)):
        assert "is not an smclab store" in one_line_error(run_cli(*args))
    src = None
    with pytest.raises(StoreError, match="not an smclab store"):
        src = open_store(pg_url, create=True)
    assert src is None
    tables = raw(
        pg_url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    assert tables == [("notes",)]


def _tcp_url(user: str, password: str | None, dbname: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    port = conninfo_to_dict(PG_URL).get("port") or "5432"
    auth = f"{user}:{password}" if password else user
    return f"postgresql://{auth}@127.0.0.1:{port}/{dbname}"


def _tcp_or_skip(url: str) -> None:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as e:
        if "password" not in str(e):
            pytest.skip(f"the test server does not listen on 127.0.0.1 with passwords: {e}")


def test_wrong_password_and_pgpassfile(pg_url, tmp_path, monkeypatch):
    need_pg()
    from urllib.parse import urlsplit

    dbname = urlsplit(pg_url).path.strip("/")
    _tcp_or_skip(_tcp_url("postgres", "wrong", dbname))
    with pg_admin() as admin:
        admin.execute("DROP ROLE IF EXISTS smclab_pw")
        admin.execute("CREATE ROLE smclab_pw LOGIN PASSWORD 'right-one'")
        admin.execute(f"GRANT ALL ON DATABASE {dbname} TO smclab_pw")
        admin.execute(f"ALTER DATABASE {dbname} OWNER TO smclab_pw")
    try:
        msg = one_line_error(run_cli("results", "--db", _tcp_url("smclab_pw", "nope", dbname)))
        assert "password authentication failed" in msg and "nope" not in msg
        assert ":***@" in msg
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"*:*:{dbname}:smclab_pw:right-one\n")
        passfile.chmod(0o600)
        monkeypatch.setenv("PGPASSFILE", str(passfile))
        url = _tcp_url("smclab_pw", None, dbname)
        r = run_cli("run", "--db", url, "--step", "64", *FAST)
        assert r.returncode == 0, r.stderr
        with open_store(_tcp_url("smclab_pw", "right-one", dbname), create=False) as s:
            assert "right-one" not in s.location and len(list(s.results())) == 1
    finally:
        with pg_admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
            admin.execute("DROP ROLE IF EXISTS smclab_pw")


def test_a_missing_database_is_one_line(pg_url):
    need_pg()
    msg = one_line_error(run_cli("run", "--db", pg_database_url("smclab_no_such_db"), *FAST))
    assert 'database "smclab_no_such_db" does not exist' in msg


def test_many_writers_create_the_schema_once(pg_url):
    script = textwrap.dedent(
        """
        import sys
        from smclab.store import open_store
        open_store(sys.argv[1], create=True).close()
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, pg_url]) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 4
    assert raw(pg_url, "SELECT COUNT(*) FROM smclab_schema") == [(1,)]
