"""Nothing silently wrong (issue 24): bad input and hostile files (one table), a new SQLite
store under concurrent first use, read-only and damaged stores."""

import errno
import json
import multiprocessing
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from conftest import run_cli
from test_store import make_result

from smclab.cli import main
from smclab.errors import SpecError
from smclab.isa.gas import read_file
from smclab.model.experiment import Experiment, parse_value
from smclab.store import open_store

RECORDED = Path(__file__).parent / "data" / "intel-xeon-6-cf-kvm-2026-11-25-shrunk.sqlite"
#: processes x rounds of the first-use stress test: the old code (schema made in steps a second
#: opener saw half-done, a failed opener deleting the file another one was creating) failed in
#: every run at this size, in about a second; SMCLAB_STRESS_ROUNDS=100 runs it longer
WRITERS, ROUNDS = 6, int(os.environ.get("SMCLAB_STRESS_ROUNDS", "12"))


def _no_link(src, dst, **kw):
    raise OSError(errno.EPERM, "Operation not permitted")


def _first_use(path: str, barrier, i: int, links: bool) -> None:
    if not links:  # a filesystem without hard links: the schema is made in place
        os.link = _no_link
    try:
        barrier.wait(timeout=30)
        with open_store(path, create=True) as s:
            s.add(make_result(64 * i), "run", str(i))
    except BaseException:
        with open(f"{path}.{i}.error", "w") as f:
            f.write(traceback.format_exc().strip().splitlines()[-1])
        os._exit(1)
    os._exit(0)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return "(no message)"


@pytest.mark.worker  # forks the writers
@pytest.mark.parametrize("links", [True, False], ids=["linked", "in-place"])
def test_concurrent_first_use_of_a_new_store_loses_nothing(tmp_path, links):
    ctx = multiprocessing.get_context("fork")
    for r in range(ROUNDS if links else ROUNDS // 3):
        os.mkdir(tmp_path / f"new{r}")
        path = str(tmp_path / f"new{r}" / "store.sqlite")
        barrier = ctx.Barrier(WRITERS)
        procs = [
            ctx.Process(target=_first_use, args=(path, barrier, i, links)) for i in range(WRITERS)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
        failed = [
            (i, p.exitcode, _read(f"{path}.{i}.error")) for i, p in enumerate(procs) if p.exitcode
        ]
        assert not failed, f"round {r}: {failed}"
        with open_store(path, create=False) as s:
            names = sorted(x.name for x in s.results())
        assert names == sorted(str(i) for i in range(WRITERS)), f"round {r}"
        assert sorted(os.listdir(os.path.dirname(path))) == ["store.sqlite"], (
            f"round {r}: {os.listdir(os.path.dirname(path))}"
        )


# -- read-only and damaged stores: the reading commands ---------------------------------------

PLOT = "diagnose-20261125T191605-write-ahead"
#: every reading command, as run on a store ``{db}`` (``{out}``: a writable folder)
READERS = {
    "results": ("results", "--db", "{db}", "--json"),
    "sweeps": ("results", "--db", "{db}", "--sweeps", "--json"),
    "compare": ("compare", "--db", "{db}", "--hosts", "--json"),
    "plot": ("plot", "--db", "{db}", "--sweep", PLOT, "--x", "ahead", "--out", "{out}/p.png"),
    "merge": ("merge", "--into", "{out}/into.sqlite", "{db}"),
}


#: runs each command line of a JSON {name: argv} in this one process; prints {name: exit code}
RUN_EACH = """
import contextlib, io, json, sys
from smclab.cli import main
codes = {}
for name, argv in json.loads(sys.argv[1]).items():
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            main(argv)
        codes[name] = 0
    except SystemExit as e:
        codes[name] = e.code
print(json.dumps(codes))
"""


def _store(folder: Path, schema: str) -> Path:
    """A copy of the recorded Intel store in ``folder``: as recorded (schema 0, smclab 0.1.0)
    or opened once by a writer (the current schema, WAL mode)."""
    db = folder / "store.sqlite"
    shutil.copy(RECORDED, db)
    if schema == "current":
        open_store(db, create=True).close()
    return db


def _read_only_command(folder: Path, args: list[str]) -> list[str]:
    """``args`` run where ``folder`` is read-only. As root, file modes do not stop writes, so
    the command runs in a mount namespace of its own with ``folder`` bind-mounted read-only
    (needs CAP_SYS_ADMIN, as in CI); as another user, the folder's mode is enough."""
    if os.geteuid() != 0:
        return args
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    return [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "_",
        str(folder),
        *args,
    ]


def _can_mount_read_only(tmp_path: Path) -> str | None:
    if os.geteuid() != 0:
        return None
    probe = _read_only_command(tmp_path, ["touch", str(tmp_path / "probe")])
    r = subprocess.run(probe, capture_output=True, text=True)
    if r.returncode == 0 or (tmp_path / "probe").exists():
        return f"cannot bind-mount a folder read-only here: {r.stderr.strip() or 'writable'}"
    return None


@pytest.mark.parametrize("schema", ["current", "0.1.0"])
def test_every_reader_opens_a_store_in_a_read_only_folder(tmp_path, schema):
    shelf, out = tmp_path / "shelf", tmp_path / "out"
    shelf.mkdir()
    out.mkdir()
    if reason := _can_mount_read_only(shelf):
        pytest.skip(reason)
    db = _store(shelf, schema)
    before = (db.read_bytes(), sorted(os.listdir(shelf)))
    readers = READERS if schema == "current" else {"sweeps": READERS["sweeps"]}
    argv = {n: [a.format(db=db, out=out) for a in args] for n, args in readers.items()}
    if os.geteuid() != 0:
        shelf.chmod(0o555)
    try:
        cmd = [sys.executable, "-c", RUN_EACH, json.dumps(argv)]
        r = subprocess.run(_read_only_command(shelf, cmd), capture_output=True, text=True)
    finally:
        shelf.chmod(0o755)
    assert r.returncode == 0 and json.loads(r.stdout) == dict.fromkeys(readers, 0), r.stderr
    assert (db.read_bytes(), sorted(os.listdir(shelf))) == before
    if schema == "current":
        assert (out / "p.png").stat().st_size > 0
        with open_store(out / "into.sqlite", create=False) as s:
            assert len(list(s.results())) == 110


def test_every_reader_refuses_a_damaged_store(tmp_path, capsys):
    db = _store(tmp_path, "current")
    page = sqlite3.connect(db).execute("PRAGMA page_size").fetchone()[0]
    with db.open("r+b") as f:  # 8 KB of garbage mid-file
        f.seek(db.stat().st_size // 2 // page * page)
        f.write(b"\xa5" * 8192)
    into = tmp_path / "into.sqlite"
    open_store(into, create=True).close()
    kept = into.read_bytes()
    for name, args in {**READERS, "merge": ("merge", "--into", str(into), "{db}")}.items():
        with pytest.raises(SystemExit) as exit:
            main([a.format(db=db, out=tmp_path) for a in args])
        lines = capsys.readouterr().err.strip().splitlines()
        assert exit.value.code == 1 and len(lines) == 1, (name, lines)
        assert "corrupted" in lines[0] and "PRAGMA integrity_check" in lines[0], name
    assert into.read_bytes() == kept and not (tmp_path / "p.png").exists()


# -- bad input: one table -------------------------------------------------------------------

#: files the cases name as {stem} (written into the test's folder)
FILES = {
    "empty.s": b"",
    "bom.s": b"\xef\xbb\xbf.section payload\nret\n",
    "include.s": b'.section payload\n  .include "/etc/hostname"\nret\n',
    "incbin.s": b'.section payload\nx: .incbin "/etc/hostname"\nret\n',
    "macro.s": b'.section payload\n.macro m d\n.\\d "/etc/hostname"\n.endm\nm incbin\nret\n',
    "latin1.s": b".section payload # \xe9\nret\n",
}
#: (arguments, exit code, what the one line on stderr says)
BAD_INPUT = [
    (["show", "--asm", "/dev/zero"], 2, "the assembly file /dev/zero is larger than 1 MiB"),
    (["sweep", "--grid", "/dev/zero"], 2, "the grid file /dev/zero is larger than 1 MiB"),
    (["show", "--asm", "{tmp}/none.s"], 2, "cannot read the assembly file"),
    (["show", "--asm", "{tmp}"], 2, "cannot read the assembly file"),
    (["show", "--asm", "{empty}"], 2, "empty.s is empty"),
    (["show", "--asm", "{latin1}"], 2, "is not UTF-8 text"),
    (["show", "--asm", "{include}"], 2, "include.s:2: .include refused"),
    (["show", "--asm", "{incbin}"], 2, "incbin.s:2: .incbin refused"),
    (["show", "--asm", "{macro}"], 2, "macro.s: the assembly reads another file"),
    (["run", "--db", "{tmp}/no/such/folder/r.sqlite"], 2, "no folder {tmp}/no/such/folder"),
]


@pytest.mark.parametrize(("args", "rc", "message"), BAD_INPUT, ids=lambda v: None)
def test_bad_input_is_one_line(args, rc, message, tmp_path, capsys):
    names = {"tmp": str(tmp_path)}
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
        names[name.removesuffix(".s")] = str(tmp_path / name)
    with pytest.raises(SystemExit) as exit:
        main([a.format(**names) for a in args])
    err = capsys.readouterr().err.strip().splitlines()
    assert (exit.value.code, len(err)) == (rc, 1), err
    assert message.format(**names) in err[0] and err[0].startswith("smclab: error:")
    assert sorted(os.listdir(tmp_path)) == sorted(FILES)  # nothing made


def test_a_byte_order_mark_is_no_part_of_the_text(tmp_path):
    (tmp_path / "bom.s").write_bytes(FILES["bom.s"])
    name, text = read_file(tmp_path / "bom.s")
    assert (name, text) == ("bom.s", ".section payload\nret\n")


# -- one usable CPU ---------------------------------------------------------------------------

ONE_CPU = """
import json
from smclab.model.experiment import Experiment
from smclab.run import machine
from smclab.suites import catalog
from smclab.suites.diagnose.cross_modifying import needs
from smclab.suites.session import check_experiment
from smclab.errors import SpecError
flags = machine.cpu_flags()
rows = {v.id: v.to_dict(flags, machine.second_cpu_missing()) for v in catalog.VARIANTS.values()}
try:
    check_experiment(Experiment(workload="patch", patch_kind="cross"), machine.cpu_id(), flags)
    refused = None
except SpecError as e:
    refused = str(e)
print(json.dumps({
    "usable": sorted(machine.usable_cpus()),
    "online": sorted(machine.online()),
    "cross": rows["patch-cross"],
    "plain": rows["plain"],
    "two": [i for i, r in rows.items() if r["runnable"] and
            catalog.variant(i).experiment().cpus_needed() > 1],
    "diagnose": needs(len(machine.usable_cpus())),
    "refused": refused,
}))
"""


def test_one_usable_cpu_under_taskset():
    if shutil.which("taskset") is None:
        pytest.skip("no taskset (util-linux)")
    r = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", ONE_CPU], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["usable"] == [0] and out["two"] == []
    why = out["cross"]["reason"]
    assert out["cross"]["runnable"] is False and why.startswith("needs a second CPU")
    assert out["plain"]["runnable"] is True and out["plain"]["reason"] is None
    assert out["diagnose"] == why and out["refused"].endswith(why)
    if len(out["online"]) > 1:  # never "this host has one" when it has more
        assert f"allows only CPU 0 of the {len(out['online'])} online" in why


@pytest.mark.parametrize(
    ("start", "online", "usable", "why"),
    [
        ({0, 1}, "0-1", {0, 1}, None),
        ({0}, "0-1", {0}, "allows only CPU 0 of the 2 online"),
        ({3}, "0-7", {3}, "allows only CPU 3 of the 8 online"),
        ({0}, "0", {0}, "this host has one CPU online"),
        ({0, 1, 2}, "0,2", {0, 2}, None),  # CPU 1 went offline after start
    ],
)
def test_usable_cpus_are_the_affinity_at_start_among_the_online(
    start, online, usable, why, monkeypatch, tmp_path
):
    from smclab.run import machine

    (tmp_path / "online").write_text(online + "\n")
    real = Path
    monkeypatch.setattr(machine, "_START", frozenset(start))
    monkeypatch.setattr(
        machine, "Path", lambda p: tmp_path / "online" if "cpu/online" in str(p) else real(p)
    )
    assert machine.usable_cpus() == usable
    reason = machine.second_cpu_missing()
    assert (reason is None) == (why is None) and (why is None or why in reason)


# -- time limits --------------------------------------------------------------------------------


def test_a_measurement_limit_grows_with_its_warm_up_up_to_the_cap():
    from smclab.run.worker import plan_limit

    said: list[float] = []
    limit = plan_limit(Experiment(repeats=3), 120, 1e9, 600, lambda s, why: said.append(s))
    assert limit({"iterations": 1000, "ticks_per_iter": 100})[0] == 120 and said == []
    # 1e9 iterations x 30 ns x 3 repeats = 90 s, x 2 margin x 3 (extra repeats) = 540 s
    seconds, why = limit({"iterations": 10**9, "ticks_per_iter": 30})
    assert seconds == pytest.approx(540) and said == [seconds] and "~90 s" in why
    said.clear()
    seconds, why = limit({"iterations": 10**10, "ticks_per_iter": 10})  # 1800 s with margin
    assert seconds == 600 and said == [600]
    assert why.endswith(
        "more than the 600 s a measurement may take (--timeout 1800 lets it finish)"
    )


def test_a_limit_that_differs_from_timeout_is_told_once():
    from smclab.run.worker import Runner

    runner = Runner(timeout=0.1)
    told: list[str] = []
    runner.notice = told.append
    for _ in range(3):
        runner._say(0.36, "3 repeat(s) of at least 20 ms need it")
    runner._say(0.1, "the same as asked")
    assert told == ["time limit 0.36 s, not --timeout 0.1 s: 3 repeat(s) of at least 20 ms need it"]
    assert runner.cap == 600 and Runner(timeout=3600).cap == 3600


def test_a_run_longer_than_the_cap_says_its_limit_once_warmed_up(tmp_path):
    # >= 20 ns an iteration on every x86 (each store hits the executed line): > 600 s
    cmd = [sys.executable, "-m", "smclab", "run", "--iterations", "1e10", "--repeats", "3"]
    cmd += ["--timeout", "5", "--db", str(tmp_path / "r.sqlite")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the first note: the limit the warm-up set
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        line = " ".join((line + proc.stderr.read()).split())
    assert proc.returncode == 130
    assert line.startswith("time limit 600 s, not --timeout 5 s: its warm-up predicted"), line
    assert "more than the 600 s a measurement may take (--timeout " in line


@pytest.mark.parametrize(
    ("text", "value"), [("1e10", 10**10), ("2000", 2000), ("1.5", None), ("inf", None)]
)
def test_an_integer_knob_takes_the_notation_its_range_is_given_in(text, value):
    if value is None:
        with pytest.raises(SpecError, match=f"iterations must be a number, got '{text}'"):
            parse_value("iterations", text)
    else:
        assert parse_value("iterations", text) == value


# -- PostgreSQL: outages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "pasted"),
    [
        ("postgresql://me:s3cret@db.lab:5433/smc", "postgresql://me@db.lab:5433/smc"),
        ("postgresql://me@db.lab/smc?password=s3cret", "postgresql://me@db.lab/smc"),
        (
            "postgresql:///smc?password=x&host=/run/pg&port=5",
            "postgresql:///smc?host=/run/pg&port=5",
        ),
        ("postgresql://db.lab/smc?sslmode=require", "postgresql://db.lab/smc?sslmode=require"),
        ("/tmp/a b.sqlite", "/tmp/a b.sqlite"),
    ],
)
def test_a_resume_hint_can_be_pasted_back(url, pasted):
    from smclab.cli.sweep import resume_command

    assert resume_command("s1", url) == f"smclab sweep --resume s1 --db {shlex.quote(pasted)}"
    assert "s3cret" not in resume_command("s1", url) and "***" not in resume_command("s1", url)


def test_an_outage_is_said_while_it_is_waited_out(pg_url, monkeypatch):
    from conftest import pg_admin

    from smclab.store import StoreUnavailable
    from smclab.store.postgres import PostgresStore

    told: list[str] = []
    connect = PostgresStore._connect
    down = [2]  # the server refuses two connections, then is back

    def flaky(url, password):
        if down[0]:
            down[0] -= 1
            raise StoreUnavailable("cannot connect: the server is down")
        return connect(url, password)

    with open_store(pg_url, create=True) as s:
        s.notice = told.append
        s.retry_pause = 0.05
        s.add(make_result(0), "run", "a")
        monkeypatch.setattr(PostgresStore, "_connect", staticmethod(flaky))
        with pg_admin() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (s.conn.info.backend_pid,))
        s.add(make_result(64), "run", "b")
        assert [r.name for r in s.results()] == ["a", "b"]
    assert len(told) == 2 and "waiting up to 60 s" in told[0] and "is back" in told[1]


# -- small things that mislead ------------------------------------------------------------------


def test_smclab_alone_prints_its_help_not_an_error():
    r = run_cli()
    assert r.returncode == 0 and r.stderr == "" and "error" not in r.stdout
    assert r.stdout.startswith("Usage: smclab") and "Commands:" in r.stdout


#: `smclab` with a Ctrl-C arriving while the command line's modules load (a SIGINT then is a
#: KeyboardInterrupt raised by whatever import runs)
CTRL_C_WHILE_LOADING = """
import sys

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "smclab.cli.measure":
            raise KeyboardInterrupt

sys.meta_path.insert(0, CtrlC())
from smclab.__main__ import main
main()
"""


def test_ctrl_c_while_the_modules_load_is_one_line():
    r = subprocess.run(
        [sys.executable, "-c", CTRL_C_WHILE_LOADING, "catalog"], capture_output=True, text=True
    )
    assert (r.returncode, r.stderr) == (130, "smclab: interrupted\n")


#: a sitecustomize module that sends a real SIGINT to its process when the Nth module outside
#: smclab is imported after `smclab` starts loading (the first one: in smclab's own package
#: import), from generated code (a string exec, as namedtuple and dataclass run) or not
SIGINT_AT_IMPORT = """
import os, signal, sys

class CtrlC:
    started, seen = False, 0
    def find_spec(self, name, path=None, target=None):
        if name == "smclab":
            CtrlC.started = True
        elif CtrlC.started and not name.startswith("smclab") and name not in sys.modules:
            CtrlC.seen += 1
            if CtrlC.seen == {n}:
                {fire}

sys.meta_path.insert(0, CtrlC())
"""
FIRE = {
    "plain": "os.kill(os.getpid(), signal.SIGINT)",
    "generated": 'exec("os.kill(os.getpid(), signal.SIGINT)\\nfor _ in range(9): pass")',
}
#: pip's console-script wrapper (a script file, as `smclab` is), or python -m
WRAPPER = """import re
import sys
from smclab.__main__ import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


@pytest.mark.parametrize("entry", ["python -m", "console script"])
@pytest.mark.parametrize(
    ("n", "fire"), [(1, "plain"), (3, "plain"), (40, "plain"), (3, "generated")]
)
def test_a_real_ctrl_c_while_smclab_starts_is_one_line(entry, n, fire, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(SIGINT_AT_IMPORT.format(n=n, fire=FIRE[fire]))
    (tmp_path / "smclab").write_text(WRAPPER)
    cmd = ["-m", "smclab"] if entry == "python -m" else [str(tmp_path / "smclab")]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    # as from a terminal: a suite started in the background inherits SIGINT ignored, and then
    # Python installs no KeyboardInterrupt handler at all (nothing to test)
    r = subprocess.run(
        [sys.executable, *cmd, "catalog"],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert "Traceback" not in r.stderr and r.returncode == 130, (r.returncode, r.stderr[-1500:])
    assert r.stderr.startswith("smclab: interrupted") and r.stderr.count("\n") == 1, r.stderr


def test_readers_leave_nothing_beside_the_store(tmp_path, capsys):
    shelf, out = tmp_path / "shelf", tmp_path / "out"
    shelf.mkdir()
    out.mkdir()
    db = _store(shelf, "current")
    kept = db.read_bytes()
    for args in READERS.values():
        main([a.format(db=db, out=out) for a in args])
        assert os.listdir(shelf) == ["store.sqlite"], args
    assert db.read_bytes() == kept


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", "--events", ""],
            "events is empty: name counters (see `smclab host`), or give none",
        ),
        (["run", "--events", " , "], "events is empty"),
        (["sweep", "--grid", "{tmp}/empty.toml"], "empty.toml names no knobs"),
        (["compare", "{tmp}/a.sqlite", "{tmp}/../{name}/a.sqlite"], "is given twice"),
    ],
)
def test_what_used_to_run_silently_is_refused(args, message, tmp_path, capsys):
    (tmp_path / "empty.toml").write_text("[grid]\n")
    shutil.copy(RECORDED, tmp_path / "a.sqlite")
    names = {"tmp": tmp_path, "name": tmp_path.name}
    with pytest.raises(SystemExit) as exit:
        main(
            [
                *(a.format(**names) for a in args),
                *(["--db", str(tmp_path / "r.sqlite")] if args[0] in ("run", "sweep") else []),
            ]
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "r.sqlite").exists()


def test_a_how_to_names_the_call_kind_it_uses():
    from smclab.workloads.seed.advise import how_to

    naive = Experiment()
    direct = how_to(Experiment(call="direct", layout="near", step=64), naive)
    retpoline = how_to(Experiment(call="retpoline"), naive)
    assert "call rel32" in direct and "retpoline" not in direct
    assert "retpoline thunk" in retpoline and "call rel32" not in retpoline


def test_at_60_columns_no_label_or_number_is_cut(tmp_path):
    from rich.console import Console

    from smclab.report.compare import compare_table
    from smclab.report.sweep import sweep_table
    from smclab.suites.compare import compare_stores

    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    shutil.copy(RECORDED, a)
    shutil.copy(Path(__file__).parent / "data" / "amd-zen4-19-11-kvm-2026-12-03.sqlite", b)
    data = compare_stores([(str(a), None), (str(b), None)])
    with open_store(a, create=False) as s:
        rows = list(s.results(sweep_id=PLOT.replace("write-ahead", "barriers")))
    summary = {"id": "s", "name": None, "total": len(rows), "ran": len(rows), "already_done": 0}
    summary |= {"skipped": {}, "remaining": 0, "errors": 0}
    numbers = [f"{v['ns_per_iter']:.2f}" for r in data["rows"] for v in r["values"] if v]
    for table, ids in (
        (compare_table(data), [r["label"] for r in data["rows"]] + numbers),
        (
            sweep_table(summary, rows),
            [r.label for r in rows] + [f"{r.ns.median:.2f}" for r in rows],
        ),
    ):
        console = Console(width=60, record=True, color_system=None)
        console.print(table)
        text = console.export_text()
        assert "…" not in text and max(len(line) for line in text.splitlines()) <= 60
        flat = " ".join(text.split())
        assert all(i in flat for i in ids), [i for i in ids if i not in flat]


def test_advise_lists_what_needs_a_second_cpu_as_not_run(monkeypatch, tmp_path):
    """advise on a host with one usable CPU (its check refuses the writer-thread candidates):
    the rest are searched and ranked, those are listed with why (measurements stubbed)."""
    from conftest import ONE_CPU as why
    from conftest import stubbed_session

    from smclab.suites import advise

    session = stubbed_session(monkeypatch, tmp_path, lambda i, e: 100.0 + i)
    got = advise.run_advise(session, "patch", quick=True, budget=5)
    cross = {c for c in got.skipped if "cross" in c}
    assert "cross" in cross and got.skipped["cross"].endswith(why)
    assert all(got.skipped[c].endswith(why) or "lacks" in got.skipped[c] for c in cross)
    assert not cross & {e.id for e in got.entries} and got.entries
    assert got.to_dict()["skipped"] == got.skipped
