"""The search engine, tested where we are not: it replays recorded grids (the Zen 4 host's
249-point fresh-code grid, the Intel host's advise run) and a synthetic space whose optimum
sits far from every round value, with noise added. No live measurement here."""

import json
import math
import random
import shutil
import sqlite3
import statistics
from pathlib import Path

import pytest

from smclab.model.search import COUNTED, ENUMERABLE, Batch, Count, Knob, Space, point, search

DATA = Path(__file__).parent / "data"
ZEN4 = "amd-zen4-19-11-kvm-2026-12-03.sqlite"
INTEL = "intel-xeon-6-cf-kvm-2026-11-25.sqlite"
KNOBS = ("buffer", "ahead", "copy", "call", "batch", "prefetch", "barrier", "step")


class Replay:
    """A measure callback over recorded values: each round draws one of a point's values
    times a factor shared by the whole round (a host phase: the recorded repeats were taken one
    after another, so their spread is mostly phases, which interleaving shares) and noise of its
    own (``jitter``, lognormal); cost = candidate-rounds, one calibration run per point included."""

    def __init__(self, samples, seed=1, jitter=0.03):
        self.samples = samples  # Point -> list of per-iteration values
        self.rng = random.Random(seed)
        self.jitter = jitter
        self.batches = []

    def __call__(self, points, rounds, stage):
        self.batches.append((stage, list(points), rounds))
        out = {p: [] if p in self.samples else None for p in points}
        for _ in range(rounds):
            phase = self.rng.choice((1.0, 1.0, 1.3, 2.0))
            for p in points:
                if p in self.samples:
                    v = self.rng.choice(self.samples[p])
                    out[p].append(v * phase * math.exp(self.rng.gauss(0, self.jitter)))
        return Batch(out, len(points) * (rounds + 1))


def recorded(tmp_path, name, sweep):
    """(knobs, per-iteration repeat values, median) of a recorded sweep's points."""
    db = tmp_path / name
    shutil.copy(DATA / name, db)
    con = sqlite3.connect(db)
    rows = con.execute(
        "select experiment, raw_ticks, iterations, ticks_median, name from results"
        " where sweep_id = ? and error is null",
        (sweep,),
    ).fetchall()
    con.close()
    out = []
    for exp, raw, its, med, label in rows:
        e = json.loads(exp)
        values = [t / its for t in json.loads(raw)]
        out.append(({k: e[k] for k in (*KNOBS, "store")}, values, med, label))
    return out


def test_a_space_samples_valid_points_and_walks_to_neighbours():
    space = Space(
        "t",
        (
            Knob("ring", (4, 8, 16, 32, 64)),
            Knob("ahead", (1, 2, 4, 8, 16, 32)),
            Knob("c", ("a", "b"), ordered=False),
        ),
        valid=lambda v: v["ahead"] < v["ring"],
    )
    pts = space.sample(10, random.Random(0))
    assert len(pts) == len(set(pts)) == 10
    assert all(dict(p)["ahead"] < dict(p)["ring"] for p in pts)
    p = point({"ring": 16, "ahead": 4, "c": "a"})
    near = {tuple(sorted(dict(q).items())) for q in space.neighbours(p, {"ring": 1, "ahead": 2})}
    assert point({"ring": 8, "ahead": 4, "c": "a"}) in near
    assert point({"ring": 32, "ahead": 4, "c": "a"}) in near
    assert point({"ring": 16, "ahead": 1, "c": "a"}) in near  # two indices down
    assert point({"ring": 16, "ahead": 4, "c": "b"}) in near
    assert point({"ring": 16, "ahead": 16, "c": "a"}) not in near  # invalid: >= ring
    assert (
        len(list(space.points()))
        == sum(1 for r in (4, 8, 16, 32, 64) for a in (1, 2, 4, 8, 16, 32) if a < r) * 2
    )


def test_sampling_a_space_too_big_to_enumerate_checks_a_few_points_only():
    checked = []

    def valid(values):
        checked.append(values)
        return values["a"] % 3 != 0  # a third of the points invalid: some redraws

    side = int(math.isqrt(ENUMERABLE)) + 10  # just over the bound
    sp = Space("big", (Knob("a", tuple(range(side))), Knob("b", tuple(range(side)))), {}, valid)
    got = sp.sample(12, random.Random(1))
    assert len(got) == 12 and all(sp.ok(sp.values(p)) for p in got)
    assert len(checked) < 1000  # drawn, not enumerated (side**2 > ENUMERABLE checks)


def test_a_space_counts_its_valid_points_once():
    """Counted when small (every combination checked, once), estimated when large (what the
    advice's 'searched N of M valid points' reads)."""
    checked = []

    def below(v):
        checked.append(v)
        return v["a"] < v["b"]

    small = Space("small", (Knob("a", tuple(range(40))), Knob("b", tuple(range(40)))), valid=below)
    assert small.valid_points == Count(40 * 39 // 2, exact=True) and small.size == 1600
    assert len(checked) == 1600 and small.valid_points.n == 780 and len(checked) == 1600
    assert str(small.valid_points) == "780"
    big = Space("big", (Knob("a", tuple(range(100))), Knob("b", tuple(range(100)))), valid=below)
    checked.clear()
    est = big.valid_points
    assert not est.exact and len(checked) == COUNTED < big.size  # bounded: never enumerated
    assert abs(est.n - 4950) < 0.1 * 4950 and big.valid_points is est
    assert str(est).startswith("~") and str(Count(5284744, exact=False)) == "~5,300,000"
    never = Space("never", small.knobs, valid=lambda v: False)
    assert never.valid_points == Count(0, exact=True)


def synthetic():
    """A smooth bowl (in log ring and log distance) with a cliff below 256 B ahead (the write
    hits a line in flight): the optimum at a 40K ring, 2880 B ahead, avx; none of them round."""
    rings = tuple(4096 * k for k in (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 48, 64))
    aheads = tuple(range(64, 65536 + 1, 64))
    copies = {"rep-movsb": 1.6, "sse2": 1.2, "avx": 1.0}
    space = Space(
        "synthetic",
        (Knob("buffer", rings), Knob("ahead", aheads), Knob("copy", tuple(copies), ordered=False)),
        valid=lambda v: v["ahead"] < v["buffer"],
    )

    def cost(v):
        x = math.log2(v["buffer"] / 40960) ** 2 + 0.5 * math.log2(v["ahead"] / 2880) ** 2
        cliff = 8 if v["ahead"] < 256 else 1
        return 10 * copies[v["copy"]] * (1 + 0.3 * x) * cliff

    return space, cost


def test_the_search_finds_an_optimum_far_from_round_values_within_its_budget():
    space, cost = synthetic()
    naive = point({"buffer": 4096, "ahead": 0, "copy": "rep-movsb"})
    truth = {p: cost(dict(p)) for p in space.points()}
    samples = {p: [c] for p, c in truth.items()} | {naive: [1000.0]}
    best_true = min(truth.values())
    budget = 3000  # candidate-rounds; measuring every point 7 times would take ~60x more
    assert len(truth) * 8 > 50 * budget
    for seed in range(3):
        replay = Replay(samples, seed=seed)
        out = search(space, replay, budget, naive, seed=seed)
        assert out.spent <= budget
        assert out.best is not None
        assert truth[out.best] <= best_true * 1.05, (dict(out.best), truth[out.best], best_true)
        stages = [s for s, _, _ in replay.batches]
        assert stages[0] == "halving-1" and stages[-1] == "confirm"
        assert any(s.startswith("refine") for s in stages)
        # the confirmation measured the leaders and the naive way together, >= 7 rounds
        assert replay.batches[-1][2] >= 7 and naive in replay.batches[-1][1]


def test_replaying_the_zen4_fresh_code_grid_finds_its_optimum(tmp_path):
    rows = recorded(tmp_path, ZEN4, "zen4-fresh-code-grid")
    naive_rows = recorded(tmp_path, ZEN4, "advise-seed-20261203T061959")
    naive_knobs, naive_values, _, _ = next(r for r in naive_rows if r[3] == "naive")
    fresh = [(k, v, m) for k, v, m, _ in rows if k["store"] == "exec"]
    space = Space.of_points("zen4-grid", [k for k, _, _ in fresh])
    median = {point({kn.name: k[kn.name] for kn in space.knobs}): m for k, _, m in fresh}
    naive = point({"naive": True})
    samples = {p: [m] for p, m in median.items()} | {naive: [statistics.median(naive_values)]}
    best = min(median.values())
    budget = 0.6 * len(fresh) * 8  # less than measuring the grid once as confirmation does
    for seed in range(3):
        out = search(space, Replay(samples, seed=seed, jitter=0.05), budget, naive, seed=seed)
        assert out.best is not None
        # within the noise of the recorded grid (its best points differ by less than it)
        assert median[out.best] <= best * 1.10, (dict(out.best), median[out.best], best)


def test_replaying_the_intel_advise_run_finds_its_best_fresh_candidate(tmp_path):
    rows = recorded(tmp_path, INTEL, "advise-seed-20261125T194038")
    fresh = [(k, v, m) for k, v, m, label in rows if k["store"] == "exec" and label != "naive"]
    naive_values = next(v for _, v, _, label in rows if label == "naive")
    space = Space.of_points("intel-advise", [k for k, _, _ in fresh])
    key = lambda k: point({kn.name: k[kn.name] for kn in space.knobs})  # noqa: E731
    median = {key(k): m for k, _, m in fresh}
    naive = point({"naive": True})
    samples = {p: [m] for p, m in median.items()} | {naive: [statistics.median(naive_values)]}
    best = min(median.values())
    out = search(space, Replay(samples, seed=5, jitter=0.05), 8 * len(fresh), naive, seed=5)
    assert out.best is not None and median[out.best] <= best * 1.10


def test_it_never_recommends_what_the_confirmation_did_not_support():
    """Every leader is as slow as the naive way: the exploration's lucky draws do not make a
    recommendation; and a recommendation beats the naive way in the confirmation's rounds."""
    space, _ = synthetic()
    naive = point({"naive": True})
    flat = {p: [100.0] for p in space.points()}
    flat[naive] = [100.0]
    for seed in range(3):
        out = search(space, Replay(flat, seed=seed, jitter=0.1), 1500, naive, seed=seed)
        assert out.best is None
        assert out.leaders  # it did measure and confirm leaders
    space2, cost = synthetic()
    samples = {p: [cost(dict(p))] for p in space2.points()} | {naive: [30.0]}
    out = search(space2, Replay(samples, seed=9), 1500, naive, seed=9)
    assert out.best is not None
    c = out.versus(out.best, naive)
    assert c is not None and c.ratio < 1 and c.differs
    assert statistics.median(out.confirmation[out.best]) <= min(
        statistics.median(v) for p, v in out.confirmation.items() if p in out.leaders and v
    )


def test_controls_and_references_join_the_confirmation():
    space, cost = synthetic()
    naive = point({"naive": True})
    floor = point({"floor": True})
    samples = {p: [cost(dict(p))] for p in space.points()} | {naive: [500.0], floor: [5.0]}

    def controls(p):
        return {"data": point({**dict(p), "store": "far"})}

    for p in list(samples):
        samples[point({**dict(p), "store": "far"})] = [4.0]
    out = search(space, Replay(samples), 1200, naive, {"floor": floor}, controls)
    assert floor in out.confirmation and naive in out.confirmation
    assert set(out.controls) == set(out.leaders)
    for p in out.leaders:
        assert out.confirmation[out.controls[p]["data"]]


@pytest.mark.parametrize("budget", [0, 10])
def test_a_tiny_budget_still_confirms(budget):
    space, cost = synthetic()
    naive = point({"naive": True})
    samples = {p: [cost(dict(p))] for p in space.points()} | {naive: [500.0]}
    replay = Replay(samples)
    out = search(space, replay, budget, naive)
    assert replay.batches[-1][0] == "confirm"
    assert out.best is None or out.best in out.leaders


# -- the seed's space, declared from the host ---------------------------------------------------

K = 1024
HOST = {
    "caches": [
        {"level": 1, "type": "Data", "size": 48 * K},
        {"level": 1, "type": "Instruction", "size": 32 * K},
        {"level": 2, "type": "Unified", "size": 2 * K * K},
    ],
    "flags": ["sse2", "avx", "clwb"],
}


def test_the_seed_space_follows_the_caches_and_the_cpu():
    from smclab.model.experiment import Experiment
    from smclab.workloads.seed.advise import seed_controls, seed_space

    space = seed_space(HOST)
    knobs = {k.name: k for k in space.knobs}
    rings, aheads = knobs["buffer"].values, knobs["ahead"].values
    assert rings[0] == 4 * K and rings[-1] == 8 * K * K  # 4K .. 4x L2
    assert {32 * K, 48 * K, 2 * K * K} <= set(rings)  # L1I, L1D, L2 themselves
    assert aheads[0] == 64 and aheads[-1] == 8 * K * K  # one slot .. the biggest ring
    for c in (32 * K, 48 * K, 2 * K * K):  # each cache size and one slot either side
        assert {c - 64, c, c + 64} <= set(aheads)
    assert "avx" in knobs["copy"].values and "avx512" not in knobs["copy"].values
    assert knobs["evict"].values == ("none", "clwb")  # only what the CPU has
    assert set(knobs["call"].values) >= {"indirect", "direct"}
    other = {  # another CPU: a 512K L2, avx512 and cldemote
        k.name: k.values
        for k in seed_space(
            {
                "caches": [*HOST["caches"][:2], {"level": 2, "type": "Unified", "size": 512 * K}],
                "flags": ["avx512f", "cldemote"],
            }
        ).knobs
    }
    assert other["buffer"][-1] == 2 * K * K and other["evict"] == ("none", "cldemote")
    assert "avx512" in other["copy"] and "avx" not in other["copy"]
    pts = space.sample(200, random.Random(3))
    assert len(pts) >= 150
    for p in pts[:60]:  # every sampled point is a valid experiment, and so are its controls
        values = space.values(p)
        Experiment(**values)
        assert values["ahead"] < values["buffer"]
        for name, knobs_ in seed_controls(values).items():
            exp = Experiment(**knobs_)
            assert exp.store == ("far" if name == "data" else "none")
            assert exp.call == values["call"] and exp.buffer == values["buffer"]
