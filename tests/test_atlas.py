"""The atlas: typed facts read from the findings diagnose prints, hosts side by side from
SQLite and PostgreSQL stores and the built-in reference, and a host placed among them."""

import json
import shutil
from pathlib import Path

import pytest

from smclab.suites import atlas as at
from smclab.suites.diagnose import PROBES, Fact, facts_of, find, run_diagnose
from smclab.suites.diagnose.base import ProbeResult
from smclab.suites.session import Session

DATA = Path(__file__).parent / "data"
ZEN4 = DATA / "amd-zen4-19-11-kvm-2026-12-03.sqlite"
INTEL = DATA / "intel-xeon-6-cf-kvm-2026-11-25.sqlite"
#: the same Intel guest, 2026-12-03: diagnose (every probe of today), seed and advise
INTEL_NEW = DATA / "intel-xeon-6-cf-kvm-2026-12-03.sqlite"
ZEN3 = (DATA / "amd-19-01-probes.sqlite", DATA / "amd-25-1-probes-b.sqlite")


def copied(tmp_path: Path, *dbs: Path) -> list[Path]:
    """The recorded stores, copied (opening one migrates it in place)."""
    out = []
    for db in dbs:
        shutil.copy(db, tmp_path / db.name)
        out.append(tmp_path / db.name)
    return out


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> list[at.Column]:
    tmp = tmp_path_factory.mktemp("recorded")
    return at.from_stores(copied(tmp, ZEN4, INTEL, *ZEN3))


def col(columns: list[at.Column], vendor: str, model: int) -> at.Column:
    return next(c for c in columns if c.host["vendor"] == vendor and c.host["model"] == model)


def test_each_recorded_host_is_one_column_and_zen3_stores_merge(recorded):
    labels = sorted(c.label for c in recorded)
    assert labels == ["AMD 0x19/0x1", "AMD 0x19/0x11", "Intel 0x6/0xcf"]
    zen3 = col(recorded, "AuthenticAMD", 1)
    assert len(zen3.sources) == 2 and zen3.date == "2026-11-25"
    assert "ticks_per_penalty" in zen3.cells and "write_ahead_bytes" in zen3.cells


def test_facts_are_the_numbers_the_printed_findings_state(tmp_path):
    """From the same store, every numeric fact of a probe is printed in that probe's findings
    (as diagnose formats it), and equals the number the finding carries."""
    (db,) = copied(tmp_path, ZEN4)
    (c,) = at.from_stores([db])
    from smclab.store import open_store

    with open_store(db, create=False) as st:
        results = list(st.results())
    checked = 0
    for probe, spec in PROBES.items():
        rs = [r for r in results if (r.sweep_id or "").endswith(f"-{probe}")]
        if not rs:
            continue
        pts, _ = at.stored_points(spec, rs, rs[0].host, rs[0].sweep_id)
        pr = ProbeResult(spec.plan(False, 2), pts, rs[0].sweep_id)
        found = find([pr], rs[0].host)
        texts = " ".join(f.text for f in found)
        for f in facts_of([pr], found, rs[0].host):
            assert c.cells[f.name].fact == f
            if f.unit in ("ticks", "bytes") and isinstance(f.value, float | int):
                assert f"{f.value:.0f}" in texts, (f.name, f.value)
                checked += 1
    # penalty, stores, code-age, cpuid (cross-modifying states no cost per writer store on
    # Zen 4: its rates show no trend)
    assert checked >= 4


def test_recorded_hosts_differ_where_a_jit_would_care(recorded):
    a = at.Atlas(recorded)
    zen4, intel = col(recorded, "AuthenticAMD", 0x11), col(recorded, "GenuineIntel", 0xCF)
    # Intel's penalty is hundreds of Zen 4's: marked; both lack nothing silently
    assert intel.value("seed_penalty_ticks") > 100 * zen4.value("seed_penalty_ticks")
    assert a.marked(at.CATALOGUE["seed_penalty_ticks"])
    assert intel.value("lines_rep_movsb") == [-1, 0] and zen4.value("lines_rep_movsb") == [0]
    assert a.marked(at.CATALOGUE["lines_rep_movsb"])
    # the Intel store's old probe set has no stores probe: said missing, not invented
    assert "ticks_per_penalty" not in intel.cells
    assert "ticks_per_penalty" in intel.to_dict()["missing"]
    # the best seed workaround comes from the stored advise run
    best = zen4.value("best seed")
    assert best["x_naive"] > 1 and best["id"] in {
        p["label"] for p in zen4.points.values() if p["probe"] == "advise"
    }


def test_jit_differs_both_ways():
    assert at.jit_differs([94.0, 500.0]) and not at.jit_differs([94.0, 120.0])
    assert at.jit_differs([0, 256]) and not at.jit_differs([256, None])
    assert at.jit_differs(["per store", "flat"]) and not at.jit_differs(["flat", "flat"])
    assert not at.jit_differs([[0], [0]]) and at.jit_differs([[0], [-1, 0]])


def test_a_host_is_placed_nearest_its_own_kind(recorded):
    zen4 = col(recorded, "AuthenticAMD", 0x11)
    others = [c for c in recorded if c is not zen4]
    p = at.place([c.fact for c in zen4.cells.values()], others)
    assert p is not None and p.closest.label == "AMD 0x19/0x1"
    intel_like = [
        Fact("seed_penalty_ticks", 20000.0, "ticks", "high", "penalty"),
        Fact("lines_rep_movsb", [-1, 0], "lines", "high", "granularity"),
    ]
    p = at.place(intel_like, recorded)
    assert p is not None and p.closest.label.startswith("Intel") and p.differs == ()
    p = at.place(intel_like, [zen4])
    assert p is not None and p.differs == tuple(
        at.CATALOGUE[n] for n in ("seed_penalty_ticks", "lines_rep_movsb")
    )
    assert at.place(intel_like, []) is None


def test_export_round_trips_and_the_reference_loads(recorded, tmp_path):
    files = at.export(recorded, tmp_path)
    assert len(files) == 3
    back = [at.Column.from_dict(json.loads(f.read_text())) for f in files]
    for a, b in zip(recorded, back, strict=True):
        assert {n: c.fact.value for n, c in a.cells.items()} == {
            n: c.fact.value for n, c in b.cells.items()
        }
        assert all(k in b.points for c in b.cells.values() for k in c.points)
    bad = json.loads(files[0].read_text()) | {"atlas_format": 999}
    with pytest.raises(at.SpecError, match="format 999"):
        at.Column.from_dict(bad)


@pytest.mark.worker
def test_a_live_diagnose_and_its_store_give_the_same_facts(tmp_path):
    """What diagnose printed (its live findings' facts) equals what the atlas reads back."""
    db = tmp_path / "live.sqlite"
    with Session(db) as s:
        d = run_diagnose(s, quick=True, only=("penalty",))
    live = facts_of(d.probes, d.findings, d.host)
    assert {f.name for f in live} >= {"seed_penalty_ticks", "seed_penalty_ns"}
    (c,) = at.from_stores([db])
    for f in live:
        assert c.cells[f.name].fact == f
        assert len(c.cells[f.name].points) == 2


# --- the command -----------------------------------------------------------------------------


def atlas_cli(*args: str):
    from conftest import run_cli

    return run_cli("atlas", "--no-reference", *args)


def test_cli_json_has_one_object_per_host_with_every_fact(tmp_path):
    zen4, intel = copied(tmp_path, ZEN4, INTEL)
    r = atlas_cli("--db", str(zen4), "--db", str(intel), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [h["label"] for h in data["hosts"]] == ["AMD 0x19/0x11", "Intel 0x6/0xcf"]
    for h in data["hosts"]:
        assert set(h["facts"]) | set(h["missing"]) >= set(at.CATALOGUE)
        assert {"model_name", "family", "model", "microcode", "hypervisor"} <= set(h["host"])
        assert h["date"].startswith("2026-") and h["smclab"]
    assert "seed_penalty_ticks" in data["differs_for_jit"]


def test_cli_terminal_fits_80_columns_and_csv_html_carry_the_cells(tmp_path):
    import os

    zen4, intel, *zen3 = copied(tmp_path, ZEN4, INTEL, *ZEN3)
    html_file, csv_file = tmp_path / "a.html", tmp_path / "a.csv"
    dbs = [x for db in (zen4, intel, *zen3) for x in ("--db", str(db))]
    os.environ["COLUMNS"] = "80"
    try:
        r = atlas_cli(*dbs, "--html", str(html_file), "--csv", str(csv_file))
    finally:
        del os.environ["COLUMNS"]
    assert r.returncode == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    assert "AMD 0x19/0x1 " in r.stdout and "no data" in r.stdout and "* seed-far" in r.stdout
    lines = csv_file.read_text().splitlines()
    rows = {line.split(",")[3] for line in lines[1:]}
    assert rows == set(at.CATALOGUE) and len(lines) == 1 + 3 * len(at.CATALOGUE)
    page = html_file.read_text()
    assert (
        page.count("<svg") >= 10
        and "<script" not in page
        and "http" not in page.split("<svg", 1)[0].replace("http://www.w3.org", "")
    )
    import re

    links = set(re.findall(r'href="#([^"]+)"', page))
    anchors = set(re.findall(r'id="([^"]+)"', page))
    assert links and links <= anchors


def test_cli_bad_input_is_one_line_exit_2(tmp_path):
    from smclab.store import open_store

    open_store(tmp_path / "empty.sqlite", create=True).close()
    for args in (
        ("--db", str(tmp_path / "missing.sqlite")),
        ("--db", str(tmp_path / "empty.sqlite"), "--export", str(tmp_path / "no-such-dir")),
        ("--db", str(tmp_path / "empty.sqlite"), "--export", str(tmp_path)),
    ):
        r = atlas_cli(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, args
        assert r.stderr.startswith("smclab: error:") and "Traceback" not in r.stderr
    assert "nothing to export" in r.stderr and not list(tmp_path.glob("*.json"))


def test_sqlite_and_postgresql_stores_together(tmp_path, pg_url):
    """A lab's shared PostgreSQL store and a SQLite file in one atlas."""
    zen4, intel = copied(tmp_path, ZEN4, INTEL)
    from conftest import run_cli

    r = run_cli("merge", "--into", pg_url, str(zen4))
    assert r.returncode == 0, r.stderr
    both = at.from_stores([pg_url, intel])
    alone = at.from_stores([zen4])
    pg_zen4 = col(both, "AuthenticAMD", 0x11)
    assert pg_zen4.sources == [at.redact(pg_url)] and len(both) == 2
    assert {n: c.fact for n, c in pg_zen4.cells.items()} == {
        n: c.fact for n, c in alone[0].cells.items()
    }
    r = atlas_cli("--db", pg_url, "--db", str(intel), "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["hosts"]) == 2


# --- the built-in reference ------------------------------------------------------------------


def test_the_shipped_reference_is_what_the_recorded_stores_give_today(tmp_path):
    """The fact files shipped with smclab are an export of tests/data's recorded stores by
    today's findings: a change to a finding that changes a recorded host's facts regenerates
    them in the same commit (copies of the stores: opening one migrates it in place)::

        t=$(mktemp -d); cp tests/data/amd-zen4-*.sqlite tests/data/intel-*-25.sqlite \\
            tests/data/intel-*-12-03.sqlite tests/data/amd-19-01-probes.sqlite \\
            tests/data/amd-25-1-probes-b.sqlite $t
        smclab atlas --export src/smclab/suites/reference $(printf -- '--db %s ' $t/*.sqlite)
    """
    (tmp_path / "ref").mkdir()
    stores = copied(tmp_path, ZEN4, INTEL, INTEL_NEW, *ZEN3)
    written = at.export(at.from_stores(stores), tmp_path / "ref")
    shipped = {c.label.removesuffix(" (ref)"): c.to_dict() for c in at.reference()}
    assert len(shipped) == len(written) == 3  # the two Intel stores: one host, one column
    intel = shipped["Intel 0x6/0xcf"]["facts"]
    # the 2026-12-03 run measured every probe of today on that guest (its own numbers)
    assert intel["write_ahead_bytes"]["value"] == 65536
    assert intel["stale_per_run"]["value"] == 0.0 and intel["stale_per_run"]["confidence"] == "high"
    assert intel["page_split_store_ticks"]["value"] == pytest.approx(22.8, abs=0.1)
    assert intel["clflushopt_ticks"]["value"] == pytest.approx(647, abs=1)
    for f in written:
        d = json.loads(f.read_text())
        ref = shipped[d["label"]]
        assert ref["facts"] == d["facts"], f"regenerate {f.name} (see this test's docstring)"
        assert ref["host"] == d["host"] and ref["date"] == d["date"]


def test_a_fresh_install_shows_the_recorded_hosts(tmp_path, monkeypatch):
    from conftest import run_cli

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("SMCLAB_DB", raising=False)
    r = run_cli("atlas", "--json")
    assert r.returncode == 0, r.stderr
    hosts = json.loads(r.stdout)["hosts"]
    assert sorted(h["label"] for h in hosts) == [
        "AMD 0x19/0x1 (ref)",
        "AMD 0x19/0x11 (ref)",
        "Intel 0x6/0xcf (ref)",
    ]
    assert all(h["reference"] for h in hosts)
    assert not (tmp_path / "smclab").exists()  # reading created no store


class ShapedSession:
    """A Session whose worker is a cost model shaped like an SMC penalty (storing into the
    code it then calls costs 100 ticks more than anything else; cpuid 5000), measured in 7
    interleaved rounds with a little noise; every result is stored like a real one."""

    HOST = {
        "vendor": "GenuineIntel",
        "family": 6,
        "model": 0xCF,
        "stepping": 2,
        "model_name": "Shaped CPU",
        "hypervisor": "KVM",
        "tsc_hz": 2.0e9,
    }

    def __init__(self, db):
        from smclab.run import machine
        from smclab.store import open_store

        self.store = open_store(db, create=True)
        # the caches the code-age probe plans its rings with, as a real session stores them
        self.host = {**self.HOST, "caches": machine.caches()}
        self.n = 0
        self.flags = machine.cpu_flags()
        self.runner = self  # the stale-code probe's requests: a model has no second thread

    def request(self, req, timeout):
        return {"cpu": False, "unavailable": "a cost model runs no threads"}

    def check(self, exp):
        pass

    def ticks(self, e) -> float:
        t = 10.0 + (100.0 if e.store == "exec" and e.call != "source" else 0.0)
        return t + (5000.0 if "cpuid" in e.barrier else 0.0)

    def run_interleaved(self, exps, suite, names=None, sweep_id=None, progress=None, stop=None):
        from smclab.model.result import Result, Stats

        out = []
        for e, name in zip(exps, names or [None] * len(exps), strict=True):
            self.n += 1
            t = self.ticks(e)
            values = [t * (1 + 0.001 * ((self.n + i) % 3)) for i in range(7)]
            series = sweep_id or suite
            ticks = Stats.of(values, tuple(values), series)
            ns = Stats.of([v / 2 for v in values], tuple(v / 2 for v in values), series)
            r = Result(e, self.host, 1000, ticks, ns, rounds=[[v] for v in values])
            self.store.add(r, suite, name, sweep_id)
            out.append(r)
        return out


def test_record_then_atlas_shows_this_host_beside_the_reference(tmp_path, monkeypatch):
    """`diagnose --record` (in process, its worker a cost model: the real one is the live
    test above) stores diagnose, seed and advise; the atlas shows this host first, its facts
    equal to those diagnose printed, beside the recorded hosts."""
    import contextlib

    from click.testing import CliRunner

    from smclab.cli import analyse, cli

    @contextlib.contextmanager
    def shaped(db, cpu, timeout):
        s = ShapedSession(db)
        yield s
        s.store.close()

    monkeypatch.setattr(analyse, "session", shaped)
    rec = str(tmp_path / "mine.sqlite")
    # every probe of measured points (stale-code measures itself with a real worker)
    probes = [x for n, spec in PROBES.items() if spec.rows is None for x in ("--probe", n)]
    r = CliRunner().invoke(cli, ["diagnose", "--quick", *probes, "--record", rec, "--json"])
    assert r.exit_code == 0, r.output
    printed = json.loads(r.stdout)
    assert printed["recorded"] == rec and printed["placement"]["closest"].endswith("(ref)")
    assert printed["facts"]["seed_penalty_ticks"]["value"] == pytest.approx(100, rel=0.01)
    a = at.atlas([rec])
    mine, refs = a.columns[0], a.columns[1:]
    assert mine.host["model_name"] == "Shaped CPU" and len(refs) == 3
    assert {n: f["value"] for n, f in printed["facts"].items()} == {
        n: mine.value(n) for n in printed["facts"]
    }
    assert {"seed 4K/0", "seed 1M/4096", "best seed", "cpuid_ticks"} <= set(mine.cells)
    assert {"write_ahead_bytes", "lines_mov8", "charged_per_rep"} <= set(printed["facts"])
    assert mine.value("cpuid_ticks") == pytest.approx(5000, rel=0.01)
    # every candidate stores into the code it calls, like the naive loop: none beats it
    assert mine.value("best seed") == "none beats the naive loop"


def test_record_refuses_an_existing_store_and_a_second_db(tmp_path):
    from conftest import run_cli

    db = tmp_path / "old.sqlite"
    db.write_bytes(b"")
    r = run_cli("diagnose", "--quick", "--record", str(db))
    assert r.returncode == 2 and "fresh store" in r.stderr
    r = run_cli("diagnose", "--record", str(tmp_path / "new.sqlite"), "--db", str(db))
    assert r.returncode == 2 and "no --db" in r.stderr and not (tmp_path / "new.sqlite").exists()


def test_a_store_without_diagnose_seed_or_advise_runs_gives_no_column(tmp_path):
    from smclab.model.experiment import Experiment
    from smclab.model.result import Result, Stats
    from smclab.store import open_store

    db = tmp_path / "runs.sqlite"
    with open_store(db, create=True) as st:
        r = Result(Experiment(), {"vendor": "GenuineIntel", "family": 6, "model": 1})
        r.ticks_per_iter = Stats(10.0, 9.0, 0.01)
        st.add(r, "run", "one")
    assert at.from_stores([db]) == []
    assert at.atlas([db], builtin=False).columns == []


@pytest.mark.worker
def test_after_a_diagnose_the_default_store_joins_the_reference(tmp_path, monkeypatch):
    """`smclab diagnose` (into the default store) then `smclab atlas`: this host first, then
    the recorded ones; diagnose's last line places it among them."""
    from conftest import run_cli

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("SMCLAB_DB", raising=False)
    r = run_cli("diagnose", "--quick", "--probe", "penalty", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "closest: " in r.stdout and "(ref)" in r.stdout
    r = run_cli("atlas", "--json")
    assert r.returncode == 0, r.stderr
    hosts = json.loads(r.stdout)["hosts"]
    assert len(hosts) == 4 and not hosts[0]["reference"]
    assert hosts[0]["sources"] == ["results.sqlite"]
    assert "seed_penalty_ticks" in hosts[0]["facts"]


def test_cells_read_as_text():
    from smclab.report.atlas import MISSING, value_text

    host = {"caches": [{"level": 1, "type": "Instruction", "size": 32768}]}
    row = at.CATALOGUE
    assert value_text(row["write_ahead_bytes"], 256, host) == "256 B (< L1I)"
    assert value_text(row["old_code_free_from_ring"], 65536, host).startswith("64K (2x L1I")
    assert value_text(row["write_ahead_bytes"], 0, host) == "0 B"
    assert value_text(row["lines_rep_movsb"], [-1, 0], host) == "-1, 0"
    assert value_text(row["partly_lines_mov8"], [], host) == "none"
    assert value_text(row["barriers_helping"], [], host) == "none"
    assert value_text(row["ticks_per_penalty"], 26194.3, host) == "26k"
    assert value_text(row["writer_vs_same_thread"], 0.0016, host) == "0.0016"
    assert value_text(row["ticks_per_penalty"], None, host) == MISSING
    best = {"id": "ring-16K", "x_naive": 4.74, "x_floor": 1.77}
    assert value_text(row["best seed"], best, host) == "4.7x ring-16K, 1.77x floor"


def test_stale_code_runs_are_read_from_their_stored_sweep(tmp_path):
    """The stale-code probe stores its counts in its sweep (no result rows): the atlas reads
    them back and states what its findings printed."""
    from test_stale_code import ScriptedSession, StopAfter, reply

    from smclab.suites.diagnose import stale_code as sc

    db = tmp_path / "s.sqlite"
    s = ScriptedSession(db, reply)
    rows, _ = sc.measure(s, True, 0.1, "diagnose-20261203T000000-stale-code", StopAfter(None))
    s.store.close()
    printed = sc.row_findings(rows, s.host)
    pr = ProbeResult(sc.PROBE.plan(True, 2), [], "x", rows=rows)
    facts = facts_of([pr], printed, s.host)
    assert {f.name for f in facts} == {"stale_per_run", "stale_upper95"}
    (c,) = at.from_stores([db])
    assert c.host["model_name"] == "Synthetic CPU"
    assert {f.name: f for f in facts} == {n: cell.fact for n, cell in c.cells.items()}
    assert c.value("stale_per_run") > 0  # the script's stale runs
