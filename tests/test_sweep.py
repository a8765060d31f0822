"""Sweeps: grids from options and TOML, dropped combinations, resume after a kill, export."""

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import run_cli

from smclab.errors import SpecError
from smclab.model.experiment import KNOBS, Experiment
from smclab.run import machine
from smclab.store import open_store
from smclab.suites import sweep as sw

FAST_KW = {"iterations": "2000", "repeats": "2"}
FAST = ("--iterations", "2000", "--repeats", "2")


def expected_keys(**options: str) -> set[str]:
    p = sw.plan(sw.Grid.from_options(options))
    return {e.code_key() for e in p.experiments}


def stored(db, sweep_id: str | None = None) -> list[str]:
    """exp_key of every stored result (of ``sweep_id``), duplicates kept."""
    with open_store(db, create=False) as s:
        return [r.exp_key for r in s.results(sweep_id=sweep_id)]


# -- grids --------------------------------------------------------------------------------


def test_grid_from_options():
    g = sw.Grid.from_options({"buffer": "4K,1M,4096", "step": "0, 64", "barrier": "none"})
    assert g.axes == {"buffer": (4096, 1 << 20), "step": (0, 64)}  # deduped; default dropped
    assert g.size() == 4 and g.varying() == ("buffer", "step")
    assert list(g.combinations())[1] == {"buffer": 4096, "step": 64}
    events = sw.Grid.from_options({"events": "page-faults,smc-clears", "step": "0"})
    assert events.axes == {"events": (("page-faults", "smc-clears"),)}  # one list, not an axis
    assert (
        g.id.startswith("sweep-")
        and g.id == sw.Grid.from_options({"step": "64,0", "buffer": "1M,4K"}).id
    )  # the id ignores the order of values
    assert g.id != sw.Grid.from_options({"buffer": "4K,1M", "step": "0,128"}).id
    assert g.named("mine").id == "mine"


def test_grid_from_toml_matches_options():
    text = """
        name = "seed-grid"
        repeats = 2
        min-ms = 5
        events = ["page-faults"]
        [grid]
        buffer = ["4K", "1M"]
        step = [0, 64]
    """
    g = sw.Grid.from_toml(text)
    assert g.name == "seed-grid" and g.id == "seed-grid"
    opts = sw.Grid.from_options(
        {"buffer": "4K,1M", "step": "0,64", "repeats": "2", "min_ms": "5", "events": "page-faults"}
    )
    assert g.axes == opts.axes and g.key() == opts.key()
    assert g.merged(sw.Grid.from_options({"step": "128"})).axes["step"] == (128,)
    assert sw.Grid.from_json(g.to_json(), g.name) == g


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[grid\nstep = [0]", "bad TOML in the grid"),
        ("[grid]\nbufer = ['4K']", "unknown knob 'bufer'"),
        ("colour = 'red'", "unknown knob 'colour'"),
        ("[grid]\nstep = []", "step has an empty list"),
        ("[grid]\nstep = [true]", "step values must be strings or numbers"),
        ("[grid]\nbarrier = ['none', 'nope']", "unknown barrier 'nope' (choose from"),
        ("[grid]\nevents = ['page-faults']", "set it outside [grid]"),
        ("step = 0\n[grid]\nstep = [64]", "step is given twice"),
        ("grid = 1", "must be a table"),
        ("name = 'a b'", "sweep name 'a b'"),
    ],
)
def test_grid_errors(text, message):
    with pytest.raises(SpecError) as e:
        sw.Grid.from_toml(text)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_plan_counts_dropped_combinations_by_reason():
    g = sw.Grid.from_options(
        {"buffer": "4K,1M", "step": "0,4096,8192", "barrier": "none,serialize,lfence"}
    )
    p = sw.plan(g, machine.cpu_id(), frozenset())  # a CPU without the 'serialize' flag
    too_far = "must be smaller than the buffer (4096 bytes)"
    assert sum(n for r, n in p.skipped.items() if too_far in r) == 6  # 4K x {4096, 8192} x 3
    lacks = {r: n for r, n in p.skipped.items() if "needs the CPU flag 'serialize'" in r}
    assert sum(lacks.values()) == 4  # (4K/0 + 1M x 3 steps) x serialize
    assert p.total == 18 and len(p.experiments) == 18 - 6 - 4
    assert len({e.code_key() for e in p.experiments}) == len(p.experiments)
    with pytest.raises(SpecError, match="no experiment of the grid can run: all 2"):
        sw.plan(sw.Grid.from_options({"buffer": "4K", "step": "4096,8192"}))


def test_store_sweeps(tmp_path):
    from test_store import make_result

    with open_store(tmp_path / "s.sqlite", create=True) as s:
        s.save_sweep("a", None, {"step": [0, 64]}, 2, {"x": 1})
        created = s.sweep("a").created
        s.add(make_result(0), "sweep", "r0", "a")
        s.add(make_result(64, error="SIGILL"), "sweep", "r64", "a")
        s.add(make_result(128), "run")
        s.save_sweep("a", "named", {"step": [0, 64]}, 2, {})
        s.set_sweep_status("a", "done")
        (a,) = s.sweeps()
        assert s.sweep("nope") is None
        assert s.done_keys("a") == {Experiment(step=0).code_key(), Experiment(step=64).code_key()}
    assert a.created == created and a.name == "named" and a.status == "done"
    assert (a.rows, a.errors, a.grid, a.skipped) == (2, 1, {"step": [0, 64]}, {})


# -- the command --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "{bad}"], "bad TOML in"),
        (["--grid", "{unknown}"], "unknown knob 'bufer'"),
        (["--grid", "{missing}"], "cannot read the grid file"),
        (["--bogus", "1,2"], "--bogus"),
        (["--step", "0,,64"], "empty value in the step list"),
        (["--step", "0,x"], "'x' is not a size"),
        (["--barrier", "none,mfnce"], "unknown barrier 'mfnce'"),
        (["--workload", "seed,jit-block", "--strategy", "plain,nope"], "unknown strategy 'nope'"),
        (["--buffer", "4K", "--step", "4096,8192"], "no experiment of the grid can run"),
        (["--events", "no-such-event", "--step", "0,64"], "no-such-event"),
        ([], "no grid"),
        (["--resume", "nope"], "no sweep 'nope'"),
        (["--resume", "x", "--step", "0,64"], "--resume runs the stored grid"),
        (["--name", "a b", "--step", "0,64"], "sweep name 'a b'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    files = {
        "bad": tmp_path / "bad.toml",
        "unknown": tmp_path / "unknown.toml",
        "missing": tmp_path / "missing.toml",
    }
    files["bad"].write_text("[grid]\nstep = [0, 64\n")
    files["unknown"].write_text("[grid]\nbufer = ['4K']\n")
    args = [a.format(**files) for a in args]
    p = run_cli("sweep", *args, "--db", str(tmp_path / "x.sqlite"))
    assert p.returncode == 2, p.stderr
    assert message in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "Traceback" not in p.stderr


def test_sweep_json_skips_and_rerun(tmp_path):
    db = str(tmp_path / "s.sqlite")
    grid = ("--buffer", "4K,8K", "--step", "0,64,4096", "--op", "ret,ud2")
    p = run_cli("sweep", "--json", *grid, *FAST, "--db", db)
    assert p.returncode == 1, p.stderr  # the ud2 payloads crash: rows with error, exit 1
    out = json.loads(p.stdout)
    s = out["sweep"]
    assert s["id"].startswith("sweep-") and s["name"] is None
    assert s["total"] == 12
    assert s["skipped"] == {"step (4096) must be smaller than the buffer (4096 bytes)": 2}
    assert (s["already_done"], s["ran"], s["errors"], s["remaining"]) == (0, 10, 5, 0)
    assert all(("SIGILL" in (r["error"] or "")) == (r["op"] == "ud2") for r in out["rows"])
    expected = expected_keys(buffer="4K,8K", step="0,64,4096", op="ret,ud2", **FAST_KW)
    assert len(expected) == 10
    assert {r["exp_key"] for r in out["rows"]} == set(stored(db, s["id"])) == expected

    # the same grid again (values in another order): same id, nothing runs, nothing duplicated
    again = ("--buffer", "8K,4K", "--step", "4096,64,0", "--op", "ud2,ret")
    p = run_cli("sweep", "--json", *again, *FAST, "--db", db)
    s2 = json.loads(p.stdout)["sweep"]
    assert s2["id"] == s["id"] and (s2["already_done"], s2["ran"]) == (10, 0)
    assert sorted(stored(db)) == sorted(expected)

    p = run_cli("sweep", *grid, *FAST, "--db", db)  # the table
    assert "4K/64 op=ud2" in p.stdout and "SIGILL" in p.stdout
    assert "12 combinations: 0 ran now, 10 already stored, 2 skipped" in p.stdout


def _start_sweep(db: str, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "smclab", "sweep", "--db", db, *args]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )


def _wait_rows(db: str, n: int, proc: subprocess.Popen, limit: float = 30) -> int:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(db, timeout=5) as c:
                count = c.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        except sqlite3.OperationalError:  # not created yet
            count = 0
        if count >= n:
            return count
        time.sleep(0.02)
    raise AssertionError(f"the sweep did not store {n} rows in time (rc {proc.poll()})")


SLOW = {"buffer": "4K,8K", "step": "0,64,128,192,256,320,384,448,512,576", "min_ms": "15"}


@pytest.mark.parametrize(
    ("sig", "rc"), [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGKILL, -9)]
)
def test_resume_after_a_kill(sig, rc, tmp_path):
    db = str(tmp_path / "k.sqlite")
    args = [f"--{k.replace('_', '-')}={v}" for k, v in SLOW.items()] + ["--repeats", "2"]
    expected = expected_keys(**SLOW, repeats="2")
    assert len(expected) == 20
    proc = _start_sweep(db, *args)
    _wait_rows(db, 3, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == rc, err
    done = stored(db)
    assert 3 <= len(done) < len(expected) and len(set(done)) == len(done)
    if sig == signal.SIGKILL:
        p = run_cli("sweep", "--json", *args, "--db", db)  # re-run the same grid
    else:
        with open_store(db, create=False) as s:
            (sweep_id,) = {sw_.id for sw_ in s.sweeps()}
        assert f"smclab sweep --resume {sweep_id} --db {db}" in err
        assert "Traceback" not in err
        assert "left" in out  # the table of what finished was printed
        with open_store(db, create=False) as s:
            assert s.sweep(sweep_id).status == "interrupted"
        p = run_cli("sweep", "--json", "--resume", sweep_id, "--db", db)
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)["sweep"]
    assert s["already_done"] == len(done) and s["ran"] == len(expected) - len(done)
    keys = stored(db)
    assert len(keys) == len(set(keys)) == len(expected) and set(keys) == expected


def test_results_export(tmp_path):
    db = str(tmp_path / "r.sqlite")
    p = run_cli(
        "sweep", "--name", "exp", "--step", "0,64", "--barrier", "none,mfence", *FAST, "--db", db
    )
    assert p.returncode == 0, p.stderr
    p = run_cli("run", "--step", "128", *FAST, "--db", db)
    assert p.returncode == 0, p.stderr

    p = run_cli("results", "--sweep", "exp", "--json", "--db", db)
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)["results"]
    assert len(rows) == 4 and {r["sweep_id"] for r in rows} == {"exp"}
    cols = list(rows[0])
    for c in (
        *KNOBS,
        "sweep_id",
        "label",
        "iterations",
        "ticks_median",
        "ticks_min",
        "ticks_spread",
        "ns_median",
        "ns_min",
        "ns_spread",
        "smc-clears.per_iter",
        "smc-clears.reason",
        "error",
        "host_model_name",
        "host_family",
        "host_model",
    ):
        assert c in cols, c
    assert {(r["step"], r["barrier"]) for r in rows} == {
        (s, b) for s in (0, 64) for b in ("none", "mfence")
    }
    assert all(r["iterations"] == 2000 and r["ticks_median"] > 0 for r in rows)
    assert rows[0]["host_family"] == machine.cpu_id().family

    out = tmp_path / "all.csv"
    p = run_cli("results", "--out", str(out), "--db", db)
    assert p.returncode == 0 and p.stdout == "", p.stderr
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(table) == 5 and list(table[0]) == cols
    assert {r["suite"] for r in table} == {"sweep", "run"}
    assert [r["step"] for r in table if r["suite"] == "run"] == ["128"]

    p = run_cli("results", "--suite", "run", "--csv", "--db", db)
    assert len(list(csv.DictReader(io.StringIO(p.stdout)))) == 1

    p = run_cli("results", "--sweeps", "--json", "--db", db)
    (s,) = json.loads(p.stdout)["sweeps"]
    assert (s["id"], s["total"], s["rows"], s["errors"], s["status"]) == ("exp", 4, 4, 0, "done")

    p = run_cli("results", "--sweep", "exp", "--db", db)  # a table of the knobs that vary
    assert p.returncode == 0, p.stderr
    assert "barrier" in p.stdout and "mfence" in p.stdout and "buffer" not in p.stdout

    for args, message in (
        (["--json", "--csv"], "not both"),
        (["--out", str(tmp_path / "x.txt")], "--out needs --json or --csv"),
        (["--sweep", "nope"], "no sweep 'nope'"),
    ):
        p = run_cli("results", *args, "--db", db)
        assert p.returncode == 2 and message in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1


def test_retry_errors_runs_error_rows_again_and_keeps_them(tmp_path):
    db = str(tmp_path / "r.sqlite")
    args = ("sweep", "--op", "ret,ud2", "--iterations", "2000", "--repeats", "2", "--db", db)
    first = run_cli(*args, "--json")
    assert first.returncode == 1  # the ud2 row failed
    assert json.loads(first.stdout)["sweep"]["ran"] == 2
    again = json.loads(run_cli(*args, "--json").stdout)["sweep"]
    assert again["ran"] == 0 and again["already_done"] == 2
    retry = json.loads(run_cli(*args, "--retry-errors", "--json").stdout)["sweep"]
    assert retry["ran"] == 1 and retry["already_done"] == 1
    with open_store(db, create=False) as s:
        errors = [r for r in s.results() if r.error]
    assert len(errors) == 2 and all(e.error.startswith("SIGILL") for e in errors)


def test_sweep_interleave_measures_the_grid_in_rounds(tmp_path):
    import json as _json

    from conftest import run_cli as _run

    p = _run(
        "sweep",
        "--store",
        "exec,far",
        "--repeats",
        "5",
        "--min-ms",
        "2",
        "--events",
        "none",
        "--interleave",
        "--json",
        "--db",
        str(tmp_path / "i.sqlite"),
    )
    assert p.returncode == 0, p.stderr
    from smclab.store import open_store

    with open_store(tmp_path / "i.sqlite", create=False) as st:
        rows = list(st.results())
    # every point ran in the same 5 rounds, one repeat each
    assert len(rows) == 2 and all(len(r.rounds) == 5 for r in rows)
    assert _json.loads(p.stdout)["sweep"]["ran"] == 2
