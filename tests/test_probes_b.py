"""Issue 10, items 3-7: code age, prediction, barriers net of their cost, cross-modifying and
advise's candidates. Findings on synthetic points shaped like both outcomes (AMD: a penalty of
~80 ticks that 128 B of write-ahead removes; Intel: thousands of ticks, a retpoline far cheaper),
on the recorded Intel store (today's points that match a probe) and on a recorded AMD probe set.
"""

import shutil
from pathlib import Path

import pytest

from smclab.errors import SpecError
from smclab.model.caches import CacheSizes
from smclab.model.experiment import Experiment
from smclab.model.result import Stats
from smclab.store import open_store
from smclab.suites import diagnose as dg
from smclab.suites.diagnose import barriers, code_age, cross_modifying, prediction
from smclab.workloads.seed.advise import how_to

DATA = Path(__file__).parent / "data"
K = 1024
AMD = {
    "vendor": "AuthenticAMD",
    "hypervisor": "KVM",
    "tsc_hz": 2.445e9,
    "caches": [
        {"level": 1, "type": "Data", "size": 32 * K},
        {"level": 1, "type": "Instruction", "size": 32 * K},
        {"level": 2, "type": "Unified", "size": 512 * K},
    ],
    "flags": ["clwb", "clflushopt", "avx", "sse2"],
}
INTEL = {
    "vendor": "GenuineIntel",
    "hypervisor": "KVM",
    "tsc_hz": 2.1e9,
    "caches": [
        {"level": 1, "type": "Data", "size": 48 * K},
        {"level": 1, "type": "Instruction", "size": 32 * K},
        {"level": 2, "type": "Unified", "size": 2 * K * K},
    ],
    "flags": ["clwb", "cldemote", "serialize", "avx512f", "avx"],
}


def point(label, ticks, x=None, group="g", spread=0.01, rounds=None, **knobs):
    rounds = tuple(rounds or [ticks * f for f in (1.0, 1.01, 0.99, 1.005, 0.995, 1.002, 0.998)])
    stats = Stats(ticks, ticks * 0.98, spread, rounds, "s1")
    return dg.Point(dg.PlanPoint(label, x, group, knobs), Experiment(**knobs), stats, stats)


# --- code age --------------------------------------------------------------------------------


def code_age_points(host, at0, curve, plateau, far, rings=None):
    """Points of the code-age probe: ``curve(ring, ahead)`` for A > 0, ``plateau(ring)`` and
    ``far(ring)`` per ring."""
    pts = []
    for plan in code_age.plan(CacheSizes.of(host), quick=True):
        e = Experiment(**plan.knobs)
        if rings and e.buffer not in rings:
            continue
        if e.store == "far":
            t = far(e.buffer)
        elif e.ahead == 0:
            t = at0(e.buffer)
        else:
            t = curve(e.buffer, e.ahead, plateau(e.buffer))
        pts.append(point(plan.label, t, plan.x, plan.group, **plan.knobs))
    return pts


def test_code_age_amd_shaped_128_bytes_ahead_and_no_cost_for_old_lines():
    pts = code_age_points(
        AMD,
        at0=lambda r: 80.0,
        curve=lambda r, a, p: 60.0 if a < 128 else p,
        plateau=lambda r: 20.0,
        far=lambda r: 19.8,
    )
    found = code_age.findings(pts, AMD)
    fresh = next(f for f in found if "written just before" in f.text)
    assert fresh.numbers["ahead_bytes"] == 128
    # the distance in bytes and cache terms, against the control named
    assert (
        "from 128 B (2 lines, 1/256 of the 32K L1D) ahead at every ring where it costs"
        in fresh.text
    )
    assert "its data control (the same loop, ring and call kind storing into data" in fresh.text
    # direct calls where a direct loop fits (4K and 32K here), call reg beyond
    assert fresh.numbers["calls"] == {
        4 * K: "direct",
        32 * K: "direct",
        512 * K: "indirect",
        2 * K * K: "indirect",
    }
    assert "4K ring, direct calls: 80 at A = 0, control 20, down to it from A = 128 B" in (
        fresh.text
    )
    assert fresh.unstable is None  # every point beyond it within 5% of the control
    old = next(f for f in found if "last executed longer ago" in f.text)
    assert "costs no more over its data control than at 4K" in old.text
    assert old.numbers["older_costs_more"] == [] and old.numbers["ahead"] == 1024


def test_code_age_intel_shaped_cost_reaches_its_control_only_beyond_l2():
    l2 = 2 * K * K
    pts = code_age_points(
        INTEL,
        at0=lambda r: 13000.0,
        curve=lambda r, a, p: 400.0 if a < 256 else p,
        plateau=lambda r: 200.0 if r <= l2 else 9.3,
        far=lambda r: 9.0,
    )
    found = code_age.findings(pts, INTEL)
    fresh = next(f for f in found if "written just before" in f.text)
    assert fresh.numbers["ahead_bytes"] == 1024  # the quick grid has 128, then 1K
    assert fresh.numbers["per_ring"][l2]["reach"] is None
    assert "at 8M (from 1024 B (1K: 16 lines, 1/48 of the 48K L1D)), not within the" in (fresh.text)
    assert "distances measured at 4K, 32K, 2M" in fresh.text
    assert "2M ring, call reg: 13000 at A = 0, control 9, still 200 at A = 1M" in fresh.text
    old = next(f for f in found if "last executed longer ago" in f.text)
    assert old.numbers["older_costs_less"] == [8 * K * K]


def test_code_age_cost_that_never_reaches_its_control_is_said_so():
    pts = code_age_points(
        INTEL, lambda r: 13000.0, lambda r, a, p: p, lambda r: 200.0, lambda r: 9.0
    )
    (fresh,) = [f for f in code_age.findings(pts, INTEL) if "written just before" in f.text]
    assert fresh.numbers["ahead_bytes"] is None
    assert "no write-ahead distance measured brings it down to its data control" in fresh.text


def test_a_distance_the_rounds_do_not_settle_is_labelled_unstable():
    noisy = (1.0, 1.3, 0.8, 1.2, 0.9, 1.25, 0.85)
    pts = code_age_points(
        AMD,
        lambda r: 80.0,
        lambda r, a, p: 60.0 if a < 128 else p,
        lambda r: 20.0,
        lambda r: 19.8,
    )
    pts = [
        point(
            p.plan.label,
            21.0,
            p.plan.x,
            p.plan.group,
            rounds=[21.0 * f for f in noisy],
            **p.plan.knobs,
        )
        if p.experiment.ahead == 1024 and p.experiment.buffer == 4 * K
        else p
        for p in pts
    ]
    (fresh,) = [f for f in code_age.findings(pts, AMD) if "written just before" in f.text]
    assert fresh.unstable and "not settled within 5% of the control at 4K" in fresh.unstable


def test_the_call_kind_sets_the_floor_of_a_ring_both_ways():
    def with_direct_floor(ticks):
        pts = code_age_points(
            AMD, lambda r: 80.0, lambda r, a, p: p, lambda r: 30.0, lambda r: 30.0
        )
        return [
            point(p.plan.label, ticks, p.plan.x, p.plan.group, **p.plan.knobs)
            if p.plan.group == code_age.FAR_DIRECT
            else p
            for p in pts
        ]

    (low,) = [f for f in code_age.findings(with_direct_floor(8.0), AMD) if "floor" in f.text]
    assert low.text.startswith("The call kind sets the floor of a ring")
    assert "4K: 30 vs 8; 32K: 30 vs 8 ticks/iter; call rel32 is cheaper at 4K, 32K" in low.text
    assert low.numbers["direct"] == {4 * K: 8.0, 32 * K: 8.0}
    found = code_age.findings(with_direct_floor(30.2), AMD)
    (same,) = [f for f in found if "Storing into data (no code modified)" in f.text]
    assert same.text.endswith("the call kind changes nothing here.")


def test_call_kinds_compare_penalties_where_each_has_its_own_control():
    """call rel32 costs 22 ticks less than call reg in every loop (its own cost), the penalty
    is the same: net of each kind's control nothing is left to tell them apart."""
    pts = code_age_points(AMD, lambda r: 80.0, lambda r, a, p: p, lambda r: 30.0, lambda r: 30.0)
    pts = [
        point(p.plan.label, p.ticks.median - 22.0, p.plan.x, p.plan.group, **p.plan.knobs)
        if p.experiment.call == "direct"
        else p
        for p in pts
    ]
    found = code_age.findings(pts, AMD)
    (direct,) = [f for f in found if "call rel32 to each slot" in f.text and "Calling" in f.text]
    assert direct.numbers["net_of_own_control"] is True
    assert direct.text.startswith(
        "Calling through call rel32 to each slot changes nothing measurable against call reg"
        " (each net of its own data control: penalty against penalty)"
    )
    (ret,) = [f for f in found if "retpoline" in f.text]
    assert "(totals, each call's own cost included)" in ret.text
    (floor,) = [f for f in found if "sets the floor" in f.text]
    assert floor.numbers["direct"] == {4 * K: 8.0, 32 * K: 8.0}


def test_code_age_plan_follows_the_caches():
    rings = code_age.rings(CacheSizes.of(INTEL), quick=True)
    assert rings == [4 * K, 32 * K, 2 * K * K, 8 * K * K]
    assert code_age.aheads(8 * K * K, quick=True)[-1] == 8 * K * K - 64
    # a large ring is measured at every power of 4 from 16K on, not only at fractions of it
    # (the Intel guest's 1M ring reached its control somewhere between 4K and 256K ahead)
    assert [a for a in code_age.aheads(K * K, quick=False) if 4 * K < a < K * K // 4] == [
        16 * K,
        64 * K,
    ]
    assert code_age.aheads(16 * K, quick=False) == [0, 64, 128, 256, 512, 1024, 4096, 8192, 16320]
    assert CacheSizes.of({}).assumed and "assumed" in CacheSizes.of({}).describe()
    for plan in code_age.plan(CacheSizes.of(INTEL), quick=False):
        Experiment(**plan.knobs)  # every point is valid


INTEL_DB = DATA / "intel-xeon-6-cf-kvm-2026-11-25-shrunk.sqlite"


def _intel_store(tmp_path):
    """The recorded Intel store (its first diagnose run), copied: opening migrates it."""
    db = tmp_path / "intel.sqlite"
    shutil.copy(INTEL_DB, db)
    return open_store(db, create=False)


def _old_write_ahead_as_code_age(store, run):
    """Today's write-ahead sweep (16K ring, step 64, call r13) as code-age points."""
    pts = []
    for r in store.results(sweep_id=f"diagnose-{run}-write-ahead"):
        e = r.experiment
        if e.store == "far":
            plan = dg.PlanPoint("16K far-store", None, "far-store", {})
        else:
            plan = dg.PlanPoint(code_age.label(e.buffer, e.ahead), e.ahead, "ring 16K", {})
        pts.append(dg.Point(plan, e, r.ticks, r.ns))
    return pts


def test_recorded_intel_write_ahead_reads_as_code_age(tmp_path):
    store = _intel_store(tmp_path)
    pts = _old_write_ahead_as_code_age(store, "20261125T191605")
    assert len(pts) == 12
    found = code_age.findings(pts, INTEL)
    (fresh,) = [f for f in found if "written just before" in f.text]
    # the 16K ring's farthest point stays ~20x the data copy: no distance measured reaches it
    assert fresh.numbers["ahead_bytes"] is None
    ring = fresh.numbers["per_ring"][16 * K]
    assert ring["reach"] is None and ring["at_slot"] > 1000 * ring["control"]
    assert "16K ring: 24010 at A = 0, control 17, still 381 at A = 8K" in fresh.text


# --- prediction ------------------------------------------------------------------------------


def prediction_points(exec_, far, serialized_exec, serialized_far):
    pts = [point("no-store moving", 8.0)]
    for c in prediction.KINDS:
        pts += [point(f"{c} moving", exec_[c]), point(f"{c} moving far-store", far[c])]
        pts += [
            point(f"{c} moving serialize+chain", serialized_exec[c]),
            point(f"{c} moving far-store serialize+chain", serialized_far[c]),
            point(f"{c} fixed", exec_[c]),
        ]
    return pts


def test_prediction_intel_shaped_retpoline_pays_far_less_and_survives_serialize():
    pts = prediction_points(
        {"indirect": 13600.0, "direct": 26170.0, "retpoline": 387.0},
        {"indirect": 9.0, "direct": 9.5, "retpoline": 40.0},
        {"indirect": 14000.0, "direct": 26500.0, "retpoline": 900.0},
        {"indirect": 700.0, "direct": 700.0, "retpoline": 740.0},
    )
    found = prediction.findings(pts, INTEL)
    assert "the unpredicted call pays far less" in found[0].text
    assert found[0].numbers["penalty"]["retpoline"] == 347.0
    survived = [f for f in found if "still costs" in f.text]
    assert len(survived) == 2 and "more than a clear of instructions in flight" in survived[0].text


def test_prediction_amd_shaped_changes_nothing_and_vanishes_when_serialized():
    pts = prediction_points(
        {"indirect": 95.0, "direct": 100.0, "retpoline": 120.0},
        {"indirect": 19.0, "direct": 22.0, "retpoline": 44.0},
        {"indirect": 700.0, "direct": 690.0, "retpoline": 720.0},
        {"indirect": 701.0, "direct": 689.0, "retpoline": 721.0},
    )
    found = prediction.findings(pts, AMD)
    assert "changes nothing measurable" in found[0].text
    assert "pays far less" not in found[0].text
    gone = [f for f in found if "show no cost of the store into the slot" in f.text]
    assert len(gone) == 2 and all("within 5% of the loop" in f.text for f in gone)
    # no mechanism is read from an absent difference
    assert not any("a clear of what was fetched" in f.text for f in found)


def test_a_dependent_chain_without_a_settled_difference_says_the_data_do_not_tell():
    """Independent loops on Zen 4 left +23 to +72 ticks where one noisy run saw nothing: a
    difference the rounds do not settle is not read as 'nothing is left'."""
    noisy = (1.0, 1.3, 0.8, 1.2, 0.9, 1.25, 0.85)
    pts = [point("no-store moving", 8.0)]
    for c in prediction.KINDS:
        pts += [point(f"{c} moving", 95.0), point(f"{c} moving far-store", 19.0)]
        pts += [point(f"{c} moving serialize+chain", 730.0, rounds=[730 * f for f in noisy])]
        pts += [point(f"{c} moving far-store serialize+chain", 700.0)]
    found = prediction.findings(pts, AMD)
    (f, g) = [f for f in found if "show no cost of the store" in f.text]
    assert "these data do not tell whether anything is left" in f.text
    assert f.numbers["settled"] is False and "within 5%" not in f.text


# --- barriers --------------------------------------------------------------------------------


def test_barriers_intel_shaped_cpuid_cost_is_reported_even_when_the_loop_got_faster():
    pts = [point("none", 26119.0), point("none far-store", 9.0)]
    pts += [point("mfence@after-store", 26000.0), point("mfence@after-store far-store", 30.0)]
    pts += [point("cpuid@after-store", 19585.0), point("cpuid@after-store far-store", 19400.0)]
    found = barriers.findings(pts, INTEL)
    cpuid = next(f for f in found if f.text.startswith("CPUID costs"))
    assert cpuid.numbers["cpuid_ticks"] == 19391.0
    assert "traps to the hypervisor (KVM)" in cpuid.text
    main = found[0]
    # faster in total (19585 vs 26119), and net of its 19391 ticks it leaves 19585 - 19391 = 194
    # of the 26110-tick penalty
    assert main.text.startswith(
        "cpuid@after-store makes the loop faster in total (the cheapest, cpuid@after-store,"
        " costs 19585 ticks/iter against 26119"
    )
    assert "leaves a penalty of 185 against 26110" in main.text
    assert main.numbers["faster_in_total"] == ["cpuid@after-store"]
    # a placement measured lower in rounds that do not settle it is not said to help
    straddle = [26119.0 * f for f in (0.90, 0.99, 0.97, 0.88, 0.98, 0.92, 0.93)]  # all lower
    pts += [point("lfence@after-store", 24290.0, rounds=straddle)]
    pts += [point("lfence@after-store far-store", 12.0)]
    main = barriers.findings(pts, INTEL)[0]
    assert main.numbers["faster_in_total"] == ["cpuid@after-store"]
    assert main.text.startswith("cpuid@after-store makes the loop faster in total")
    assert main.unstable and "lfence@after-store" in main.unstable


def test_a_barrier_costing_far_more_than_the_penalty_is_left_unjudged():
    pts = [point("none", 263.0), point("none far-store", 100.0)]
    pts += [point("mfence@after-store", 300.0), point("mfence@after-store far-store", 140.0)]
    pts += [point("cpuid@after-store", 49000.0), point("cpuid@after-store far-store", 57000.0)]
    main, cpuid = barriers.findings(pts, AMD)
    assert main.text.startswith(
        "No barrier makes the loop faster: of 1 placements, 1 make it slower"
    )
    assert "cpuid@after-store cost(s) more than 3x the penalty" in main.text
    assert main.numbers["swamped"] == ["cpuid@after-store"]
    assert cpuid.numbers["cpuid_ticks"] == 56900.0


def test_barriers_amd_shaped_a_slower_loop_is_no_help_and_cpuid_is_its_own_cost():
    pts = [point("none", 74.0), point("none far-store", 19.0)]
    pts += [point("mfence@after-store", 119.0), point("mfence@after-store far-store", 64.0)]
    pts += [point("lfence@after-store", 75.0), point("lfence@after-store far-store", 20.0)]
    pts += [point("cpuid@after-store", 2400.0), point("cpuid@after-store far-store", 2330.0)]
    found = barriers.findings(pts, AMD)
    assert found[0].text.startswith("No barrier makes the loop faster: of 2 placements, 1 make it")
    assert found[0].numbers["slower_in_total"] == ["mfence@after-store"]
    assert "smaller penalty" not in found[0].text
    assert found[0].numbers["swamped"] == ["cpuid@after-store"]
    assert found[1].numbers["cpuid_ticks"] == 2311.0


def test_a_smaller_net_penalty_in_a_loop_that_is_not_faster_is_no_help():
    """Zen 4's recorded shape: mfence+lfence leaves a penalty of 46 against 103 net of its own
    65 ticks, but the loop with it costs more in total: never read as a help."""
    pts = [point("none", 117.0), point("none far-store", 14.0)]
    pts += [
        point("mfence+lfence@after-store", 125.0),
        point("mfence+lfence@after-store far-store", 79.0),
    ]
    (main,) = barriers.findings(pts, AMD)
    assert main.text.startswith("No barrier makes the loop faster: of 1 placements, 1 make it")
    assert "(the cheapest, mfence+lfence@after-store: 125 against 117 ticks/iter" in main.text
    assert "leave a smaller penalty (the least: mfence+lfence@after-store, 46 against 103" in (
        main.text
    )
    assert "that is no help" in main.text and "reduce" not in main.text
    assert main.numbers["smaller_penalty_not_faster"] == ["mfence+lfence@after-store"]


# --- cross-modifying -------------------------------------------------------------------------


def cross_points(same_seed, same_far, rates):
    pts = [
        point("no writer", 8.0),
        point("same-thread seed 4K/0", same_seed),
        point("same-thread far-store", same_far, store="far"),
    ]
    for period, (line, near) in rates.items():
        name = cross_modifying._name(period)
        kn = {"store": "none", "cross_period": period}
        pts.append(point(f"exec line {name}", line, period, "line", cross="line", **kn))
        pts.append(point(f"near line {name}", near, period, "near", cross="near", **kn))
    return pts


def test_cross_modifying_amd_shaped_costs_per_writer_store():
    pts = cross_points(74.0, 19.0, {0: (42.0, 8.0), 1000: (9.6, 8.0), 10000: (8.05, 8.0)})
    (f,) = cross_modifying.findings(pts, AMD)
    assert f.numbers["per_writer_store"] == {1000: pytest.approx(1.6 / (9.6 / 1000))}
    assert "one store per 10000 ticks: nothing measurable" in f.text
    assert "same kind of clear" not in f.text


def test_cross_modifying_without_a_trend_across_rates_gives_no_cost_per_store():
    """Zen 4's recorded series: a cost at 300 and 3000 ticks, none at 1000 and 10000."""
    rates = {0: (16.0, 9.0), 300: (13.0, 9.0), 1000: (9.0, 9.0), 3000: (10.0, 9.0)}
    rates[10000] = (9.0, 9.0)
    (f,) = cross_modifying.findings(cross_points(104.0, 10.0, rates), AMD)
    assert f.numbers["per_writer_store"] == {} and f.numbers["consistent_trend"] is False
    assert "no consistent trend (a cost at one store per 300, 3000 ticks but none at 1000" in (
        f.text
    )
    assert "per writer store," not in f.text and "x that" not in f.text
    assert "as fast as it can: +7 ticks/iter (16 vs 9)" in f.text


def test_cross_modifying_rates_the_rounds_do_not_settle_take_no_part_in_the_trend():
    rates = {0: (16.0, 9.0), 300: (13.0, 9.0), 1000: (9.0, 9.0), 3000: (10.0, 9.0)}
    pts = cross_points(104.0, 10.0, rates)
    straddle = (0.96, 1.10, 1.0, 1.12, 0.98, 1.08, 1.02)  # within and beyond 5% of the writer
    for p in pts:  # two lines away: neither settled as costlier nor as the same
        if p.plan.label == "exec line every 3000":
            p.ticks = Stats(9.0, 8.6, 0.05, tuple(9.0 * f for f in straddle), "s1")
    (f,) = cross_modifying.findings(pts, AMD)
    assert "one store per 3000 ticks: not settled by the rounds (9 vs 9)" in f.text
    # 300 costs, 1000 does not: two settled rates, the faster one costing: a trend
    assert f.numbers["consistent_trend"] is True and list(f.numbers["per_writer_store"]) == [300]
    assert f.unstable and "every 3000" in f.unstable
    # one settled rate alone shows no trend
    (g,) = cross_modifying.findings(
        cross_points(104.0, 10.0, {0: (16.0, 9.0), 300: (13.0, 9.0)}), AMD
    )
    assert g.numbers["consistent_trend"] is False and g.numbers["per_writer_store"] == {}
    assert "settle 1 of the 1 paced rates: too few to show a trend" in g.text


def test_cross_modifying_intel_shaped_is_a_fraction_of_the_same_thread_penalty():
    pts = cross_points(26204.0, 9.0, {0: (24.0, 7.0), 1000: (12.0, 7.0), 10000: (7.0, 7.0)})
    (f,) = cross_modifying.findings(pts, INTEL)
    per = f.numbers["per_writer_store"][1000]
    assert per == pytest.approx(5.0 / (12.0 / 1000))
    assert f.numbers["ratio_to_same_thread"] < 0.05
    assert "costs 26195 ticks" in f.text


# --- knobs -----------------------------------------------------------------------------------


def test_issue10_knobs_validate_and_keep_default_keys():
    assert Experiment().code_key() == Experiment(chain=0, cross_period=0).code_key()
    with pytest.raises(SpecError, match="cross-period needs"):
        Experiment(cross_period=100)
    with pytest.raises(SpecError, match="evict needs a store"):
        Experiment(evict="clwb", store="none")
    assert Experiment(evict="clwb", store="far").evict == "clwb"  # a data control
    assert Experiment(evict="cldemote").required_flags() == ("cldemote",)
    assert "chain=5" in Experiment(chain=5).label()


# --- advise ----------------------------------------------------------------------------------


def test_advise_how_to_names_the_distances_and_the_cache_level():
    exp = Experiment(buffer=8 * K * K, step=64, ahead=4 * K * K, copy="avx")
    text = how_to(exp, Experiment(), INTEL)
    assert "write 4194304 B ahead" in text and "in a 8388608 B (8M) ring" in text
    assert "last executed 4M of code before (more than L2 holds: L1I 32K, L2 2M)" in text
    assert "65536 iterations" in text


# --- the recorded AMD probe set ----------------------------------------------------------------

AMD_DB = DATA / "amd-25-1-probes-b.sqlite"


def recorded(tmp_path, probe):
    db = tmp_path / "amd.sqlite"
    shutil.copy(AMD_DB, db)
    store = open_store(db, create=False)
    (sweep,) = [w for w in store.sweeps() if w.id.endswith(f"-{probe}")]
    pts = []
    for r in store.results(sweep_id=sweep.id):
        label = (r.name or "").split(": ", 1)[-1]
        e = r.experiment
        x = float(e.ahead) if probe == "code-age" else float(e.cross_period)
        grp = (
            "far-store"
            if e.store == "far" and probe == "code-age"
            else code_age.group(e.buffer, e.call)
        )
        pts.append(dg.Point(dg.PlanPoint(label, x, grp, {}), e, r.ticks, r.ns))
    return pts, r.host


@pytest.mark.skipif(not AMD_DB.exists(), reason="no recorded AMD probe set")
def test_recorded_amd_probe_set_gives_robust_findings(tmp_path):
    pts, host = recorded(tmp_path, "code-age")
    found = code_age.findings(pts, host)
    fresh = next(f for f in found if "written just before" in f.text)
    assert fresh.numbers["ahead_bytes"] is None or fresh.numbers["ahead_bytes"] <= 4 * K
    pts, host = recorded(tmp_path, "barriers")
    cpuid = [f for f in barriers.findings(pts, host) if f.text.startswith("CPUID costs")]
    assert cpuid and cpuid[0].numbers["cpuid_ticks"] > 1000  # a VM exit under KVM
    pts, host = recorded(tmp_path, "prediction")
    assert prediction.findings(pts, host)
    pts, host = recorded(tmp_path, "cross-modifying")
    (f,) = cross_modifying.findings(pts, host)
    assert "same kind of clear" not in f.text
