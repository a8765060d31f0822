"""The terminal and the things pyperf/perf users expect (issue 11): tables at 80 columns, ids
never cut, `run --variant`, exports with raw repeats, `results --delete/--prune`, `--quiet`,
`plot --logy` and its formats, ASCII-only numbers, the latest result decides a sweep's status."""

import json
import os
import re
import sqlite3
import subprocess
import sys

import pytest
from rich.console import Console
from test_store import HOST, make_result

from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.model.knobs import parse_size
from smclab.model.result import Result, Stats
from smclab.report.findings import advice
from smclab.store import SweepLocked, open_store
from smclab.store.lock import Holder
from smclab.suites.advise import Advice, Entry
from smclab.suites.catalog import VARIANTS

FAST = ("--iterations", "2000", "--repeats", "2")
LONG = "a-long-sweep-id-that-users-copy-2026-11-25T11.46.58"
CPU = "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz with a long name"


def run80(*args: str) -> subprocess.CompletedProcess:
    """`smclab ...` in an 80-column terminal."""
    return subprocess.run(
        [sys.executable, "-m", "smclab", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},
    )


def whole(word: str, text: str) -> bool:
    """``word`` on one line, not cut or wrapped."""
    pattern = re.compile(rf"(^|[\s│┃]){re.escape(word)}($|[\s│┃])")
    return any(pattern.search(line) for line in text.splitlines())


def fits(text: str) -> bool:
    return all(len(line) <= 80 for line in text.splitlines())


@pytest.fixture
def store(tmp_path):
    """A store with two hosts, long ids, several knobs varying, an error row."""
    db = tmp_path / "u.sqlite"
    other = {**HOST, "model_name": CPU, "kernel": "6.1.0-28-cloud-amd64 #1 SMP PREEMPT_DYNAMIC"}
    with open_store(db, create=True) as s:
        s.save_sweep(LONG, LONG, {"step": [0, 64]}, 4, {})
        for step in (0, 64, 128):
            r = make_result(step)
            r.experiment = Experiment(step=step, barrier="mfence", copy="avx", events=("cycles",))
            s.add(r, "sweep", sweep_id=LONG)
        s.add(make_result(error="SIGILL: a long error message " * 3), "sweep", sweep_id=LONG)
        s.add(Result(**{**make_result(0).__dict__, "host": other}), "sweep", sweep_id="b")
    return str(db)


# -- tables at 80 columns ---------------------------------------------------------------------


def test_catalog_at_80_columns_keeps_every_id_whole_and_is_short():
    p = run80("catalog")
    assert p.returncode == 0, p.stderr
    assert fits(p.stdout)
    missing = [v for v in VARIANTS if not whole(v, p.stdout)]
    assert not missing
    # was 529 lines for 93 variants (5.7 a variant), words split; the jit-emit ids (up to 42
    # characters) leave the description 30 columns: under 3 lines a variant
    assert len(p.stdout.splitlines()) < 3 * len(VARIANTS)


def test_results_and_sweeps_and_hosts_at_80_columns(store):
    for args, ids in (
        (("results",), [LONG, "SIGILL:"]),
        (("results", "--sweeps"), [LONG]),
        (("compare", "--hosts"), [store]),
    ):
        p = run80(*args, "--db", store)
        assert p.returncode == 0, p.stderr
        assert fits(p.stdout), p.stdout
        for i in ids:
            assert whole(i, p.stdout), (args, i, p.stdout)
    p = run80("compare", "--hosts", "--db", store)
    assert "Xeon(R)" in p.stdout  # the CPU wraps, it is not cut


def _entry(cid: str, ticks: float, spread: float, naive: Result | None, floor=None) -> Entry:
    r = make_result()
    r.ticks_per_iter = Stats(ticks, ticks * 0.9, spread)
    r.ns_per_iter = Stats(ticks / 2, ticks * 0.45, spread)
    return Entry(cid, r.experiment, r, naive or r, floor or r, True)


def _advice() -> Advice:
    naive = _entry("naive", 100.0, 0.01, None)
    floor = _entry("floor: far-store", 40.0, 0.01, naive.result)
    ids = {
        "ahead-1024-avx-prefetcht0-direct": (90.0, 0.01),  # helps
        "barrier-mfence+lfence-both": (80.0, 0.9),  # faster, but too noisy: no effect
        "barrier-lfence": (150.0, 0.01),  # hurts
    }
    entries = [_entry(i, t, s, naive.result, floor.result) for i, (t, s) in ids.items()]
    entries.sort(key=Entry.rank_key)
    return Advice("seed", HOST, naive, floor, entries)


def test_advise_at_80_columns_keeps_ids_and_ranks_verdicts_consistently():
    a = _advice()
    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(advice(a))
    out = console.export_text()
    assert fits(out)
    for e in a.entries:
        assert whole(e.id, out), out
    verdicts = [e.verdict for e in a.entries]
    assert verdicts == ["helps", "no effect", "hurts"]
    assert "ranked by verdict" in out


def test_advise_json_states_the_host_once():
    data = _advice().to_dict()
    assert data["host"] == HOST
    assert "host" not in json.dumps(data["entries"])


def test_show_collapses_runs_of_identical_instructions():
    p = run80("show")
    assert p.returncode == 0, p.stderr
    assert p.stdout.count(" nop") < 5
    assert re.search(r"nop × 63$", p.stdout, re.M), p.stdout


# -- things pyperf/perf users expect ----------------------------------------------------------


def test_run_variant_runs_a_catalog_id(tmp_path):
    db = str(tmp_path / "x")
    p = run80("run", "--variant", "seed-mfence-after-store", *FAST, "--json", "--db", db)
    assert p.returncode == 0, p.stderr
    exp = json.loads(p.stdout)["experiment"]
    assert exp["barrier"] == "mfence" and exp["placement"] == "after-store"
    p = run80("show", "--variant", "copy-avx")
    assert p.returncode == 0 and "jit copy-avx" in p.stdout


def test_unknown_variant_is_one_line_with_a_suggestion():
    p = run80("run", "--variant", "seed-mfence-aftr-store")
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        p.stderr.strip()
    ] and "did you mean seed-mfence-after-store" in (p.stderr)


def test_exports_carry_raw_repeats_rounds_and_modes(store):
    p = run80("results", "--json", "--db", store)
    rows = json.loads(p.stdout)["results"]
    assert rows[0]["raw_ticks"] == [100_000, 95_000, 101_000]
    assert "rounds" in rows[0] and "modes" in rows[0]
    p = run80("results", "--csv", "--db", store)
    assert '"[100000, 95000, 101000]"' in p.stdout


def test_results_delete_removes_one_sweep_only(store):
    p = run80("results", "--delete", LONG, "--db", store)
    assert p.returncode == 0, p.stderr
    assert "4 result(s)" in p.stdout
    with open_store(store, create=False) as s:
        assert {r.sweep_id for r in s.results()} == {"b"}
        assert s.sweep(LONG) is None
    p = run80("results", "--delete", LONG, "--db", store)
    assert p.returncode == 2 and f"no sweep '{LONG}'" in p.stderr


def test_delete_refuses_a_running_sweep(store):
    with open_store(store, create=False) as s:
        s.lock_sweep(LONG, Holder.current("elsewhere"))
    with open_store(store, create=False) as s, pytest.raises(SweepLocked):
        s.delete_sweep(LONG)


def test_prune_removes_only_superseded_errors(tmp_path):
    with open_store(tmp_path / "p.sqlite", create=True) as s:
        s.add(make_result(0, error="SIGTERM"), "sweep", sweep_id="x")  # superseded below
        s.add(make_result(0), "sweep", sweep_id="x")
        s.add(make_result(64, error="SIGILL"), "sweep", sweep_id="x")  # still the latest
        s.add(make_result(0, error="SIGTERM"), "sweep", sweep_id="y")  # another sweep
        assert s.sweeps() == []  # rows name their sweep; no sweep was saved
        assert s.prune("x") == 1
        assert [(r.sweep_id, r.knob("step"), r.error) for r in s.results()] == [
            ("x", 0, None),
            ("x", 64, "SIGILL"),
            ("y", 0, "SIGTERM"),
        ]
        assert s.prune() == 0


def test_quiet_prints_no_note(tmp_path):
    db = str(tmp_path / "q.sqlite")
    p = run80("--quiet", "seed", "--repeats", "3", "--iterations", "2000", "--db", db)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""


def test_plot_logy_and_formats(store, tmp_path):
    bad = tmp_path / "x.txt"
    p = run80("plot", "--sweep", LONG, "--x", "step", "--out", str(bad), "--db", store)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "not an image format" in p.stderr and not bad.exists()
    svg = tmp_path / "x.svg"
    p = run80("plot", "--sweep", LONG, "--x", "step", "--logy", "--out", str(svg), "--db", store)
    assert p.returncode == 0, p.stderr
    assert svg.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("text", ["４K", "٤K", "１"])
def test_sizes_and_numbers_are_ascii(text):
    with pytest.raises(SpecError):
        parse_size(text)
    p = run80("show", "--buffer", text)
    assert p.returncode == 2 and "not a size" in p.stderr
    p = run80("show", "--repeats", text)
    assert p.returncode == 2 and "must be a number" in p.stderr


def test_a_retried_error_no_longer_fails_the_sweep(tmp_path):
    db = str(tmp_path / "e.sqlite")
    args = ("sweep", "--name", "r", "--step", "0,64", *FAST, "--db", db)
    assert run80(*args).returncode == 0
    with sqlite3.connect(db) as c:  # as an interrupted worker once stored it
        c.execute(
            "UPDATE results SET error = 'SIGTERM: the worker was killed', ticks_median = NULL"
            " WHERE id = 1"
        )
    p = run80(*args)
    assert p.returncode == 1  # the error is the latest result of that experiment
    p = run80(*args, "--retry-errors")
    assert p.returncode == 0, p.stderr
    p = run80(*args)
    assert p.returncode == 0, p.stderr  # the old error row no longer decides
    p = run80("results", "--sweeps", "--json", "--db", db)
    assert json.loads(p.stdout)["sweeps"][0]["errors"] == 0
