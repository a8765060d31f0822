"""diagnose/advise: findings logic on synthetic data, HTML output, one real quick run."""

import json

from conftest import run_cli

from smclab.model.experiment import Experiment
from smclab.model.result import Stats
from smclab.report.html import render
from smclab.suites import diagnose as dg

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
    pts = [point("far-store", 20.0, None, "control", store="far")]
    for d in dg.DISTANCES:
        pts.append(point(f"+{d}", 110.0 if d < step_at else 20.5, d, "after"))
        if d:
            pts.append(point(f"-{d}", 20.4, d, "before"))
    return pts


def test_granularity_step_at_64_is_one_line():
    found = dg.granularity(granularity_curve(64), HOST)
    main = [f for f in found if "granularity" in f.text]
    assert len(main) == 1
    assert main[0].numbers["after_safe"] == 64
    assert main[0].numbers["span"] == 64
    assert "the granularity is one 64-byte cache line" in main[0].text
    assert main[0].confidence == "high"


def test_granularity_step_at_4k_is_a_page():
    found = dg.granularity(granularity_curve(4096), HOST)
    assert [f.numbers["after_safe"] for f in found if "after_safe" in f.numbers] == [4096]


def test_overlapping_spreads_give_no_finding():
    pts = [point("seed 4K/0", 100.0, spread=0.3), point("far-store", 90.0, spread=0.3)]
    assert dg.penalty(pts, HOST) == []
    assert dg.differs(Stats(100, 99, 0.3), Stats(90, 89, 0.3)) is False
    flat = [point("far-store", 20.0, None, "control")]
    flat += [point(f"+{d}", 20.0 + (d % 3) * 0.1, d, "after") for d in dg.DISTANCES]
    assert [f for f in dg.granularity(flat, HOST) if "granularity is" in f.text] == []


def test_penalty_and_baseline_audit():
    pts = [
        point("seed 4K/0", 90.0),
        point("far-store", 20.0, store="far"),
        point("no-store", 8.0, store="none"),
        point("seed baseline", 70.0, barrier="mfence", call="source"),
    ]
    found = dg.penalty(pts, HOST)
    assert found[0].numbers["lost_ticks"] == 70.0
    assert "4.5x" in found[0].text
    assert "never the copy" in found[1].text


def test_write_ahead_finds_the_distance():
    curve = {0: 90.0, 64: 60.0, 128: 36.0, 256: 34.0, 1024: 34.5, 4096: 35.0}
    pts = [point("far-store", 20.0, None, "control")]
    pts += [point(f"A={a}", t, a, "ahead") for a, t in curve.items()]
    (f,) = dg.write_ahead(pts, HOST)
    assert f.numbers["ahead_bytes"] == 128
    assert f.numbers["residual_ticks"] == 14.0


def test_barriers_that_do_not_help_and_slow_cpuid():
    pts = [
        point("none", 90.0),
        point("mfence@after-store", 90.5),
        point("lfence@after-store", 120.0),
        point("cpuid@after-store", 2500.0),
    ]
    texts = [f.text for f in dg.barriers(pts, HOST)]
    assert texts[0].startswith("No barrier helps: of 3 barrier placements, 1 change nothing")
    assert "traps to the hypervisor (KVM)" in texts[1]


def test_html_contains_findings_and_images():
    probe = dg.Probe("granularity", "Granularity", ())
    d = dg.Diagnosis(
        HOST, "run1", True, [dg.ProbeResult(probe, granularity_curve(64), "s")], [], 1.0
    )
    d.findings = dg.find(d.probes, HOST)
    page = render(d)
    assert page.startswith("<!doctype html>")
    assert "one 64-byte cache line" in page
    assert page.count("data:image/png;base64,") == 1
    assert "Synthetic CPU" in page and "Raw measurements" in page


def test_real_quick_diagnose_json_has_every_probe(tmp_path):
    html = tmp_path / "r.html"
    p = run_cli(
        "diagnose",
        "--quick",
        "--json",
        "--db",
        str(tmp_path / "d.sqlite"),
        "--html",
        str(html),
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    names = [pr["name"] for pr in out["probes"]]
    assert names == list(dg.FINDINGS)
    for pr in out["probes"]:
        assert pr["skipped"] or pr["points"], pr["name"]
        assert pr["skipped"] is None or pr["skipped"].startswith("needs")
    assert any(f["probe"] == "penalty" for f in out["findings"])
    page = html.read_text()
    assert page.count("data:image/png;base64,") >= 5
    assert "Workarounds, measured" in page


def test_advise_json_top_entry(tmp_path):
    p = run_cli("advise", "--quick", "--json", "--db", str(tmp_path / "a.sqlite"), timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    top = out["top"]
    assert top["executes_fresh_copy"] is True
    assert top["speedup_over_naive"] > 1 and top["ratio_to_floor"] > 0
    assert top["verdict"] == "helps" and top["how_to"]
    ranked = [e["ns_per_iter"]["median"] for e in out["entries"] if e["ns_per_iter"]]
    assert ranked == sorted(ranked)
    assert out["floor"]["experiment"]["store"] == "far"


def test_penalty_reports_clears_and_marks_a_proxy():
    seed = point("seed 4K/0", 90.0)
    seed.per_iter = {"smc-clears": 2.0}
    pts = [seed, point("far-store", 20.0, store="far")]
    (f,) = dg.penalty(pts, HOST)
    assert f.numbers["ticks_per_clear"] == 35.0
    assert "2.00 SMC clears per iteration, ≈35 ticks each" in f.text
    seed.notes = {"smc-clears": "smc-clears proxy for resyncs_or_nc_redirects"}
    (f,) = dg.penalty(pts, HOST)
    assert "proxy event" in f.text and "smc_clears_note" in f.numbers


def test_stores_before_that_always_hurt_name_no_granularity():
    pts = [point("far-store", 20.0, None, "control", store="far")]
    for d in dg.DISTANCES:
        pts.append(point(f"+{d}", 110.0 if d < 64 else 20.5, d, "after"))
        if d:
            pts.append(point(f"-{d}", 110.0, d, "before"))
    (f, *_) = dg.granularity(pts, HOST)
    assert "hurt at every distance measured" in f.text
    assert "granularity is" not in f.text and "span" not in f.numbers


def test_write_ahead_needs_every_larger_distance_to_stay_low():
    curve = {0: 90.0, 64: 50.0, 256: 88.0, 1024: 86.0}
    pts = [point("far-store", 20.0, None, "control")]
    pts += [point(f"A={a}", t, a, "ahead") for a, t in curve.items()]
    (f,) = dg.write_ahead(pts, HOST)
    assert f.numbers["ahead_bytes"] is None
    assert f.text.startswith("Writing exactly 64 bytes ahead removes")
    flat = [point("far-store", 20.0, None, "control")]
    flat += [point(f"A={a}", t, a, "ahead") for a, t in {0: 90.0, 128: 70.0, 512: 70.5}.items()]
    (g,) = dg.write_ahead(flat, HOST)
    assert g.numbers["ahead_bytes"] == 128 and "removes part of the penalty" in g.text


def test_probe_points_sharing_an_experiment_are_measured_once():
    (gran,) = [p for p in dg.probes(quick=False, cpus=2) if p.name == "granularity"]
    planned = dg.experiments_of(gran, dg.settings(quick=True))
    keys = [e.code_key() for _, e in planned]
    assert len(keys) > len(set(keys))  # +4K is both a distance and an aliased point


def test_interrupted_advise_raises_interrupted_not_a_keyerror(tmp_path):
    import signal

    import pytest

    from smclab.suites.advise import run_advise
    from smclab.suites.session import Session
    from smclab.suites.sweep import Interrupted, Observer

    class StopAfterOne(Observer):
        done = 0

        def finish(self, result):
            self.done += 1

        def stop(self):
            return signal.SIGINT if self.done else None

    with Session(tmp_path / "i.sqlite") as s, pytest.raises(Interrupted):
        run_advise(s, "seed", quick=True, observer=StopAfterOne())
    with Session(tmp_path / "i.sqlite") as s:
        assert len(list(s.store.results(suite="advise"))) == 1  # the finished point is kept


def test_write_ahead_names_its_exceptions():
    curve = {0: 90.0, 64: 60.0, 128: 36.0, 256: 35.0, 1024: 35.5, 4096: 50.0, 8192: 35.0}
    pts = [point("far-store", 20.0, None, "control")]
    pts += [point(f"A={a}", t, a, "ahead") for a, t in curve.items()]
    (f,) = dg.write_ahead(pts, HOST)
    assert f.numbers["ahead_bytes"] == 128 and f.numbers["exceptions"] == [4096]
    assert "128 bytes or more ahead of the executing code (except at 4096)" in f.text


def test_every_probe_point_is_a_valid_experiment():
    for quick in (True, False):
        for probe in dg.probes(quick, cpus=2):
            assert len(dg.experiments_of(probe, dg.settings(quick))) == len(probe.points)
