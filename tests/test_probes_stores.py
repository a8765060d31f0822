"""The stores and granularity probes and the penalty estimate without a PMU: the findings'
logic on synthetic interleaved data shaped like both kinds of host (an Intel guest where a
penalty is ~800 ticks and rep strings pay one per unit; an AMD guest where one flat penalty
of ~55 ticks is paid whatever is stored), on the recorded Intel store's old granularity points,
and on a small probe set recorded on this project's AMD host."""

import random
import re
import shutil
import statistics
from pathlib import Path

import pytest

from smclab.isa import vocabulary as vocab
from smclab.model import fit as fitting
from smclab.model.experiment import Experiment
from smclab.model.result import CounterValue, Result, Stats
from smclab.report import seed_table, smc_cell
from smclab.store import open_store
from smclab.suites import diagnose as dg
from smclab.suites.diagnose import granularity, stores
from smclab.suites.seed import ROWS, SeedTable

DATA = Path(__file__).parent / "data"
INTEL = DATA / "intel-xeon-6-cf-kvm-2026-11-25-shrunk.sqlite"
AMD = DATA / "amd-19-01-probes.sqlite"
HOST = {"vendor": "GenuineIntel", "family": 6, "model": 0xCF, "hypervisor": "KVM"}
ROUNDS = 7


class Rounds:
    """Synthetic points of one interleaved run: every point gets one value per round, with
    multiplicative noise; ``slow`` rounds hit every point alike (a phase of the host)."""

    def __init__(self, noise: float = 0.02, slow: tuple[int, ...] = (), seed: int = 1):
        self.rng = random.Random(seed)
        self.noise, self.slow = noise, slow

    def stats(self, ticks: float) -> Stats:
        rounds = tuple(
            ticks * (1 + self.rng.gauss(0, self.noise)) * (2.0 if r in self.slow else 1.0)
            for r in range(ROUNDS)
        )
        med = statistics.median(rounds)
        q1, _, q3 = statistics.quantiles(rounds, n=4, method="inclusive")
        return Stats(med, min(rounds), (q3 - q1) / med, rounds, "synthetic")

    def point(self, plan: dg.PlanPoint, ticks: float) -> dg.Point:
        t = self.stats(ticks)
        ns = Stats(t.median / 2.3, t.min / 2.3, t.spread)
        return dg.Point(plan, Experiment(**plan.knobs), t, ns)


def stores_points(penalty, far=10.0, quick=False, **kw) -> list[dg.Point]:
    """The stores probe's plan, measured: ``penalty(copy, nbytes)`` ticks over the control."""
    r = Rounds(**kw)
    out = []
    for plan in stores.points(quick):
        e = plan.knobs
        cost = far + 0.1 * e["payload"]  # the stores themselves, into data
        if e.get("store") != "far":
            cost += penalty(e["copy"], e["payload"])
        out.append(r.point(plan, cost))
    return out


def units(copy: str, n: int) -> int:
    return n // vocab.COPIES[copy].width


def intel_shaped(copy: str, n: int) -> float:
    """Rep strings: one ~800-tick penalty per unit (the DESIGN notes' 51k ticks for 64 bytes of
    rep movsb, 6.4k for rep movsq); ordinary stores: 840 for the first, 250 per further one."""
    if vocab.COPIES[copy].rep:
        return 800.0 * units(copy, n)
    return 840.0 + 250.0 * (units(copy, n) - 1)


def amd_shaped(copy: str, n: int) -> float:
    """One flat ~55-tick penalty whatever is stored (the next line costs nothing)."""
    return 55.0


def by_kind(found):
    return {f.numbers.get("kind"): f for f in found if "residuals" in f.numbers}


def seed_copy(found):
    return next(f for f in found if "seed_penalties_model" in f.numbers)


# --- the fit -------------------------------------------------------------------------------


def obs(stores_, nbytes, lines, penalty, noise=1.0):
    return fitting.Observation(f"{stores_}/{nbytes}", stores_, nbytes, lines, penalty, noise)


@pytest.mark.parametrize(
    ("model", "f"),
    [
        ("per store", lambda s, b, n: 50.0 * s),
        ("per byte", lambda s, b, n: 7.0 * b),
        ("per line", lambda s, b, n: 60.0 * n),
        ("flat", lambda s, b, n: 55.0),
    ],
)
def test_each_model_is_chosen_on_its_own_data(model, f):
    shapes = [(1, 1, 1), (8, 8, 1), (1, 8, 1), (4, 64, 1), (64, 64, 1), (16, 128, 2), (2, 128, 2)]
    got = fitting.fit(
        [
            obs(s, b, ln, f(s, b, ln) * (1.01 if i % 2 else 0.99))
            for i, (s, b, ln) in enumerate(shapes)
        ]
    )
    assert got is not None and got.chosen is not None
    assert got.chosen.model == model and got.tied == []
    assert got.chosen.residual < 0.05 * got.scale < got.fits[1].residual


def test_a_step_at_the_second_store_is_the_saturating_model_fitted_not_hard_coded():
    """Zen 4's recorded ordinary stores: one store ~90 ticks, 2-8 stores ~1.4 penalties."""
    counts = (1, 1, 1, 2, 2, 3, 4, 4, 5, 6, 8, 16)
    pens = [(90.0 if n == 1 else 130.0) * (1.01 if i % 2 else 0.99) for i, n in enumerate(counts)]
    got = fitting.fit(
        [obs(n, 8 * n, 1 + (n > 8), pen) for n, pen in zip(counts, pens, strict=True)]
    )
    assert got is not None and got.chosen is not None
    m = got.chosen
    assert m.model == "saturating" and not m.counts and got.usable is None
    assert m.constant == pytest.approx(90, rel=0.03) and m.at(8) == pytest.approx(130, rel=0.03)
    assert m.tau <= 0.5  # a step
    # another P and S are fitted from other data: nothing is a constant of the code
    other = fitting.fit([obs(n, 8 * n, 1, 50.0 + 10 * (1 - 0.5 ** (n - 1))) for n in counts])
    assert other.chosen.model == "saturating"
    assert other.chosen.constant == pytest.approx(50, rel=0.03) and other.chosen.tau >= 1
    # flat or straight data never read as saturating; scattered data fit nothing
    flat = fitting.fit([obs(n, 8 * n, 1, 55.0 + (i % 2)) for i, n in enumerate(counts)])
    assert flat.usable is not None and flat.usable.model == "flat"
    line = fitting.fit([obs(n, 8 * n, 1, 840.0 + 250 * (n - 1)) for n in counts])
    assert line.chosen is None or line.chosen.model != "saturating"
    wild = fitting.fit([obs(n, 8 * n, 1, (90.0, 300.0, 20.0)[i % 3]) for i, n in enumerate(counts)])
    assert wild.chosen is None and not wild.tied


def test_stores_finding_says_first_store_and_saturation():
    def zen4(copy, n):
        if vocab.COPIES[copy].rep:
            return 94.0
        return 90.0 if units(copy, n) == 1 else 130.0

    kinds = by_kind(stores.findings(stores_points(zen4, far=10.0), HOST))
    o = kinds["ordinary"]
    assert o.numbers["model"] == "saturating"
    assert o.numbers["first_store_ticks"] == pytest.approx(90, rel=0.03)
    assert o.numbers["saturates_at_ticks"] == pytest.approx(130, rel=0.03)
    assert re.search(r"the first store costs (89|90|91) ticks; more stores add less each", o.text)
    assert re.search(
        r"\(a step at the second store\): 2 stores 1[23]\d \(1\.4\d penalties\)", o.text
    )
    assert kinds["rep"].numbers["model"] == "flat"


def test_the_cheapest_way_to_write_a_whole_line_both_ways():
    def one_line_store(copy, n):
        if n != 64:
            return 90.0
        return 90.0 if copy in ("avx512", "rep-movsb") else 130.0

    found = stores.findings(stores_points(one_line_store, far=10.0), HOST)
    (f,) = [f for f in found if "whole executed line" in f.text]
    assert f.numbers["cheapest"] == ["avx512 x1", "rep-movsb 64B"]  # in the planned order
    head = "The cheapest way to write the whole executed line (64 bytes) is avx512 x1 or rep-movsb"
    assert f.text.startswith(head + " 64B (") and "do not settle which of them" in f.text
    # which of the two measured lower is noise: the conclusion names them the same way
    for cheaper in ("avx512", "rep-movsb"):

        def lower(copy, n, cheaper=cheaper):
            return one_line_store(copy, n) - (1.0 if copy == cheaper and n == 64 else 0.0)

        (h,) = [f for f in stores.findings(stores_points(lower), HOST) if "whole exec" in f.text]
        assert h.text.startswith(head)
    found = stores.findings(stores_points(lambda c, n: 90.0, far=10.0), HOST)
    (g,) = [f for f in found if "whole executed line" in f.text]
    assert "costs the same whichever way it is written" in g.text


@pytest.mark.parametrize(
    ("model", "count"), [("per store in the line", lambda s, i: i), ("per store", lambda s, i: s)]
)
def test_stores_past_the_executed_line_are_told_apart(model, count):
    """8- and 16-byte stores from the executed byte: 8 or 4 land in its line, more run into the
    next one. Charged only in the line (Intel's rep strings) or for every store, each is
    chosen on its own data."""
    patterns = [(s, 8) for s in (1, 2, 4, 8, 12, 16)] + [(2, 16), (4, 16), (8, 16)]
    got = fitting.fit(
        [
            fitting.Observation(
                f"{s}x{w}",
                s,
                s * w,
                fitting.lines_touched(0, s * w),
                300.0 * count(s, min(s, 64 // w)),
                1.0,
                min(s, 64 // w),
            )
            for s, w in patterns
        ]
    )
    assert got is not None and got.chosen is not None and got.chosen.model == model
    assert got.chosen.constant == pytest.approx(300.0)


def test_models_the_points_cannot_tell_apart_tie():
    # every point wrote one line: "per line" counts as "flat" does
    got = fitting.fit([obs(1, 1, 1, 55.0), obs(8, 64, 1, 56.0), obs(64, 64, 1, 54.0)])
    assert got.chosen is None and [m.model for m in got.tied] == ["flat", "per line"]
    assert got.usable.model == "flat" and got.twins(got.usable) == ["per line"]
    # models that count differently but fit equally (every point stored 8 bytes: "per byte"
    # is "flat" times 8): a tie, and no constant to count penalties with
    eight = fitting.fit([obs(1, 8, 1, 55.0), obs(2, 8, 1, 60.0), obs(4, 8, 1, 58.0)])
    assert {"flat", "per byte"} <= {m.model for m in eight.tied} and eight.usable is None
    # a clearly better fit is chosen even when a worse one is within the tolerance
    clear = fitting.fit([obs(1, 8, 1, 50.0, 50), obs(2, 8, 1, 100.0, 50), obs(3, 64, 1, 150.0, 50)])
    assert clear.chosen.model == "per store" and clear.fits[1].residual <= clear.tolerance


# --- the stores probe ------------------------------------------------------------------------


def test_intel_shaped_rep_strings_pay_per_store_and_explain_the_seed_copy():
    found = stores.findings(stores_points(intel_shaped, far=9.0), HOST)
    kinds = by_kind(found)
    rep = kinds["rep"]
    assert rep.numbers["model"] == "per store"
    assert rep.numbers["ticks_per_penalty"] == pytest.approx(800, rel=0.05)
    assert "the penalty is per store, 7" in rep.text or "the penalty is per store, 8" in rep.text
    # ordinary stores fit no single model here: said, not forced
    assert "model" not in kinds["ordinary"].numbers and "no model fits" in kinds["ordinary"].text
    s = seed_copy(found)
    assert s.numbers["seed_penalties_model"] == 64
    assert 0.5 < s.numbers["explained_ratio"] < 2
    assert s.numbers["penalties_per_iter_estimate"] == pytest.approx(64, rel=0.1)
    assert "64 penalties x " in s.text and "est." in s.text and "measured" not in s.text


def test_amd_shaped_flat_penalty_is_one_per_iteration():
    found = stores.findings(stores_points(amd_shaped, far=19.0, quick=True), HOST)
    kinds = by_kind(found)
    for k in ("rep", "ordinary"):
        assert kinds[k].numbers["model"] == "flat", kinds[k].text
        assert kinds[k].numbers["ticks_per_penalty"] == pytest.approx(55, rel=0.1)
    s = seed_copy(found)
    assert s.numbers["seed_penalties_model"] == 1
    assert s.numbers["penalties_per_iter_estimate"] == pytest.approx(1.0, abs=0.15)
    assert "1 penalty x 5" in s.text


def test_per_byte_and_per_line_data_give_those_models():
    per_byte = by_kind(stores.findings(stores_points(lambda c, n: 6.0 * n), HOST))
    assert per_byte["rep"].numbers["model"] == "per byte"
    assert per_byte["ordinary"].numbers["model"] == "per byte"
    per_line = by_kind(
        stores.findings(stores_points(lambda c, n: 60.0 * fitting.lines_touched(0, n)), HOST)
    )
    assert per_line["ordinary"].numbers["model"] == "per line"


def test_a_slow_phase_of_the_host_cancels_round_by_round():
    found = stores.findings(stores_points(intel_shaped, far=9.0, slow=(2, 5)), HOST)
    assert by_kind(found)["rep"].numbers["model"] == "per store"


def test_no_cost_and_pure_noise_choose_nothing():
    found = stores.findings(stores_points(lambda c, n: 0.0, quick=True), HOST)
    none = [f for f in found if "not in L1D" not in f.text]  # (lines into data: no penalty)
    assert all("cost no more than" in f.text for f in none) and len(none) == 2
    # a small penalty drowned in 40% noise: no model is singled out, no seed explanation
    noisy = stores.findings(stores_points(amd_shaped, far=19.0, noise=0.4, quick=True), HOST)
    assert not any("seed_penalties_model" in f.numbers for f in noisy) or all(
        f.confidence != "high" for f in noisy
    )


def test_a_pmu_count_is_shown_beside_the_estimate():
    pts = stores_points(amd_shaped, far=19.0, quick=True)
    seed = next(p for p in pts if p.plan.label == "rep-movsb 64B")
    seed.per_iter = {"smc-clears": 2.0}
    s = seed_copy(stores.findings(pts, HOST))
    assert s.numbers["smc_clears_per_iter"] == 2.0
    assert "≈1.0 est." in s.text and "measured: 2.00 SMC clears per iteration" in s.text


def test_quick_plan_fits_the_time_budget():
    """points x (rounds + 1) x min_ms, on a host where every point cost 20 us/iter."""
    from smclab.suites.diagnose.runner import settings

    s = settings(True)
    for probe in (stores, granularity):
        n = len(probe.points(True))
        assert n * (s["repeats"] + 1) * s["min_ms"] / 1000 < 10, probe.__name__


# --- granularity -------------------------------------------------------------------------------


def granularity_points(cost, far=9.0, quick=False, **kw) -> list[dg.Point]:
    """``cost(copy, distance)``: ticks over the control of a store ``distance`` bytes from the
    executed byte."""
    r = Rounds(**kw)
    out = []
    for plan in granularity.points(quick):
        e = plan.knobs
        extra = 0.0 if e.get("store") == "far" else cost(e["copy"], e.get("ahead", 0))
        out.append(r.point(plan, far + extra))
    return out


def test_amd_shaped_only_the_executed_line_costs():
    found = granularity.findings(
        granularity_points(lambda c, d: 80.0 if 0 <= d < 64 else 0.0), HOST
    )
    mov8 = next(f for f in found if f.numbers.get("kind") == "mov8")
    assert mov8.numbers["costing_lines"] == [0] and mov8.numbers["partly_costing_lines"] == []
    assert mov8.numbers["free_from_line_after"] == 1 and mov8.numbers["free_from_line_before"] == -1
    assert mov8.numbers["free_after_bytes"] == 64
    assert mov8.text.startswith("1-byte mov stores cost in line 0 (relative to the executed line")
    assert "after it nothing from line +1 on, before it nothing from line −1 on" in mov8.text
    assert "granularity is" not in mov8.text
    assert any("4K aliasing does not matter" in f.text for f in found)


def test_intel_shaped_the_line_below_costs_half_and_line_minus_2_partly():
    def cost(copy, d):
        return 380.0 if 0 <= d < 64 else 175.0 if -96 <= d < 0 else 0.0

    found = granularity.findings(granularity_points(cost), HOST)
    mov8 = next(f for f in found if f.numbers.get("kind") == "mov8")
    assert mov8.numbers["costing_lines"] == [-1, 0]
    assert mov8.numbers["partly_costing_lines"] == [-2]
    assert "in line −2 only partly (at −96, −65 bytes but not at −128)" in mov8.text
    assert "before it nothing from line −3 on" in mov8.text
    rep = next(f for f in found if f.numbers.get("kind") == "rep-movsb")
    assert rep.text.startswith("Rep movsb destinations (1 byte) cost in lines −1 and 0")


def test_stores_that_cost_at_every_distance_name_no_end():
    found = granularity.findings(granularity_points(lambda c, d: 0.0 if d >= 64 else 100.0), HOST)
    mov8 = next(f for f in found if f.numbers.get("kind") == "mov8")
    assert mov8.numbers["free_from_line_before"] is None
    assert "before it stores still cost at line −16, the farthest measured" in mov8.text


def test_no_store_near_the_executed_byte_costs():
    found = granularity.findings(granularity_points(lambda c, d: 0.0, quick=True), HOST)
    assert [f.text.split(" near")[0] for f in found][:3] == [
        "1-byte mov stores",
        "8-byte mov stores",
        "Full-line (64-byte vmovdqu64) stores",
    ]
    assert all("cost nothing measurable" in f.text or "aliasing" in f.text for f in found)


# --- recorded stores ---------------------------------------------------------------------------


def stored_points(db: Path, sweep: str, tmp_path: Path) -> tuple[list[dg.Point], dict]:
    """A stored diagnose sweep as the points its probe's findings take (labels from the
    stored names; every point of a sweep ran in one interleaved run)."""
    copy = tmp_path / db.name
    shutil.copy(db, copy)  # opening an old store migrates it in place
    store = open_store(copy, create=False)
    pts, host = [], {}
    for r in store.results(sweep_id=sweep):
        rounds = tuple(statistics.median(x) for x in r.rounds if x)
        t = Stats(r.ticks.median, r.ticks.min, r.ticks.spread, rounds, sweep if rounds else None)
        plan = dg.PlanPoint((r.name or "").split(": ", 1)[-1], None, "stored", {})
        counts = {k: v.per_iter for k, v in r.counters.items()}
        pts.append(dg.Point(plan, r.experiment, t, r.ns, counts))
        host = r.host
    store.close()
    return pts, host


def test_old_intel_granularity_points_are_stated_in_lines(tmp_path):
    """The recorded run that printed "the granularity is 191 bytes" (1-byte rep movsb)."""
    pts, host = stored_points(INTEL, "diagnose-20261125T191605-granularity", tmp_path)
    found = granularity.findings(pts, host)
    rep = next(f for f in found if f.numbers.get("kind") == "rep-movsb")
    assert "191" not in rep.text and "granularity" not in rep.text
    assert rep.numbers["costing_lines"] == [-1, 0]
    assert rep.numbers["free_from_line_after"] == 1
    assert -2 in rep.numbers["partly_costing_lines"]  # -96 costs, -128 does not
    assert any("4K aliasing does not matter" in f.text for f in found)


recorded = pytest.mark.skipif(not AMD.exists(), reason=f"no recorded probe set {AMD.name}")


def recorded_sweep(name: str, tmp_path: Path) -> tuple[list[dg.Point], dict]:
    store = open_store(AMD, create=False)
    ids = [s.id for s in store.sweeps() if s.id.endswith(f"-{name}")]
    store.close()
    assert len(ids) == 1, ids
    return stored_points(AMD, ids[0], tmp_path)


@recorded
def test_recorded_amd_stores_explain_the_seed_copy(tmp_path):
    pts, host = recorded_sweep("stores", tmp_path)
    assert host["vendor"] == "AuthenticAMD"
    found = stores.findings(pts, host)
    s = seed_copy(found)
    assert 0.5 < s.numbers["explained_ratio"] < 2
    assert s.numbers["penalties_per_iter_estimate"] > 0 and "est." in s.text
    assert len(by_kind(found)) == 2


@recorded
def test_recorded_amd_granularity_costs_in_the_executed_line(tmp_path):
    pts, host = recorded_sweep("granularity", tmp_path)
    found = granularity.findings(pts, host)
    mov8 = next(f for f in found if f.numbers.get("kind") == "mov8")
    assert 0 in mov8.numbers["costly_distances"]
    assert mov8.numbers["free_from_line_after"] is not None
    assert all(d > -256 and d < 256 for d in mov8.numbers["costly_distances"])


# --- the seed table's estimate -----------------------------------------------------------------


def seed_rows(ticks: dict[str, float], clears: float | None = None) -> SeedTable:
    r = Rounds()
    rows = []
    for row in ROWS:
        t = r.stats(ticks.get(row.name, 100.0))
        counter = CounterValue(clears) if clears is not None else CounterValue(None, "no PMU")
        res = Result(Experiment(**row.knobs), HOST, 1000, t, t, {"smc-clears": counter})
        rows.append((row, res))
    return SeedTable(HOST, rows)


def test_seed_table_estimates_penalties_without_a_pmu():
    # Intel-shaped: 800 ticks per rep unit
    intel = {"4K/0": 51209, "far-store": 9, "sb1": 809, "sb1 far": 9, "sq64": 6409, "sq64 far": 9}
    t = seed_rows({**intel, "4K/64": 40009, "baseline": 47, "no-store": 7})
    assert t.penalty_model().model == "per store"
    assert t.estimate("4K/0") == pytest.approx(64, rel=0.05)
    assert t.estimate("baseline") is None and t.estimate("sb1") is None
    assert smc_cell(CounterValue(None, "no PMU"), t.estimate("4K/0")).startswith("≈6")
    assert (
        "est.: penalties per iteration = (ticks - far-store ticks, paired by round) / 8"
        in t.estimate_note()
    )
    assert any("64 penalties x 8" in f for f in t.findings())
    # AMD-shaped: one flat penalty
    amd = {"4K/0": 74, "far-store": 19, "sb1": 73, "sb1 far": 18, "sq64": 75, "sq64 far": 19}
    t = seed_rows(amd)
    assert t.penalty_model().model == "flat"
    assert t.estimate("4K/0") == pytest.approx(1.0, abs=0.1)
    assert "'flat' model (= 'per line' on these rows)" in t.estimate_note()
    d = t.to_dict()
    assert d["penalty_model"]["model"] == "flat"
    assert {r["name"]: r["smc_estimate"] for r in d["rows"]}["4K/0"] == pytest.approx(1.0, abs=0.1)


def test_seed_table_shows_a_measured_count_beside_the_estimate():
    amd = {"4K/0": 74, "far-store": 19, "sb1": 73, "sb1 far": 18, "sq64": 75, "sq64 far": 19}
    t = seed_rows(amd, clears=2.0)
    assert smc_cell(t.result("4K/0").counters["smc-clears"], t.estimate("4K/0")) == "2 (≈1.0)"
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(seed_table(t))
    assert "est.: penalties per iteration" in console.export_text()


def seed_text(t: SeedTable, replaced: dict) -> str:
    """The seed table ``t`` printed (one line of words), rows named in ``replaced`` measured
    as given there: name -> (ticks Stats, Noise)."""
    from rich.console import Console

    from smclab.report import seed_table

    rows = []
    for row, res in t.rows:
        if row.name in replaced:
            st, noise = replaced[row.name]
            res = Result(res.experiment, res.host, 1000, st, st, res.counters, noise=noise)
        rows.append((row, res))
    console = Console(width=100, record=True)
    console.print(seed_table(SeedTable(t.host, rows)))
    return " ".join(console.export_text().split())


def test_the_seed_table_says_why_a_row_spreads():

    from smclab.model.noise import Noise

    t = seed_rows({"4K/0": 74, "far-store": 19})
    busy = Noise(1.0, 1, 0.0, 83.0, 95.0, 11, 8)
    quiet = Noise(1.0, 1, 0.0, 1.0, 5.0, 0, 1)
    spread = {"far-store": (0.40, busy), "sb1 far": (0.25, quiet), "no-store": (0.01, busy)}
    out = seed_text(
        t,
        {
            name: (Stats(t.stats(name).median, t.stats(name).min, s), noise)
            for name, (s, noise) in spread.items()
        },
    )
    assert (
        "why a row spreads more than 5%: far-store: 40%, the host: other tasks used 83% of its"
        " CPU during its repeats (11 preemptions); sb1 far: 25%, not explained by the load"
        " measured beside it" in out
    )
    assert "no-store:" not in out.split("why a row spreads")[1]


def test_a_model_the_noise_cannot_single_out_is_labelled_unstable():
    quiet = by_kind(stores.findings(stores_points(intel_shaped, far=9.0), HOST))
    assert quiet["rep"].numbers["model"] == "per store" and quiet["rep"].unstable is None
    noisy = by_kind(stores.findings(stores_points(amd_shaped, far=19.0, noise=0.4), HOST))
    labelled = [f for f in noisy.values() if f.unstable]
    assert labelled and all(
        "fit as well: the model named may change" in f.unstable for f in labelled
    )


def test_rep_movsb_into_a_line_not_in_l1d_against_one_vector_store_both_ways():
    same = stores.findings(stores_points(amd_shaped, far=19.0, noise=0.005), HOST)
    (f,) = [f for f in same if "not in L1D" in f.text]
    assert f.text.startswith(
        "Writing a whole line that is not in L1D (into data, step 64 through a 1M ring): rep"
        " movsb of 64 bytes against avx512 x1: 25 vs 25 ticks/iter, no measurable difference."
    )
    pts = [
        Rounds().point(p.plan, 70.0) if p.plan.label == "rep-movsb 64B cold" else p
        for p in stores_points(amd_shaped, far=19.0)
    ]
    (g,) = [f for f in stores.findings(pts, HOST) if "not in L1D" in f.text]
    assert g.text.endswith("70 vs 25 ticks/iter, rep movsb 45 more.")
    assert g.numbers["extra_ticks"] == pytest.approx(45, abs=1)
    # rounds that straddle the smallest effect settle neither way: said so, labelled unstable
    straddle = stats_of(25.0, (0.96, 1.10, 1.0, 1.12, 0.98, 1.08, 1.02))
    pts = [
        dg.Point(p.plan, p.experiment, straddle, straddle)
        if p.plan.label == "rep-movsb 64B cold"
        else dg.Point(p.plan, p.experiment, stats_of(25.0, (1.0,) * 7), p.ns)
        if p.plan.label == "avx512 x1 cold"
        else p
        for p in stores_points(amd_shaped, far=19.0)
    ]
    (u,) = [f for f in stores.findings(pts, HOST) if "not in L1D" in f.text]
    assert u.text.endswith("the rounds do not settle whether they differ.") and u.unstable


def stats_of(ticks: float, factors: tuple[float, ...]) -> Stats:
    """A point of the synthetic interleaved run: ``ticks`` times each round's factor."""
    values = [ticks * f for f in factors]
    return Stats.of(values, tuple(values), "synthetic")


def test_a_row_that_moved_with_the_baseline_is_said_to_follow_the_hosts_speed():

    from smclab.model.noise import Noise
    from smclab.report import moved_with

    quiet = Noise(1.0, 1, 0.0, 1.0, 1.0, 0, 1)
    speed = (1.0, 1.3, 0.9, 1.2, 1.0, 1.4, 0.95, 1.1)  # the host's speed, round by round
    alone = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)

    def stats(ticks: float, factors: tuple[float, ...]) -> Stats:
        return Stats.of([ticks * f for f in factors], tuple(ticks * f for f in factors), "run")

    base = stats(50.0, speed)
    assert moved_with(stats(19.0, speed), base) == pytest.approx(0.0, abs=1e-9)
    # the row moved while the baseline held still: not the host's speed
    assert moved_with(stats(19.0, speed), stats(50.0, alone)) is None
    assert moved_with(stats(19.0, speed), Stats.of([50.0] * 8, (50.0,) * 8, "other")) is None
    t = seed_rows({"4K/0": 74, "far-store": 19})
    moves = {"baseline": speed, "far-store": speed, "sb1 far": (1, 1.4, 1, 1.3, 1, 1.5, 1, 1)}
    out = seed_text(t, {name: (stats(t.stats(name).median, f), quiet) for name, f in moves.items()})
    assert (
        "far-store: 23%, the host's speed: the baseline moved alike in the same rounds (the"
        " per-round ratio to it spreads 0%)" in out
    )
    assert "sb1 far: 32%, not explained by the load measured beside it" in out
    # the baseline itself has no reference to move with
    assert "baseline: 23%, not explained by the load measured beside it" in out
