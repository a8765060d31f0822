"""The store-side probes (a store split across a page; clflushopt after the store): their plans,
and their findings' logic on synthetic interleaved rounds for both outcomes (a cost into data,
no measurable cost), a penalty left the same, made smaller or larger into the executed line,
and pairs whose rounds go both ways (no direction). Magnitudes are synthetic: shaped like the
AMD Zen 4 guest issue 20 reports (~30 ticks for the split store, ~170 for clflushopt)."""

import random
import re
import statistics

import pytest

from smclab.model.experiment import Experiment
from smclab.model.result import Stats
from smclab.suites import atlas
from smclab.suites import diagnose as dg
from smclab.suites.diagnose import line_flush, split_store
from smclab.suites.diagnose.sided import FAR

ROUNDS = 7
HOST = {"vendor": "AuthenticAMD", "family": 25, "model": 17, "hypervisor": "KVM"}


def measure(plans, ticks, noise=0.005, seed=3, swing=()) -> list[dg.Point]:
    """The plans measured in one synthetic interleaved run: ``ticks(label)`` per point, with
    multiplicative noise; a label in ``swing`` alternates 25% above and below its value
    round by round (a pair whose rounds go both ways)."""
    rng = random.Random(seed)
    out = []
    for plan in plans:
        t = ticks(plan.label)
        rounds = tuple(
            t
            * (1 + rng.gauss(0, noise))
            * ((1.25 if r % 2 else 0.75) if plan.label in swing else 1.0)
            for r in range(ROUNDS)
        )
        med = statistics.median(rounds)
        q1, _, q3 = statistics.quantiles(rounds, n=4, method="inclusive")
        st = Stats(med, min(rounds), (q3 - q1) / med, rounds, "synthetic")
        out.append(dg.Point(plan, Experiment(**plan.knobs), st, st))
    return out


def split_ticks(data: float, exec_extra: float, line: float = 0.0):
    """Zen 4 shaped: the store 10 ticks into data, 104 into the executed line; the page split
    adds ``data`` into data and ``data + exec_extra`` into the executed line, the line split
    ``line`` into data."""

    def ticks(label: str) -> float:
        far = label.endswith(FAR)
        t = 10.0 if far else 104.0
        if label.startswith("page split"):
            t += data + (0 if far else exec_extra)
        if label.startswith("line split"):
            t += line
        return t

    return ticks


def flush_ticks(own: float, penalty_change: float):
    def ticks(label: str) -> float:
        far = label.endswith(FAR)
        t = 10.0 if far else 104.0
        if label.startswith("clflushopt"):
            t += own + (0 if far else penalty_change)
        return t

    return ticks


def only(found):
    (f,) = found
    return f


# --- plans -------------------------------------------------------------------------------------


def test_split_store_points_straddle_a_page_or_a_line_and_each_has_its_data_control():
    full, quick = split_store.points(False), split_store.points(True)
    assert len(quick) == 4 and len(full) == 5  # quick trims the line-split detail only
    for plan in full:
        e = Experiment(**plan.knobs)  # valid
        first, last = e.origin, e.origin + e.payload - 1
        assert e.copy == "mov64" and e.payload == 8  # one 8-byte store
        pages, lines = (first // 4096, last // 4096), (first // 64, last // 64)
        if plan.label.startswith("page split"):
            assert pages[0] != pages[1]
        elif plan.label.startswith("line split"):
            assert pages[0] == pages[1] and lines[0] != lines[1]
        else:
            assert lines[0] == lines[1]
        assert (e.store == "far") == plan.label.endswith(FAR)
    labels = {p.label for p in full}
    for p in full:
        if not p.label.endswith(FAR):
            twin = next(q for q in full if q.label == p.label + FAR)
            assert {**p.knobs, "store": "far"} == twin.knobs
    # the executed line is the same for the split store and its control
    at = {p.label: Experiment(**p.knobs).origin // 64 for p in full if p.label in labels}
    assert at[split_store.SPLIT] == at[split_store.NOT_SPLIT]


def test_line_flush_points_are_the_seed_loop_with_and_without_clflushopt():
    for quick in (True, False):
        plans = line_flush.points(quick)
        exps = {p.label: Experiment(**p.knobs) for p in plans}
        assert exps["clflushopt"] == Experiment(evict="clflushopt")
        assert exps["no flush"] == Experiment()
        assert exps["clflushopt far"] == Experiment(evict="clflushopt", store="far")
        assert exps["no flush far"] == Experiment(store="far")


def test_line_flush_is_skipped_with_a_reason_on_a_cpu_without_clflushopt(monkeypatch):
    spec = dg.PROBES["line-flush"]
    monkeypatch.setattr(line_flush.machine, "cpu_flags", lambda: frozenset({"sse2", "clflush"}))
    why = spec.plan(True, 2).needs
    assert why == "needs clflushopt (this CPU has no 'clflushopt' flag)"
    names = {p.name: p.needs for p in dg.probes(True, 2)}
    assert names["line-flush"] == why and names["split-store"] is None
    monkeypatch.setattr(line_flush.machine, "cpu_flags", lambda: frozenset({"clflushopt"}))
    assert spec.plan(True, 2).needs is None


# --- a split store -------------------------------------------------------------------------------


@pytest.mark.parametrize("quick", [True, False])
def test_a_split_store_that_costs_into_data_is_a_store_side_cost(quick):
    pts = measure(split_store.points(quick), split_ticks(data=30.0, exec_extra=0.0))
    f = only(split_store.findings(pts, HOST))
    assert f.text.startswith(
        "An 8-byte store (one mov) split across a page boundary (page offset 4092, 4 bytes on"
        " each page) costs 30 ticks/iter more than the same store not split (offset 4088, the"
        " same executed line), into data (40 vs 10)."
    )
    assert "Into the executed line: 134 vs 104 (+30)" in f.text
    assert "94 with the split against 94 without: the same; a store-side cost, not an SMC" in (
        f.text
    )
    assert f.numbers["data_effect"] == "higher" and f.numbers["penalty_effect"] == "same"
    assert f.numbers["store_side_ticks"] == pytest.approx(30, abs=1)
    assert f.confidence == "medium"  # 7 unanimous rounds: p = 1/64
    assert f.unstable is None
    (fact,) = dg.PROBES["split-store"].facts([f], pts, HOST)
    assert fact.name == "page_split_store_ticks" and fact.value == f.numbers["store_side_ticks"]
    assert fact.unit == "ticks" and all(e.endswith(FAR) for e in fact.evidence)
    assert ("A store split across two lines" in f.text) is not quick
    if not quick:
        assert "10 ticks/iter, no consistent effect against the store not split" in f.text
        assert "the page split: 30 more than the line split." in f.text


def test_a_split_store_without_a_measurable_cost_says_so_and_states_no_fact():
    pts = measure(split_store.points(False), split_ticks(data=0.0, exec_extra=0.0))
    f = only(split_store.findings(pts, HOST))
    assert "has no consistent effect against the same store not split" in f.text
    assert "(10 vs 10 ticks/iter)" in f.text
    assert " more" not in f.text and " less" not in f.text
    assert "store-side cost" not in f.text  # nothing to attribute
    assert f.numbers["data_effect"] == "none" and f.numbers["store_side_ticks"] is None
    assert dg.PROBES["split-store"].facts([f], pts, HOST) == []
    assert f.confidence == "medium"  # small spreads: nothing hid a difference


def test_a_split_that_also_raises_the_penalty_says_so():
    pts = measure(split_store.points(True), split_ticks(data=30.0, exec_extra=40.0))
    f = only(split_store.findings(pts, HOST))
    assert "the split adds to the penalty itself, beyond its cost into data" in f.text
    assert f.numbers["penalty_effect"] == "higher"


def test_rounds_that_go_both_ways_name_no_direction_and_are_unstable():
    pts = measure(
        split_store.points(True),
        split_ticks(data=0.0, exec_extra=0.0),
        swing=(split_store.SPLIT + FAR,),
    )
    f = only(split_store.findings(pts, HOST))
    assert "has no consistent effect against the same store not split" in f.text
    assert f.numbers["data_effect"] == "none"
    assert f.unstable and "the split into data" in f.unstable
    assert f.confidence == "low"  # the spread could hide a difference


def test_a_store_without_its_points_finds_nothing():
    pts = measure(split_store.points(True), split_ticks(30.0, 0.0))
    assert split_store.findings([p for p in pts if "page split" not in p.plan.label], HOST) == []
    assert split_store.findings([], HOST) == []


# --- clflushopt ------------------------------------------------------------------------------


def test_clflushopt_costing_the_same_into_code_and_data_is_a_store_side_cost():
    pts = measure(line_flush.points(False), flush_ticks(own=170.0, penalty_change=0.0))
    f = only(line_flush.findings(pts, HOST))
    assert f.text.startswith(
        "clflushopt of the written line after each copy (the seed's 64-byte rep movsb, 4K/0)"
        " costs 170 ticks/iter more than the same loop without it, into data (180 vs 10)."
    )
    assert re.search(r"Into the executed line: 27\d vs 10\d \(\+1[67]\d\)", f.text), f.text
    assert "a store-side cost, not an SMC one" in f.text
    (fact,) = dg.PROBES["line-flush"].facts([f], pts, HOST)
    assert fact.name == "clflushopt_ticks" and fact.value == pytest.approx(170, abs=2)


def test_clflushopt_that_overlaps_the_penalty_is_no_help_unless_the_loop_is_faster():
    pts = measure(line_flush.points(True), flush_ticks(own=170.0, penalty_change=-80.0))
    f = only(line_flush.findings(pts, HOST))
    assert "14 with clflushopt against 94 without: smaller, part of the penalty overlaps" in (
        f.text
    )
    assert f.text.endswith("clflushopt's own cost; the loop is not faster.")
    assert f.numbers["penalty_effect"] == "lower"


def test_clflushopt_without_a_measurable_cost():
    pts = measure(line_flush.points(True), flush_ticks(own=0.0, penalty_change=0.0))
    f = only(line_flush.findings(pts, HOST))
    assert "has no consistent effect against the same loop without it, into data" in f.text
    assert f.numbers["store_side_ticks"] is None
    assert dg.PROBES["line-flush"].facts([f], pts, HOST) == []


def test_the_atlas_has_a_row_for_each_fact():
    for name in ("page_split_store_ticks", "clflushopt_ticks"):
        row = atlas.CATALOGUE[name]
        assert row.unit == "ticks" and len(row.title) <= 20
