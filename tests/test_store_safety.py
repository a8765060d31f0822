"""The store's safety: schema version and migration of 0.1.0 files, foreign and corrupted
files, readers that never create, failed writes, sweep locks."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import run_cli
from test_store import make_result
from test_sweep import _start_sweep, _wait_rows

from smclab.model.result import StoredResult
from smclab.store import StoreError, SweepLocked, open_store
from smclab.store.lock import Holder, start_time
from smclab.store.sqlite import APPLICATION_ID, LEFTOVER_AGE, SCHEMA_VERSION

DATA = Path(__file__).parent / "data"
RECORDED = DATA / "intel-xeon-6-cf-kvm-2026-11-25-shrunk.sqlite"
FAST = ("--iterations", "2000", "--repeats", "2")


def bad(*args: str, rc: int = 2) -> str:
    """Exit ``rc``, one line on stderr, no traceback."""
    r = run_cli(*args)
    assert r.returncode == rc, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smclab: error:"), r.stderr
    return lines[0]


def raw(db, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute(sql).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def header(db) -> tuple[int, int]:
    return raw(db, "PRAGMA application_id")[0][0], raw(db, "PRAGMA user_version")[0][0]


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))


# -- schema version and migration ------------------------------------------------------------


def test_recorded_store_of_0_1_0_is_migrated_in_place(tmp_path):
    db = tmp_path / "recorded.sqlite"
    shutil.copy(RECORDED, db)
    assert header(db) == (0, 0)  # made by smclab 0.1.0: unmarked
    counts = {t: raw(db, f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("results", "sweeps", "hosts")}
    assert counts == {"results": 110, "sweeps": 7, "hosts": 1}
    per_sweep = dict(raw(db, "SELECT sweep_id, COUNT(*) FROM results GROUP BY sweep_id"))

    with open_store(db, create=False) as s:  # a reader: migrates, creates nothing else
        results = list(s.results())
        sweeps = s.sweeps()
        hosts = s.hosts()
    assert header(db) == (APPLICATION_ID, SCHEMA_VERSION)
    assert len(results) == 110 and all(isinstance(r, StoredResult) for r in results)
    assert all(r.experiment is not None and r.error is None for r in results)
    assert {r.sweep_id: 0 for r in results}.keys() == per_sweep.keys()
    assert [r.id for r in results] == sorted(r.id for r in results)
    seed = [r for r in results if r.suite == "seed"]
    assert len(seed) == 9 and all(r.ticks.median > 0 and r.raw_ticks for r in seed)
    assert {r.host["model_name"] for r in results} == {"Intel(R) Xeon(R) Processor"}
    assert len(sweeps) == 7 and {w.status for w in sweeps} == {"done"}
    assert sum(w.rows for w in sweeps) == 101 and hosts[0].rows == 110
    assert raw(db, "PRAGMA integrity_check") == [("ok",)]
    assert {t: raw(db, f"SELECT COUNT(*) FROM {t}")[0][0] for t in counts} == counts
    # keys are recomputed (non-default knobs only), so today's sweeps find these rows
    assert all(r.exp_key == r.experiment.code_key() for r in results)
    assert all(r.rounds == () and r.noise is None for r in results)  # not measured then

    # opened again (as a writer too), nothing changes; the CLI reads it
    with open_store(db, create=True) as s:
        assert [r.id for r in s.results()] == [r.id for r in results]
    out = json.loads(run_cli("results", "--db", str(db), "--sweeps", "--json").stdout)["sweeps"]
    assert [w["id"] for w in out] == [w.id for w in sweeps]


def test_a_new_store_is_marked(tmp_path):
    db = tmp_path / "new.sqlite"
    with open_store(db, create=True) as s:
        s.add(make_result(), "run")
    assert header(db) == (APPLICATION_ID, SCHEMA_VERSION)
    assert raw(db, "PRAGMA journal_mode") == [("wal",)]


def test_a_store_of_a_newer_smclab_is_refused(tmp_path):
    db = tmp_path / "newer.sqlite"
    open_store(db, create=True).close()
    raw(db, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer smclab"):
        open_store(db, create=False)


# -- targets -------------------------------------------------------------------------------


def test_targets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match="cannot connect to the store") as e:
        open_store("postgresql://me:secret@127.0.0.1:1/smc", create=True)
    assert "secret" not in str(e.value) and "me:***@" in str(e.value)
    with pytest.raises(StoreError, match="unknown store URL scheme 'mysql'"):
        open_store("mysql://h/db", create=True)
    with pytest.raises(StoreError, match="empty"):
        open_store("", create=True)
    assert list(tmp_path.iterdir()) == []  # no 'postgresql:' directory, nothing at all
    open_store("sqlite:///rel.sqlite", create=True).close()
    assert (tmp_path / "rel.sqlite").is_file()
    open_store(f"sqlite:///{tmp_path}/abs.sqlite", create=True).close()
    assert (tmp_path / "abs.sqlite").is_file()
    open_store(Path("rel.sqlite"), create=False).close()


def test_cli_refuses_an_unreachable_server_and_an_empty_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # a server that is down is a failure (exit 1), not bad input
    assert "cannot connect" in bad("run", "--db", "postgresql://127.0.0.1:1/smc", *FAST, rc=1)
    assert "cannot connect" in bad("results", "--db", "postgres://127.0.0.1:1/smc", rc=1)
    assert "empty" in bad("run", "--db", "", *FAST)
    assert "empty" in bad("results", "--db", "")
    assert list(tmp_path.iterdir()) == []


# -- files that are not smclab stores ------------------------------------------------------


def foreign_db(path: Path) -> bytes:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    con.executemany("INSERT INTO notes(text) VALUES (?)", [(f"note {i}",) for i in range(50)])
    con.commit()
    con.close()
    return path.read_bytes()


def test_a_foreign_database_is_refused_untouched(tmp_path):
    db = tmp_path / "other.sqlite"
    before = foreign_db(db)
    with pytest.raises(StoreError, match="not an smclab store"):
        open_store(db, create=True)
    assert "not an smclab store" in bad("run", "--db", str(db), *FAST)
    assert "not an smclab store" in bad("sweep", "--step", "0,64", *FAST, "--db", str(db))
    assert "not an smclab store" in bad("results", "--db", str(db))
    assert db.read_bytes() == before  # not a byte written, no switch to WAL
    assert siblings(db) == ["other.sqlite"]
    # another program's database that looks like ours but marks itself as its own
    marked = tmp_path / "marked.sqlite"
    shutil.copy(RECORDED, marked)
    raw(marked, "PRAGMA application_id = 42")
    before = marked.read_bytes()
    assert "not an smclab store" in bad("results", "--db", str(marked))
    assert marked.read_bytes() == before


def test_merge_into_or_from_a_foreign_database_writes_nothing(tmp_path):
    db = tmp_path / "other.sqlite"
    before = foreign_db(db)
    src = tmp_path / "src.sqlite"
    shutil.copy(RECORDED, src)
    assert "not an smclab store" in bad("merge", "--into", str(db), str(src))
    assert db.read_bytes() == before
    # a source with tables named like ours but not ours: the new destination is not left
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE hosts (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("CREATE TABLE results (id INTEGER PRIMARY KEY, value REAL)")
    con.commit()
    con.close()
    dest = tmp_path / "new.sqlite"
    assert "not an smclab store" in bad("merge", "--into", str(dest), str(src), str(db))
    assert not dest.exists() and siblings(dest) == []


def test_a_failed_merge_removes_the_destination_it_created(tmp_path):
    src = tmp_path / "src.sqlite"
    shutil.copy(RECORDED, src)
    raw(src, "UPDATE results SET raw_ticks = 'not json' WHERE id = (SELECT MAX(id) FROM results)")
    (tmp_path / "sub").mkdir()
    dest = tmp_path / "sub" / "new.sqlite"
    assert "src.sqlite" in bad("merge", "--into", str(dest), str(src))
    assert not dest.exists() and siblings(dest) == []


# -- readers never create ------------------------------------------------------------------


def test_readers_never_create(tmp_path, monkeypatch):
    missing = tmp_path / "missing.sqlite"
    monkeypatch.setenv("SMCLAB_DB", str(tmp_path / "default.sqlite"))
    for args in (
        ("results", "--db", str(missing)),
        ("results", "--sweeps", "--db", str(missing)),
        ("results",),  # the default store does not exist either
        ("compare", "--db", str(missing), "--hosts"),
        ("compare",),
        ("plot", "--db", str(missing), "--sweep", "s", "--x", "step"),
        ("plot", "--sweep", "s", "--x", "step"),
        ("merge", "--into", str(tmp_path / "into.sqlite"), str(missing)),
    ):
        assert "no store file" in bad(*args), args
    assert list(tmp_path.iterdir()) == []


# -- failed writes ---------------------------------------------------------------------------

FULL_DISK = """
import sqlite3, sys
from smclab.store.sqlite import SqliteStore
opened = SqliteStore.open.__func__

def open_small(cls, path, **kw):
    store = opened(cls, path, **kw)
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # no room for one more page
    return store

SqliteStore.open = classmethod(open_small)
from smclab.cli import main
main(sys.argv[1:])
"""


def test_a_full_disk_exits_1_and_leaves_the_store_consistent(tmp_path):
    db = tmp_path / "full.sqlite"
    with open_store(db, create=True) as s:  # a store with a little in it, no spare page
        s.add(make_result(), "run")
    args = ["sweep", "--name", "full", "--step", ",".join(str(64 * i) for i in range(40))]
    p = subprocess.run(
        [sys.executable, "-c", FULL_DISK, *args, *FAST, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert p.returncode == 1, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "database or disk is full" in lines[0], p.stderr
    assert "cannot write to the store" in lines[0]
    assert raw(db, "PRAGMA integrity_check") == [("ok",)]
    with open_store(db, create=False) as s:
        stored = list(s.results(sweep_id="full"))
        (sweep,) = s.sweeps()
    assert len(stored) < 40 and sweep.rows == len(stored)
    assert sweep.status == "interrupted"


def test_a_failed_write_marks_the_sweep_interrupted(tmp_path, monkeypatch, capsys):
    """The result insert fails, the rest of the store still works: the stored status is set."""
    from smclab import cli
    from smclab.store.sqlite import SqliteStore

    added = SqliteStore.add

    class FullDisk:
        def __init__(self, db):
            self.db = db

        def execute(self, sql, *args):
            if sql.startswith("INSERT INTO results"):
                raise sqlite3.OperationalError("database or disk is full")
            return self.db.execute(sql, *args)

    def add_once(self, *args, **kw):
        row = added(self, *args, **kw)
        if not isinstance(self.db, FullDisk):
            self.db = FullDisk(self.db)
        return row

    monkeypatch.setattr(SqliteStore, "add", add_once)
    monkeypatch.setattr(SqliteStore, "close", lambda self: None)
    db = tmp_path / "f.sqlite"
    with pytest.raises(SystemExit) as e:
        cli.main(["sweep", "--name", "f", "--step", "0,64,128", *FAST, "--db", str(db)])
    assert e.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "database or disk is full" in err[0]
    assert err[0].endswith(f"; resume with: smclab sweep --resume f --db {db}")
    monkeypatch.undo()
    assert raw(db, "SELECT status FROM sweeps") == [("interrupted",)]
    assert raw(db, "SELECT COUNT(*) FROM results") == [(1,)]
    assert raw(db, "SELECT COUNT(*) FROM sweep_locks") == [(0,)]  # released


# -- corruption ------------------------------------------------------------------------------


def test_a_corrupted_store_is_reported_before_measuring(tmp_path):
    db = tmp_path / "c.sqlite"
    with open_store(db, create=True) as s:
        for i in range(200):
            s.add(make_result(64 * (i % 60)), "run", str(i))
    page = raw(db, "PRAGMA page_size")[0][0]
    assert db.stat().st_size > 8 * page and siblings(db) == ["c.sqlite"]
    with db.open("r+b") as f:
        f.seek(4 * page)
        f.write(b"\xff" * page)  # a page of the results b-tree
    line = bad("run", "--db", str(db), *FAST, rc=1)
    assert "corrupted" in line and str(db) in line and "PRAGMA integrity_check" in line
    assert "corrupted" in bad("sweep", "--step", "0,64", *FAST, "--db", str(db), rc=1)
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database\n" * 100)
    assert "not a database" in bad("run", "--db", str(junk), *FAST)


# -- sweep locks -----------------------------------------------------------------------------


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_sweep_lock_in_the_store(tmp_path):
    me = Holder.current("fp")
    with open_store(tmp_path / "l.sqlite", create=True) as s:
        s.save_sweep("a", None, {}, 1, {})
        assert s.sweep("a").status == "interrupted"  # running, but nobody holds it
        s.lock_sweep("a", me)
        assert s.sweep("a").status == "running"
        s.lock_sweep("a", me)  # the holder may ask again
        alive = Holder(me.node, 1, start_time(1), "fp")  # init: alive for sure
        with pytest.raises(SweepLocked, match=rf"already running \(process {me.pid} on this"):
            s.lock_sweep("a", alive)
        s.unlock_sweep("a", me)
        s.lock_sweep("a", alive)
        with pytest.raises(SweepLocked):
            s.lock_sweep("a", me)
        assert s.sweep("a").status == "running"
        s.unlock_sweep("a", me)  # not the holder: nothing happens
        with pytest.raises(SweepLocked):
            s.lock_sweep("a", me)
        s.unlock_sweep("a", alive)
        dead = Holder(me.node, _dead_pid(), 1, "fp")
        s.lock_sweep("a", dead)
        assert s.sweep("a").status == "interrupted"  # its holder is gone
        s.lock_sweep("a", me)  # taken over
        assert s.sweep("a").status == "running"
        reused = Holder(me.node, os.getpid(), (me.started or 0) + 1, "fp")  # same pid, not me
        s.unlock_sweep("a", me)
        s.lock_sweep("a", reused)
        s.lock_sweep("a", me)  # a reused pid is not the holder


def test_one_sweep_runs_in_one_process_at_a_time(tmp_path):
    db = str(tmp_path / "lock.sqlite")
    steps = ",".join(str(64 * i) for i in range(6))
    args = ["--step", steps, "--min-ms", "300", "--repeats", "2", "--name", "locked"]
    first = _start_sweep(db, *args)
    try:
        _wait_rows(db, 2, first)
        line = bad("sweep", *args, "--db", db)
        assert "sweep 'locked' is already running" in line and f"process {first.pid}" in line
        (s,) = json.loads(run_cli("results", "--sweeps", "--json", "--db", db).stdout)["sweeps"]
        assert s["status"] == "running"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        first.stdout.close()
        first.stderr.close()
    (s,) = json.loads(run_cli("results", "--sweeps", "--json", "--db", db).stdout)["sweeps"]
    assert s["status"] == "interrupted"  # killed: no longer shown as running
    assert raw(db, "SELECT status FROM sweeps") == [("running",)]  # as it was left
    p = run_cli("sweep", *args, "--json", "--db", db)  # the dead holder's lock is taken over
    assert p.returncode == 0, p.stderr
    done = json.loads(p.stdout)["sweep"]
    assert done["already_done"] >= 2 and done["remaining"] == 0
    (s,) = json.loads(run_cli("results", "--sweeps", "--json", "--db", db).stdout)["sweeps"]
    assert s["status"] == "done" and s["rows"] == 6
    assert raw(db, "SELECT COUNT(*) FROM sweep_locks") == [(0,)]


def test_sweep_lock_script_holder(tmp_path):
    """A second process asking for a locked sweep id fails at once (no waiting)."""
    db = tmp_path / "h.sqlite"
    script = textwrap.dedent(
        f"""
        import sys, time
        from smclab.store import open_store
        from smclab.store.lock import Holder
        s = open_store({str(db)!r}, create=True)
        s.save_sweep("held", None, {{}}, 1, {{}})
        s.lock_sweep("held", Holder.current("fp"))
        print("locked", flush=True)
        sys.stdin.readline()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        with open_store(db, create=False) as s:
            with pytest.raises(SweepLocked, match=f"process {proc.pid} on this host"):
                s.lock_sweep("held", Holder.current("fp"))
            assert s.sweep("held").status == "running"
    finally:
        proc.communicate("\n", timeout=30)
    with open_store(db, create=False) as s:
        assert s.sweep("held").status == "interrupted"  # it ended without releasing
        s.lock_sweep("held", Holder.current("fp"))


def test_rounds_modes_and_noise_survive_the_store_and_a_merge(tmp_path):
    from smclab.model.experiment import Experiment
    from smclab.model.noise import Noise
    from smclab.model.result import Result, Stats
    from smclab.model.rounds import Mode

    exp = Experiment(repeats=2, events=())
    noise = Noise(1.5, 1, 12.0, 3.0, 50.0, 7, 2)
    r = Result(exp, {"vendor": "x", "tsc_hz": 1e9}, 10, Stats(2.0, 1.0, 0.1), Stats(2.0, 1.0, 0.1))
    r.rounds, r.modes, r.noise = [[1.0, 2.0], [30.0]], [Mode(1.5, 2), Mode(30.0, 1)], noise
    with open_store(tmp_path / "a.sqlite", create=True) as a:
        a.add(r, "run")
        (back,) = a.results()
        with open_store(tmp_path / "b.sqlite", create=True) as b:
            b.merge_from(a)
            (merged,) = b.results()
    for got in (back, merged):
        assert got.rounds == ((1.0, 2.0), (30.0,)) and got.round_values() == [1.5, 30.0]
        assert got.modes == (Mode(1.5, 2), Mode(30.0, 1)) and got.noise == noise


def test_a_knob_at_its_default_does_not_enter_the_key():
    from smclab.model.experiment import Experiment

    # the key hashes only what differs from the defaults: a knob added in a later version
    # (at its default) leaves every stored key valid
    assert Experiment().canonical() == {"workload": "seed"}
    assert Experiment(step=64).canonical() == {"workload": "seed", "step": 64}
    assert Experiment(step=64).code_key() != Experiment().code_key()


def _leftover(db: Path, pid: int, tag: str, age: float, journal: str = "") -> Path:
    """What a creator of ``db`` killed mid-way leaves: a half-made file, last written ``age``
    seconds ago."""
    f = db.with_name(f".{db.name}.{pid}.{tag}.new{journal}")
    f.write_bytes(b"half a schema" * 100)
    when = time.time() - age
    os.utime(f, (when, when))
    return f


#: never a process id (ids stay below pid_max)
GONE = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


def _started(pid: int) -> float:
    stat = Path("/proc/stat").read_text()
    boot = next(int(line.split()[1]) for line in stat.splitlines() if line.startswith("btime "))
    return boot + start_time(pid) / os.sysconf("SC_CLK_TCK")


def test_a_writer_removes_the_files_of_dead_creators_only(tmp_path, monkeypatch):
    monkeypatch.setattr("smclab.store.sqlite.LEFTOVER_AGE", 0)  # the process check alone
    db = tmp_path / "store.sqlite"
    me = os.getpid()
    removed = [
        _leftover(db, GONE, "0badc0de", age=1),
        _leftover(db, GONE, "0badc0de", age=1, journal="-journal"),
        # this process runs under the pid, but it started an hour after the file: pid reused
        _leftover(db, me, "00000001", age=time.time() - _started(me) + 3600),
    ]
    # a live creator (this process, started before the file was last written)
    kept = [_leftover(db, me, "00000002", age=0)]
    # not a leftover of this store: another name, another store's, a folder
    for name in (".store.sqlite.new", f".other.sqlite.{GONE}.00000004.new"):
        kept.append(_leftover(db, GONE, "x", age=1).rename(tmp_path / name))
    (tmp_path / f".store.sqlite.{GONE}.00000005.new").mkdir()
    with open_store(db, create=True) as s:
        s.add(make_result(), "run")
    assert not any(f.exists() for f in removed)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [db.name, f".store.sqlite.{GONE}.00000005.new", *(f.name for f in kept)]
    )
    # so does a writer of an existing store; a reader removes nothing
    again = _leftover(db, GONE, "0badc0de", age=1)
    with open_store(db, create=False, read_only=True) as s:
        assert len(list(s.results())) == 1
    assert again.exists()
    open_store(db, create=False).close()
    assert not again.exists()


def test_a_dead_creators_file_stays_while_it_is_young(tmp_path):
    """A creator this system cannot see (another machine or container sharing the folder)
    looks dead: its file stays until it is older than LEFTOVER_AGE."""
    db = tmp_path / "store.sqlite"
    young = _leftover(db, GONE, "0badc0de", age=0)
    old = _leftover(db, GONE, "00000001", age=LEFTOVER_AGE + 5)
    open_store(db, create=True).close()
    assert young.exists() and not old.exists()


def test_a_leftover_under_the_name_a_creator_picks_breaks_nothing(tmp_path, monkeypatch):
    """A dead creator's file (or its journal) under the very name a new creator draws: the new
    store is made under another name, whole; the leftover is not touched."""
    db = tmp_path / "store.sqlite"
    tags = iter(["0badc0de", "0badf00d", "600dc0de"])
    monkeypatch.setattr("smclab.store.sqlite.secrets.token_hex", lambda n: next(tags))
    here = _leftover(db, os.getpid(), "0badc0de", age=0)
    journal = _leftover(db, os.getpid(), "0badf00d", age=0, journal="-journal")
    with open_store(db, create=True) as s:
        s.add(make_result(), "run")
    with open_store(db, create=False, read_only=True) as s:
        assert len(list(s.results())) == 1
    assert header(db) == (APPLICATION_ID, SCHEMA_VERSION)
    assert here.read_bytes() == journal.read_bytes() == b"half a schema" * 100
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([db.name, here.name, journal.name])
