"""compare, merge and plot on two small real stores (short runs; no timing assertions)."""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import run_cli

from smclab.run import machine
from smclab.store import open_store

FAST = ("--iterations", "2000", "--repeats", "2")
GRID = ("--step", "0,64", "--buffer", "4K,1M", "--name", "s1")


def ok(*args: str) -> str:
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def bad(*args: str) -> str:
    """Bad input: exit 2, one line on stderr, no traceback."""
    r = run_cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smclab: error:"), r.stderr
    return lines[0]


def fake_second_host(db) -> None:
    """Both stores were measured on this machine: give the second one's only host another
    model name (and the fingerprint that goes with it) so it stands for a second host."""
    con = sqlite3.connect(db)
    facts = json.loads(con.execute("SELECT facts FROM hosts").fetchone()[0])
    facts["model_name"] = "Fake CPU"
    con.execute(
        "UPDATE hosts SET facts=?, fingerprint=?", (json.dumps(facts), machine.fingerprint(facts))
    )
    con.commit()
    con.close()


def count(db, table: str) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """a: one run (4K/0) and the sweep s1 (which holds 4K/0 again: the latest row counts);
    b: the same sweep and a run of 4K/128 that only b holds, on a faked second host."""
    base = tmp_path_factory.mktemp("compare")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(base / "data"))
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        mp.delenv("SMCLAB_DB", raising=False)
        a, b = base / "a.sqlite", base / "b.sqlite"
        ok("run", *FAST, "--db", str(a), "--json")
        ok("sweep", *GRID, *FAST, "--db", str(a), "--json")
        ok("sweep", *GRID, *FAST, "--db", str(b), "--json")
        ok("run", "--step", "128", *FAST, "--db", str(b), "--json")
    fake_second_host(b)
    return a, b


def latest_ns(db) -> dict[str, float]:
    with open_store(db, create=False) as s:
        out = {}
        for r in s.results():  # oldest first: the last one wins
            out[r.exp_key] = r.ns.median
        return out


def test_compare_files(stores):
    a, b = stores
    data = json.loads(ok("compare", str(a), str(b), "--json"))
    assert data["hosts"][0]["model_name"] != "Fake CPU" == data["hosts"][1]["model_name"]
    assert [h["source"] for h in data["hosts"]] == [str(a), str(b)]
    assert set(data["hosts"][0]) == {
        "id",
        "source",
        "model_name",
        "family",
        "model",
        "microcode",
        "hypervisor",
    }
    ns_a, ns_b = latest_ns(a), latest_ns(b)
    rows = {r["exp_key"]: r for r in data["rows"]}
    assert set(rows) == set(ns_a) | set(ns_b) and len(rows) == 5
    for key, r in rows.items():
        assert set(r) >= {"exp_key", "label", "experiment", "values", "ratio_to_first"}
        va, vb = r["values"]
        if key in ns_a:
            assert va["ns_per_iter"] == ns_a[key]  # the latest row of host a
            assert set(va) == {"ns_per_iter", "ticks_per_iter", "spread"}
            assert r["ratio_to_first"][0] == 1.0
            assert r["ratio_to_first"][1] == pytest.approx(vb["ns_per_iter"] / va["ns_per_iter"])
        else:  # only b ran 4K/128
            assert r["label"] == "4K/128"
            assert va is None and r["ratio_to_first"] == [None, None]
            assert vb["ns_per_iter"] == ns_b[key]
    common = json.loads(ok("compare", str(a), str(b), "--json", "--common"))
    assert [r["exp_key"] for r in common["rows"]] == [k for k in rows if k in ns_a]
    assert all(None not in r["values"] for r in common["rows"])
    swept = json.loads(ok("compare", str(a), str(b), "--json", "--sweep", "s1"))
    assert len(swept["rows"]) == 4
    text = ok("compare", str(a), str(b))
    assert "Fake CPU" in text and "4K/128" in text and "x h1" in text


DATA = Path(__file__).parent / "data"


def test_compare_markdown_on_the_recorded_intel_and_zen4_stores(tmp_path):
    """The recorded stores (copied: opening migrates): a Markdown row per common experiment
    with a ratio, its interval and a verdict; the seed's 4K/0 loop, ~350x dearer on the Intel
    guest than on Zen 4, is decided from 7 and 5 repeats; the geometric mean is below 1."""
    intel, zen4 = tmp_path / "intel.sqlite", tmp_path / "zen4.sqlite"
    shutil.copy(DATA / "intel-xeon-6-cf-kvm-2026-11-25.sqlite", intel)
    shutil.copy(DATA / "amd-zen4-19-11-kvm-2026-12-03.sqlite", zen4)
    data = json.loads(ok("compare", str(intel), str(zen4), "--common", "--json"))
    first = data["rows"][0]
    assert first["label"] == "4K/0" and first["test_to_first"][0] is None
    t = first["test_to_first"][1]
    assert t["test"] == "mann-whitney" and t["repeats"] == [7, 5]
    assert t["verdict"] == "lower" and t["p"] == pytest.approx(2 / 792)  # no overlap, 7 and 5
    assert t["low"] <= t["ratio"] <= t["high"] < 0.01
    geo = data["geomean"]
    assert geo[0] == {"ratio": 1.0, "rows": len(data["rows"])}
    assert 0 < geo[1]["ratio"] < 1
    md = ok("compare", str(intel), str(zen4), "--common", "--markdown").splitlines()
    assert md[0] == "| experiment | h1 ns/it | h2 ns/it | h2 / h1 [95%] | h2 verdict |"
    assert md[1] == "|:--|--:|--:|--:|:--|"
    assert md[2].startswith("| 4K/0 |") and md[2].endswith("| faster (p=0.0025) |")
    assert len([line for line in md if line.startswith("| ")]) == len(data["rows"]) + 1
    assert any(line.startswith("Geometric mean of h / h1 over the") for line in md)


def test_results_markdown_has_an_id_and_label_per_row(stores):
    a, _ = stores
    md = ok("results", "--db", str(a), "--markdown").splitlines()
    assert md[0].startswith("| id | label |")
    rows = json.loads(ok("results", "--db", str(a), "--json"))["results"]
    assert len(md) == 2 + len(rows)
    assert [line.split(" | ")[1] for line in md[2:]] == [r["label"] for r in rows]
    assert "--markdown takes no" in bad("results", "--db", str(a), "--markdown", "--csv")


def test_merge(stores, tmp_path):
    a, b = stores
    c = tmp_path / "c.sqlite"
    first = json.loads(ok("merge", "--into", str(c), str(a), str(b), "--json"))
    added = [s["added"] for s in first["sources"]]
    assert added == [count(a, "results"), count(b, "results")]
    assert first["results"] == sum(added) == count(c, "results")
    assert first["hosts"] == 2 and count(c, "hosts") == 2
    assert count(c, "sweeps") == 1  # s1 in both: the first one is kept
    again = json.loads(ok("merge", "--into", str(c), str(a), str(b), "--json"))
    assert [s["added"] for s in again["sources"]] == [0, 0]
    assert [s["skipped"] for s in again["sources"]] == added
    assert again["results"] == first["results"] and count(c, "hosts") == 2
    assert "added" in ok("merge", "--into", str(c), str(a))  # the text form
    # the merged store compares like the two files
    hosts = json.loads(ok("compare", "--db", str(c), "--hosts", "--json"))["hosts"]
    assert [h["model_name"] for h in hosts][1] == "Fake CPU"
    ids = [str(h["id"]) for h in hosts]
    merged = json.loads(ok("compare", "--db", str(c), *ids, "--json"))
    files = json.loads(ok("compare", str(a), str(b), "--json"))
    assert [r["values"] for r in merged["rows"]] == [r["values"] for r in files["rows"]]
    assert json.loads(ok("compare", "--db", str(c), "--json"))["rows"] == merged["rows"]


def test_merge_is_transactional_per_source(stores, tmp_path):
    a, b = stores
    broken = tmp_path / "broken.sqlite"
    shutil.copy(b, broken)
    con = sqlite3.connect(broken)
    # its last result cannot be read: the rows before it must not stay either
    con.execute(
        "UPDATE results SET raw_ticks = 'not json' WHERE id = (SELECT MAX(id) FROM results)"
    )
    con.commit()
    con.close()
    c = tmp_path / "c.sqlite"
    line = bad("merge", "--into", str(c), str(a), str(broken))
    assert "broken.sqlite" in line
    assert count(c, "results") == count(a, "results")  # a is in, nothing of broken
    assert count(c, "hosts") == 1
    assert "itself" in bad("merge", "--into", str(c), str(c))
    before = count(c, "results")
    assert "no store file" in bad("merge", "--into", str(c), str(a), str(tmp_path / "nope"))
    assert count(c, "results") == before  # sources are checked before anything is written


def test_compare_bad_input(stores, tmp_path):
    a, b = stores
    assert "two hosts" in bad("compare", str(a))
    assert "no store file" in bad("compare", str(a), str(tmp_path / "missing.sqlite"))
    assert "no host 9" in bad("compare", "--db", str(a), "1", "9")
    assert "not a host id" in bad("compare", "--db", str(a), "one")
    assert "no results for sweep 'nope'" in bad("compare", str(a), str(b), "--sweep", "nope")
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database\n")
    bad("compare", str(a), str(junk))
    assert not (tmp_path / "missing.sqlite").exists()


def test_plot(stores, tmp_path):
    a, b = stores
    out = tmp_path / "s1.png"
    args = ("plot", "--db", str(a), "--sweep", "s1")
    assert ok(*args, "--x", "step", "--lines", "buffer", "--out", str(out)).strip() == str(out)
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    log = tmp_path / "log.png"
    ok(*args, "--x", "buffer", "--y", "ticks", "--logx", "--out", str(log))
    assert log.read_bytes().startswith(b"\x89PNG")
    assert "unknown knob 'colour'" in bad(*args, "--x", "colour")
    assert "does not vary" in bad(*args, "--x", "barrier")
    assert "no sweep 'nope'" in bad("plot", "--db", str(a), "--sweep", "nope", "--x", "step")
    assert "--lines" in bad(*args, "--x", "step", "--lines", "step")
    bad(*args, "--x", "step", "--y", "cycles")
    assert not (tmp_path / "nope.png").exists()


def test_plot_json_names_the_file_and_the_points(stores, tmp_path):
    a, _ = stores
    out = tmp_path / "j.svg"
    data = json.loads(
        ok(
            "plot",
            "--db",
            str(a),
            "--sweep",
            "s1",
            "--x",
            "step",
            "--lines",
            "buffer",
            "--out",
            str(out),
            "--json",
        )
    )
    assert data["out"] == str(out) and out.read_text().lstrip().startswith("<?xml")
    assert (data["x"], data["y"]) == ("step", "ns")
    assert sorted(line["label"] for line in data["lines"]) == ["buffer=1M", "buffer=4K"]
    ns = latest_ns(a)
    with open_store(a, create=False) as s:
        want = {(r.knob("buffer"), r.knob("step")): ns[r.exp_key] for r in s.results(sweep_id="s1")}
    got = {
        ({"buffer=4K": 4096, "buffer=1M": 1 << 20}[line["label"]], p["x"]): p["y"]
        for line in data["lines"]
        for p in line["points"]
    }
    assert got == want


def test_plot_default_name(stores, tmp_path, monkeypatch):
    a, _ = stores
    monkeypatch.chdir(tmp_path)
    assert ok("plot", "--db", str(a), "--sweep", "s1", "--x", "step").strip() == "s1.png"
    assert (tmp_path / "s1.png").read_bytes().startswith(b"\x89PNG")
