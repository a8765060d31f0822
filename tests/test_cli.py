"""The command line as a user sees it: output, JSON contract, exit codes."""

import json
import statistics

import pytest
from conftest import run_cli

from smclab.model.result import FORMAT, versioned
from smclab.model.rounds import compare_rounds
from smclab.suites.seed import ROW_NAMES


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--step", "-1"], "step must be >= 0"),
        (["run", "--buffer", "100"], "buffer must be a positive multiple of the 4K page"),
        (["run", "--buffer", "4K", "--step", "8K"], "step (8192) must be smaller than the buffer"),
        (["run", "--barrier", "nope"], "unknown barrier 'nope'"),
        (["run", "--events", "no-such-event"], "no-such-event"),
        (["run", "--repeats", "x"], "repeats must be a number, got 'x'"),
        (["run", "--bogus"], "--bogus"),
        (["show", "--buffer", "1Q"], "'1Q' is not a size"),
        (["run", "--cpu", "999"], "cpu 999 is not available"),
        (["run", "--timeout", "-1"], "--timeout"),
        (["diagnose", "--html", "/nonexistent/dir/r.html"], "is not a writable directory"),
        (["sweep", "--resume", "nope"], "no sweep 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    needs_db = args[0] in ("run", "diagnose", "sweep")
    p = run_cli(*args, "--db", str(tmp_path / "x.sqlite")) if needs_db else run_cli(*args)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "Traceback" not in p.stderr


def test_show_prints_the_listing():
    p = run_cli("show", "--barrier", "mfence", "--step", "64")
    assert p.returncode == 0, p.stderr
    assert "rep movsb" in p.stdout and "mfence" in p.stdout and "call    r13" in p.stdout
    assert "lea     r13,[r13+0x40]" in p.stdout


def test_run_json_contract_and_store(tmp_path):
    db = tmp_path / "r.sqlite"
    p = run_cli(
        "run",
        "--json",
        "--db",
        str(db),
        "--repeats",
        "3",
        "--min-ms",
        "5",
        "--events",
        "page-faults,smc-clears",
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out) == {
        "format",
        "experiment",
        "host",
        "iterations",
        "ticks_per_iter",
        "ns_per_iter",
        "counters",
        "error",
        "rounds",
        "modes",
        "noise",
    }
    assert out["error"] is None and out["iterations"] > 0
    # one round of (at least) the 3 repeats asked for; the modes account for every repeat
    assert len(out["rounds"]) == 1 and len(out["rounds"][0]) >= 3
    assert sum(m["count"] for m in out["modes"]) == len(out["rounds"][0])
    assert set(out["ticks_per_iter"]) == {"median", "min", "spread"}
    assert out["ns_per_iter"]["median"] > 0
    smc = out["counters"]["smc-clears"]
    assert (smc["per_iter"] is None) == (smc["reason"] is not None)
    assert out["counters"]["page-faults"]["per_iter"] is not None
    from smclab.store import open_store

    with open_store(db, create=False) as s:
        rows = list(s.results())
    assert len(rows) == 1 and rows[0].suite == "run"
    assert rows[0].ticks.median == pytest.approx(out["ticks_per_iter"]["median"])
    # a stored result and a fresh one serialise identically, in the one versioned format
    assert out["format"] == FORMAT
    assert json.loads(json.dumps(versioned(rows[0].to_dict()))) == out
    exported = json.loads(run_cli("results", "--json", "--db", str(db)).stdout)
    assert exported["format"] == FORMAT and len(exported["results"]) == 1


def test_crash_exits_1_with_the_reason(tmp_path):
    p = run_cli("run", "--op", "ud2", "--db", str(tmp_path / "c.sqlite"))
    assert p.returncode == 1
    assert "SIGILL" in p.stderr


def test_seed_json(tmp_path):
    p = run_cli(
        "seed",
        "--json",
        "--db",
        str(tmp_path / "s.sqlite"),
        "--repeats",
        "5",
        "--iterations",
        "5000",
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    rows = {r["name"]: r for r in out["rows"]}
    assert tuple(rows) == ROW_NAMES
    assert rows["baseline"]["ratio_to_baseline"] == pytest.approx(1.0)
    assert rows["baseline"]["experiment"]["call"] == "source"
    assert rows["4K/0"]["published"] == {"seconds": 14.53, "smc_clears": 199_999_982}
    assert rows["no-store"]["published"] == {"seconds": None, "smc_clears": None}
    for r in out["rows"]:
        assert r["error"] is None
        assert r["ticks_per_iter"]["median"] > 0
        assert "smc-clears" in r["counters"]
    # the direction every x86-64 shows, by the sign test over the 5 interleaved rounds (its
    # size varies: ~4x on Zen 3, ~10x on Zen 4, ~3000x on the Intel Xeon 0xCF)
    seed, far = ([statistics.median(x) for x in rows[n]["rounds"]] for n in ("4K/0", "far-store"))
    assert compare_rounds(seed, far).verdict == "higher", (seed, far)
    assert any("far" in f or "data memory" in f for f in out["findings"])


def test_host_json():
    p = run_cli("host", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["host"]["tsc_hz"] > 1e8
    assert out["counters"]["page-faults"] is None  # software events work everywhere
    for name, reason in out["counters"].items():
        assert reason is None or reason.startswith("unavailable"), (name, reason)
