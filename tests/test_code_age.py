"""The code-age probe (issue 10, item 3): findings on synthetic points shaped like both
outcomes (AMD: a penalty of ~80 ticks that 128 B of write-ahead removes; Intel: thousands of
ticks that only a distance beyond L2 brings down to its control), its plan, and the recorded
Intel store's write-ahead points read as code age. The recorded AMD probe set (code age among
the other probes) is tests/test_probes_b.py's.
"""

import shutil
from pathlib import Path

from test_probes_b import AMD, INTEL, K, point

from smclab.model.caches import CacheSizes
from smclab.model.experiment import Experiment
from smclab.store import open_store
from smclab.suites import diagnose as dg
from smclab.suites.diagnose import code_age

DATA = Path(__file__).parent / "data"


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


def test_a_call_kind_whose_effect_changes_sign_with_the_distance_says_where():
    """A retpoline cheaper than call reg where the line was just written (A = 0) and dearer
    once it is written ahead: the split is stated; the same pairs interleaved across rings
    are not (no consistent effect)."""
    base = code_age_points(AMD, lambda r: 80.0, lambda r, a, p: p, lambda r: 30.0, lambda r: 30.0)
    rings = sorted({p.experiment.buffer for p in base if p.experiment.call == "retpoline"})

    def with_retpoline(ticks):
        return [
            point(
                p.plan.label,
                ticks(p.experiment.buffer, p.experiment.ahead),
                p.plan.x,
                p.plan.group,
                **p.plan.knobs,
            )
            if p.experiment.call == "retpoline"
            else p
            for p in base
        ]

    found = code_age.findings(with_retpoline(lambda r, a: 40.0 if a == 0 else 45.0), AMD)
    (ret,) = [f for f in found if "retpoline" in f.text]
    assert (
        "depends on how far ahead the line is written: cheaper at every pair that differs"
        " written less than 1024 B ahead (32K A=0: 40 vs 80" in ret.text
    )
    assert "dearer at every one written 1024 B ahead or more (32K A=1024: 45 vs 30" in ret.text
    # the first ring cheaper at A = 0, the last dearer there: the sign follows no distance
    flip = {(rings[0], 0): 40.0, (rings[0], K): 45.0, (rings[-1], 0): 120.0, (rings[-1], K): 20.0}
    found = code_age.findings(with_retpoline(lambda r, a: flip[(r, a)]), AMD)
    (mixed,) = [f for f in found if "retpoline" in f.text]
    assert mixed.text.startswith("Calling through a retpoline has no consistent effect")
