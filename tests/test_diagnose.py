"""diagnose/advise: findings logic on synthetic data, HTML output, one real quick run."""

import html
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import run_cli

import smclab
from smclab import codegen
from smclab.model.experiment import Experiment
from smclab.model.result import FORMAT, Result, Stats
from smclab.model.stats import differs
from smclab.report.html import render
from smclab.store import open_store
from smclab.suites import diagnose as dg
from smclab.suites.diagnose import granularity, penalty

HOST = {
    "vendor": "AuthenticAMD",
    "family": 25,
    "model": 1,
    "model_name": "Synthetic CPU",
    "microcode": "0x1",
    "kernel": "6.0",
    "hypervisor": "KVM",
    "tsc_hz": 2.5e9,
    "smclab_version": "test",
}


def point(
    label: str,
    ticks: float,
    x: float | None = None,
    group: str = "g",
    spread: float = 0.01,
    **knobs,
) -> dg.Point:
    plan = dg.PlanPoint(label, x, group, knobs)
    stats = Stats(ticks, ticks * 0.98, spread)
    ns = Stats(ticks / 2.5, ticks / 2.5 * 0.98, spread)
    return dg.Point(plan, Experiment(**knobs), stats, ns)


def granularity_curve(step_at: int) -> list[dg.Point]:
    """Stores cost up to ``step_at`` bytes after the executed byte, nowhere before it."""
    pts = []
    for plan in granularity.points(False):
        e = plan.knobs
        d = e.get("ahead", 0)
        cost = 110.0 if e.get("store") != "far" and 0 <= d < step_at else 20.0 + (d % 3) * 0.1
        pts.append(point(plan.label, cost, plan.x, plan.group, **e))
    return pts


def test_granularity_cost_in_the_executed_line_is_said_in_lines():
    found = granularity.findings(granularity_curve(64), HOST)
    mov8 = next(f for f in found if f.numbers.get("kind") == "mov8")
    assert mov8.numbers["free_after_bytes"] == 64
    assert mov8.numbers["costing_lines"] == [0]
    assert mov8.text.startswith("1-byte mov stores cost in line 0")
    assert mov8.confidence == "high"


def test_granularity_cost_up_to_4k_covers_the_lines_of_a_page():
    found = granularity.findings(granularity_curve(4096), HOST)
    mov8 = next(f for f in found if f.numbers.get("kind") == "mov8")
    assert mov8.numbers["free_after_bytes"] is None  # +4K is the farthest and aliased
    assert mov8.numbers["costing_lines"] == [0, 1, 2, 3, 4, 8, 16]


def test_overlapping_spreads_give_no_finding():
    pts = [point("seed 4K/0", 100.0, spread=0.3), point("far-store", 90.0, spread=0.3)]
    assert penalty.findings(pts, HOST) == []
    assert differs(Stats(100, 99, 0.3), Stats(90, 89, 0.3)) is False
    flat = granularity_curve(0)
    assert all(
        "cost nothing measurable" in f.text or "aliasing" in f.text
        for f in granularity.findings(flat, HOST)
    )


def test_penalty_and_baseline_audit():
    pts = [
        point("seed 4K/0", 90.0),
        point("far-store", 20.0, store="far"),
        point("no-store", 8.0, store="none"),
        point("seed baseline", 70.0, barrier="mfence", call="source"),
    ]
    found = penalty.findings(pts, HOST)
    assert found[0].numbers["lost_ticks"] == 70.0
    assert "4.5x" in found[0].text
    assert "never the copy" in found[1].text


def test_html_contains_findings_and_images():
    probe = dg.Probe("granularity", "Granularity", ())
    d = dg.Diagnosis(
        HOST, "run1", True, [dg.ProbeResult(probe, granularity_curve(64), "s")], [], 1.0
    )
    d.findings = dg.find(d.probes, HOST)
    page = render(d)
    assert page.startswith("<!doctype html><html lang='en'>")
    assert "cost in line 0 (relative to the executed line" in page
    assert page.count("<svg") == 1 and "data:image" not in page
    assert "Synthetic CPU" in page and "Raw measurements" in page
    assert d.findings and all(page.count(html.escape(f.text)) == 1 for f in d.findings)
    assert "<a href='#probe-granularity'>Granularity</a>" in page
    assert "<table class='sortable'><thead>" in page


def test_real_quick_diagnose_json_has_every_probe(tmp_path):
    html = tmp_path / "r.html"
    p = run_cli(
        "diagnose",
        "--quick",
        "--budget",
        "1",
        "--json",
        "--db",
        str(tmp_path / "d.sqlite"),
        "--html",
        str(html),
        "--workload",
        "relocate",  # a short list; the seed's search: test_advise_json_top_entry
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["format"] == FORMAT
    names = [pr["name"] for pr in out["probes"]]
    assert names == list(dg.PROBES)
    for pr in out["probes"]:
        assert pr["skipped"] or pr["points"] or pr["rows"], pr["name"]
        assert pr["skipped"] is None or pr["skipped"].startswith("needs")
    assert any(f["probe"] == "penalty" for f in out["findings"])
    page = html.read_text()
    assert page.count("<svg") >= 5
    # a section of measured workarounds per workload asked for
    assert "Workarounds, measured: the relocate workload" in page
    assert "Workarounds, measured: the seed workload" not in page  # only those asked for


def test_advise_json_top_entry(tmp_path):
    c_file = tmp_path / "best.c"
    p = run_cli(
        "advise",
        "--quick",
        "--budget",
        "6",
        "--json",
        "--emit-c",
        str(c_file),
        "--db",
        str(tmp_path / "a.sqlite"),
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["format"] == FORMAT
    top = out["top"]
    assert top["executes_fresh_copy"] is True
    assert top["speedup_over_naive"] > 1 and top["ratio_to_floor"] > 0
    assert top["verdict"] == "helps" and top["how_to"]
    assert top["ratio_to_data_control"] > 0 and top["ratio_to_never_modified"] > 0
    # the search trace: every measured point with its stage and knobs; the confirmation last
    trace = out["search"]["trace"]
    assert trace[0]["stage"] == "pilot" or trace[0]["stage"].startswith("halving")
    assert trace[-1]["stage"] == "confirm" and all("knobs" in t for t in trace)
    assert out["goal"]["to_data_control"] == 1.05
    # the winner as C: it names the winner and builds (the build and run: tests/test_c_file.py)
    assert top["id"] in c_file.read_text()
    # ranked by verdict (helps, no effect, hurts, failed), then by speed within a verdict
    order = ["helps", "no effect", "hurts", "failed"]
    keys = [
        (order.index(e["verdict"]), (e["ns_per_iter"] or {}).get("median", 0))
        for e in out["entries"]
    ]
    assert keys == sorted(keys)
    assert out["floor"]["experiment"]["store"] == "far"


def test_penalty_reports_clears_and_marks_a_proxy():
    seed = point("seed 4K/0", 90.0)
    seed.per_iter = {"smc-clears": 2.0}
    pts = [seed, point("far-store", 20.0, store="far")]
    (f,) = penalty.findings(pts, HOST)
    assert f.numbers["ticks_per_clear"] == 35.0
    assert "2.00 SMC clears per iteration, ≈35 ticks each" in f.text
    seed.notes = {"smc-clears": "smc-clears proxy for resyncs_or_nc_redirects"}
    (f,) = penalty.findings(pts, HOST)
    assert "proxy event" in f.text and "smc_clears_note" in f.numbers


class FakeSession:
    """A Session whose worker is a function: counts what it measures, stores every result."""

    def __init__(self, db):
        self.store = open_store(db, create=True)
        self.host = HOST
        self.measured = Counter()

    def check(self, exp):
        pass

    def run(self, exp, suite, name=None, sweep_id=None):
        self.measured[exp.code_key()] += 1
        t = 20.0 + len(self.measured)
        r = Result(exp, self.host, 1000, Stats(t, t * 0.98, 0.01), Stats(t / 2, t / 2, 0.01))
        self.store.add(r, suite, name, sweep_id)
        return r

    def run_interleaved(self, exps, suite, names=None, sweep_id=None, progress=None, stop=None):
        return [self.run(e, suite, n, sweep_id) for e, n in zip(exps, names, strict=True)]


def test_probe_points_sharing_an_experiment_are_measured_once(tmp_path):
    s = FakeSession(tmp_path / "f.sqlite")
    d = dg.run_diagnose(s, quick=False, only=("granularity",))
    (pr,) = d.probes
    keys = [p.experiment.code_key() for p in pr.points]
    assert len(keys) > len(set(keys))  # +4K is both a distance and an aliased point
    assert len(pr.points) == len(pr.probe.points)  # every point has its measurement
    assert set(s.measured) == set(keys) and set(s.measured.values()) == {1}
    stored = list(s.store.results(suite="diagnose", sweep_id=pr.sweep_id))
    assert len(stored) == len(set(keys))
    pts = {p.plan.label: p for p in pr.points}
    assert pts["mov8 +4096"].ticks == pts["+4K"].ticks


def test_interrupted_advise_raises_interrupted_and_stores_no_partial_set(tmp_path):
    import signal

    import pytest

    from smclab.run.interrupt import Interrupted
    from smclab.suites.advise import run_advise
    from smclab.suites.session import Session
    from smclab.suites.sweep import Observer

    class StopAfterOne(Observer):
        measured = 0

        def progress(self, done, total):
            self.measured = done

        def stop(self):
            return signal.SIGINT if self.measured else None

    with Session(tmp_path / "i.sqlite") as s, pytest.raises(Interrupted) as stopped:
        run_advise(s, "seed", quick=True, observer=StopAfterOne())
    assert stopped.value.stored and stopped.value.signum == signal.SIGINT
    with Session(tmp_path / "i.sqlite") as s:
        # measured in interleaved rounds, the candidates only mean something together: an
        # interruption keeps none of them, and the sweep says it was interrupted
        assert list(s.store.results(suite="advise")) == []
        assert [w.status for w in s.store.sweeps()] == ["interrupted"]


def test_every_probe_point_builds():
    """Every point of every probe (quick and full) is a valid Experiment whose code assembles."""
    built = 0
    for quick in (True, False):
        for probe in dg.probes(quick, cpus=2):
            if dg.PROBES[probe.name].rows is not None:
                continue  # measures counts, not experiments (tests/test_stale_code.py)
            assert probe.points, probe.name
            for pp, exp in dg.experiments_of(probe, dg.settings(quick)):
                program = codegen.build(exp)
                assert program.code and program.experiment == exp, (probe.name, pp.label)
                built += 1
    assert built == sum(len(p.points) for q in (True, False) for p in dg.probes(q, cpus=2))
    assert built


DEMO_PROBE = '''"""A probe added by a test: one file, nothing else."""

from __future__ import annotations

from .base import Finding, Host, PlanPoint, Point, ProbeSpec, labelled, pp
from .plot import Bars

ORDER = {order}


def points(quick: bool) -> list[PlanPoint]:
    return [
        pp("far-store", None, "control", store="far"),
        pp("no-store", None, "control", store="none"),
    ]


def findings(points: list[Point], host: Host) -> list[Finding]:
    n = len(labelled(points))
    return [Finding("demo", f"The demo probe measured {{n}} points.", "high", {{"n": n}})]


PROBE = ProbeSpec("demo", "Demo: a probe in one file", points, findings, Bars(ref="far-store"))
'''


def _with_module(monkeypatch, tmp_path, name, text):
    """Put module ``name`` on the diagnose package's path (undone after the test)."""
    (tmp_path / f"{name}.py").write_text(text)
    monkeypatch.setattr(dg, "__path__", [*dg.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, f"smclab.suites.diagnose.{name}", raising=False)
    return f"smclab.suites.diagnose.{name}"


def test_a_new_probe_module_is_discovered_and_run(monkeypatch, tmp_path):
    module = _with_module(monkeypatch, tmp_path, "zz_demo", DEMO_PROBE.format(order=65))
    try:
        found = dg.discover()
        assert list(found) == [*list(dg.PROBES)[:-1], "demo", "cross-modifying"]
        for name, spec in found.items():  # the runner, the CLI and the report read PROBES
            monkeypatch.setitem(dg.PROBES, name, spec)
        d = dg.run_diagnose(FakeSession(tmp_path / "f.sqlite"), quick=True, only=("demo",))
        assert [(pr.probe.name, pr.sweep_id.endswith("-demo")) for pr in d.probes] == [
            ("demo", True)
        ]
        assert [f.text for f in d.findings] == ["The demo probe measured 2 points."]
        page = render(d)
        assert "Demo: a probe in one file" in page and "The demo probe measured" in page
        assert page.count("<svg") == 1
    finally:
        sys.modules.pop(module, None)


def test_a_probe_module_must_declare_itself_and_not_repeat_an_order(monkeypatch, tmp_path):
    module = _with_module(monkeypatch, tmp_path, "zz_bad", '"""No PROBE here."""\nORDER = 99\n')
    try:
        with pytest.raises(TypeError, match="zz_bad must define ORDER"):
            dg.discover()
    finally:
        sys.modules.pop(module, None)
    (tmp_path / "zz_bad.py").unlink()
    module = _with_module(monkeypatch, tmp_path, "zz_twice", DEMO_PROBE.format(order=10))
    try:
        with pytest.raises(ValueError, match="share a ORDER: 10"):
            dg.discover()
    finally:
        sys.modules.pop(module, None)


def test_a_new_probe_file_in_a_copy_of_the_package_reaches_the_cli(tmp_path):
    """Copy the package, add one probe file, change nothing else: `--probe demo` runs it."""
    src = Path(smclab.__file__).parent
    copy = tmp_path / "src" / "smclab"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "suites" / "diagnose" / "demo.py").write_text(DEMO_PROBE.format(order=65))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}

    def smclab_(*args):
        cmd = [sys.executable, "-m", "smclab", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)

    p = smclab_("diagnose", "--help")
    assert p.returncode == 0 and "demo" in p.stdout, p.stderr
    db = str(tmp_path / "d.sqlite")
    p = smclab_("diagnose", "--quick", "--probe", "demo", "--json", "--db", db)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert [pr["name"] for pr in out["probes"]] == ["demo"]
    assert [pt["label"] for pt in out["probes"][0]["points"]] == ["far-store", "no-store"]
    assert [f["text"] for f in out["findings"]] == ["The demo probe measured 2 points."]


def test_the_consistency_check_prints_a_contradiction_and_counts_what_holds():
    from rich.console import Console

    from smclab.report.findings import diagnosis
    from smclab.suites.diagnose.consistency import check

    def run(barrier_none: float) -> dg.Diagnosis:
        pen = [
            point("seed 4K/0", 90.0),
            point("far-store", 20.0, store="far"),
        ]
        bar = [point("none", barrier_none), point("none far-store", 20.0, store="far")]
        probes = [
            dg.ProbeResult(dg.Probe("penalty", "Penalty", ()), pen, "s1"),
            dg.ProbeResult(dg.Probe("barriers", "Barriers", ()), bar, "s2"),
        ]
        d = dg.Diagnosis(HOST, "r", True, probes, [], 1.0)
        d.findings = dg.find(d.probes, HOST)
        d.checks = check(d)
        return d

    same = run(92.0)  # the seed loop measured by two probes agrees
    assert [(c.holds, c.evidence) for c in same.checks] == [
        (True, "90 vs 92 ticks/iter"),
        (True, "20 vs 20 ticks/iter"),
    ]
    shifted = run(300.0)  # the host shifted between the probes
    (bad,) = [c for c in shifted.checks if not c.holds]
    assert bad.claim == "4K/0 costs the same in penalty and barriers"
    console = Console(width=100, record=True)
    console.print(diagnosis(shifted))
    out = " ".join(console.export_text().split())
    assert "2 predictions of the findings checked" in out and "1 contradicted" in out
    assert "contradiction (barriers): 4K/0 costs the same in penalty and barriers" in out
    assert shifted.to_dict()["checks"][0]["holds"] is False


def test_the_consistency_check_holds_the_write_ahead_distance_against_advise():
    from types import SimpleNamespace

    from smclab.suites.diagnose.consistency import check

    def advised(ahead: int, to_floor: float):
        best = SimpleNamespace(
            id=f"ring-ahead-{ahead}",
            ok=True,
            fresh=True,
            verdict="helps",
            to_floor=to_floor,
            experiment=Experiment(buffer=65536, step=64, ahead=ahead),
        )
        return SimpleNamespace(entries=[best])

    def diagnosis(distance):
        found = dg.Finding(
            "code-age",
            "Executing a line written just before costs",
            "high",
            {"ahead_bytes": distance},
        )
        return dg.Diagnosis(HOST, "r", True, [], [found], 1.0)

    (ok,) = check(diagnosis(256), [advised(1024, 1.1)])
    assert ok.holds and ok.claim == "writing 256 B or more ahead brings the loop near its floor"
    (far,) = check(diagnosis(256), [advised(1024, 3.0)])  # far enough ahead, yet not near
    assert not far.holds and "is 3.00x its floor" in far.evidence
    (close,) = check(diagnosis(4096), [advised(1024, 1.1)])  # nearer than the distance, at it
    assert not close.holds and close.claim == "writing less than 4096 B ahead still costs"
    (none_,) = check(diagnosis(None), [advised(1024, 1.1)])
    assert not none_.holds and none_.claim.startswith("no write-ahead distance measured")
    (still,) = check(diagnosis(4096), [advised(1024, 2.5)])
    assert still.holds and still.claim == close.claim


def test_a_line_map_with_a_distance_the_rounds_cannot_place_is_labelled_unstable():
    def with_rounds(p, factors=(1.0,) * 7):
        t = p.ticks.median
        return dg.Point(
            p.plan, p.experiment, Stats(t, t, 0.01, tuple(t * f for f in factors), "s"), p.ns
        )

    pts = [with_rounds(p) for p in granularity_curve(64)]
    assert all(f.unstable is None for f in granularity.findings(pts, HOST))
    # +64 measured at 29 against a control of 20 (the line: +10% of the 90-tick penalty, 29):
    # its rounds straddle it
    torn = (0.6, 1.9, 0.7, 1.8, 0.65, 1.85, 1.0)
    pts = [
        with_rounds(dg.Point(p.plan, p.experiment, Stats(29.0, 17.0, 0.5), p.ns), torn)
        if p.plan.label == "mov8 +64"
        else p
        for p in pts
    ]
    mov8 = next(f for f in granularity.findings(pts, HOST) if f.numbers.get("kind") == "mov8")
    assert mov8.unstable and "whether the stores at +64 bytes cost" in mov8.unstable
