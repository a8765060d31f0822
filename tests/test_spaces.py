"""The declared search spaces of jit-block, jit-emit, patch and relocate (the seed's:
tests/test_search.py). Their points are valid experiments doing the naive way's work, they
hold every candidate the hand-picked lists they replace held, a search replaying a synthetic
grid over each (optimum off those lists, noise and host phases added) finds its optimum within
its budget, and patch's alternatives (less work, or no protocol) are measured and reported but
never ranked with the space nor recommended; all without a worker, but for one live run of
``advise --workload patch --budget 1`` end to end."""

import io
import json
import math
import random

import pytest
from conftest import ONE_CPU, run_cli, stubbed_session
from rich.console import Console
from test_search import Replay

from smclab.model.experiment import Experiment
from smclab.model.search import Count, Space, point, search
from smclab.report.findings import advice
from smclab.suites.workarounds import SETS
from smclab.workloads import jit_block, jit_emit

WORKLOADS = ("jit-block", "jit-emit", "patch", "relocate")
P, R = {"workload": "patch"}, {"workload": "relocate"}


def old_candidates(workload):
    """The hand-picked lists advise searched before the spaces (id, knobs, fresh): the jit
    lists were every catalog variant but the naive way and the floor."""
    if workload in ("jit-block", "jit-emit"):
        mod = jit_block if workload == "jit-block" else jit_emit
        naive, floor = mod.advise.NAIVE, mod.advise.FLOOR
        return [
            (v.id, {"workload": workload, **v.knobs}, True)
            for v in mod.catalog.variants()
            if v.id not in (naive, floor)
        ]
    if workload == "relocate":
        return [
            ("double", {**R, "scheme": "double"}, True),
            *[(f"ring-lead-{n}", {**R, "scheme": "ring", "lead": n}, True) for n in (1, 2, 4, 6)],
            ("trace", {**R, "scheme": "trace"}, True),
        ]
    return [
        ("imm-cell", {**P, "patch_into": "cell"}, True),
        ("rel32", {**P, "patch_kind": "rel32"}, True),
        ("rel32-cell", {**P, "patch_kind": "rel32", "patch_into": "cell"}, True),
        ("link", {**P, "patch_kind": "link"}, True),
        ("link-cell", {**P, "patch_kind": "link", "patch_into": "cell"}, True),
        ("cross", {**P, "patch_kind": "cross"}, False),
        *[
            (f"cross-xmc-{x}", {**P, "patch_kind": "cross", "xmc": x}, True)
            for x in ("cpuid", "serialize", "membarrier")
        ],
        *[(f"imm-every-{r}", {**P, "rate": r}, False) for r in (16, 256, 4096)],
    ]


def space_of(workload):
    return SETS[workload].search_space({})


@pytest.mark.parametrize("workload", WORKLOADS)
def test_every_point_is_a_valid_experiment_of_the_same_work_with_its_own_name(workload):
    cs = SETS[workload]
    space, named = space_of(workload)
    naive = Experiment(**cs.naive.knobs)
    floor = Experiment(**cs.floor.knobs)
    pts = list(space.points())
    assert len(pts) > 1
    ids = set()
    for p in pts:
        c = named(p)
        exp = Experiment(**c.knobs)
        assert exp.workload == workload and c.fresh and cs.how_to(exp, naive, {})
        assert exp.knob_key() != floor.knob_key()  # the floor is not a way of doing the work
        ids.add(c.id)
    assert len(ids) == len(pts)  # a name per point
    assert space.valid_points == Count(len(pts), exact=True)  # what 'searched N of M' reads
    for c in cs.listed({}):  # the alternatives: valid, not the same work, outside the space
        exp = Experiment(**c.knobs)
        values = {n: getattr(exp, n) for n in (*(k.name for k in space.knobs), *space.fixed)}
        assert not c.fresh and not space.ok(values)


@pytest.mark.parametrize("workload", WORKLOADS)
def test_the_space_holds_every_old_candidate_under_its_old_name(workload):
    """A fresh old candidate is a point of the space named as before; a non-fresh one (less
    work, or no protocol) is an alternative, with its knobs and name."""
    cs = SETS[workload]
    space, named = space_of(workload)
    alternatives = {c.id: c for c in cs.listed({})}
    for cid, knobs, fresh in old_candidates(workload):
        exp = Experiment(**knobs)
        values = {k.name: getattr(exp, k.name) for k in space.knobs}
        if fresh:
            assert space.ok(values), cid
            c = named(point(values))
            assert c.id == cid and Experiment(**c.knobs).knob_key() == exp.knob_key()
        else:
            alt = alternatives[cid]
            assert Experiment(**alt.knobs).knob_key() == exp.knob_key()


def test_patch_same_work_rules_come_from_the_space_and_the_spec():
    space, _ = space_of("patch")
    ok = lambda **kw: space.ok({**{"patch_into": "code", "xmc": "none", "field_at": 8}, **kw})  # noqa: E731
    assert ok(patch_kind="imm") and ok(patch_kind="cross", xmc="cpuid")
    assert ok(patch_kind="cross", patch_into="cell")  # a data cell: no stale code to run
    assert not ok(patch_kind="cross")  # no protocol: may run stale code (an alternative)
    assert not ok(patch_kind="imm", patch_into="data")  # the control
    assert not ok(patch_kind="int3")  # a breakpoint carries no value
    assert not ok(patch_kind="cross", xmc="cpuid", field_at=6)  # the spec: a torn field
    assert not ok(patch_kind="imm", xmc="cpuid")  # the spec: xmc only for cross
    assert ok(patch_kind="imm", field_at=36) and ok(patch_kind="imm", patch_into="cell")
    assert not ok(patch_kind="imm", patch_into="cell", field_at=36)  # a cell has no field
    assert dict(space.fixed)["rate"] == 1  # the work: every iteration
    how = SETS["patch"].how_to(Experiment(**P, field_at=36), Experiment(**P), {})
    assert how.endswith("place the patched field at byte 36 of its 64-byte line")


#: per workload: the synthetic optimum (off the old lists), the budget in candidate-rounds
OPTIMA = {
    "jit-block": ({"strategy": "rotate-16"}, 300),
    "jit-emit": ({"strategy": "rotate-8", "region_layout": "paged", "emit_store": "4"}, 1000),
    "patch": ({"patch_kind": "link", "patch_into": "code", "xmc": "none", "field_at": 36}, 1200),
    "relocate": ({"scheme": "ring", "lead": 5}, 200),
}


def synthetic(space: Space, best: dict, seed: int):
    """A cost with its minimum at ``best``: an unordered knob's other values cost 1.2-2x, an
    ordered knob's a bowl in its index distance."""
    rng = random.Random(seed)
    factor = {
        (k.name, v): 1.0 if v == best[k.name] else rng.uniform(1.2, 2.0)
        for k in space.knobs
        if not k.ordered
        for v in k.values
    }

    def cost(v):
        c = 10.0
        for k in space.knobs:
            if k.ordered:
                d = (k.values.index(v[k.name]) - k.values.index(best[k.name])) / len(k.values)
                c *= 1 + 10 * d * d
            else:
                c *= factor[(k.name, v[k.name])]
        return c

    return cost


@pytest.mark.parametrize("workload", WORKLOADS)
def test_a_search_over_the_space_finds_a_synthetic_optimum_within_its_budget(workload):
    space, named = space_of(workload)
    want, budget = OPTIMA[workload]
    target = point(want)
    assert space.ok(want)
    old = {cid for cid, _, _ in old_candidates(workload)}
    assert workload == "jit-block" or named(target).id not in old  # off the old list
    naive = point({"naive": True})
    pts = list(space.points())
    assert budget < 8 * len(pts) or len(pts) <= 12  # less than confirming every point
    for seed in range(3):
        cost = synthetic(space, want, seed)
        truth = {p: cost(dict(p)) for p in pts}
        assert min(truth, key=truth.get) == target
        samples = {p: [c] for p, c in truth.items()} | {naive: [1000.0]}
        replay = Replay(samples, seed=seed, jitter=0.05)
        out = search(space, replay, budget, naive, seed=seed)
        assert out.spent <= budget
        assert out.best is not None
        assert truth[out.best] <= truth[target] * 1.05, (dict(out.best), seed)


def test_patch_alternatives_are_measured_and_shown_but_never_recommended(monkeypatch, tmp_path):
    """Patching every 4096th iteration is the cheapest per iteration by far here; it is
    measured in the confirmation and shown as 'alt', but the search ranks and recommends only
    the space's points (measurements stubbed; a host with one usable CPU)."""
    from smclab.suites import advise

    def ticks(i, e):
        if e.rate > 1:
            return 5.0
        if e.knob_key() == Experiment(**P).knob_key():
            return 200.0
        return 50.0 + e.field_at + (30 if e.patch_into == "data" else 0)

    session = stubbed_session(monkeypatch, tmp_path, ticks)
    got = advise.run_advise(session, "patch", budget=3, seed=1)
    alts = {e.id: e for e in got.entries if not e.fresh}
    assert set(alts) == {"imm-every-16", "imm-every-256", "imm-every-4096"}
    assert all(e.verdict == "helps" for e in alts.values())
    assert got.recommended and all(e.fresh for e in got.recommended)
    assert got.best_id == got.recommended[0].id and got.best_id not in alts
    assert got.search is not None
    alt_points = {p for n, p in got.search.references.items() if n != "floor"}
    assert alt_points and all(
        s.stage == "confirm" for s in got.search.trace if s.point in alt_points
    )
    # the cross points this host cannot run are outside its space, said once per reason
    assert "cross" in got.skipped and "cross-xmc-cpuid" in got.skipped
    assert all(v.endswith(ONE_CPU) or "lacks" in v for v in got.skipped.values())
    assert not any(e.id.startswith("cross") for e in got.entries)
    text = io.StringIO()
    Console(file=text, width=80).print(advice(got))
    out = text.getvalue()
    assert out.count(" alt ") >= 3 and "never recommended" in out
    assert sum("Not run:" in line for line in out.splitlines()) == 2  # a CPU, a flag
    # M of 'searched N of M': the valid points this host can run (each one it cannot is named)
    runnable = got.search.space.valid_points
    not_run = set(got.skipped) - {c.id for c in SETS["patch"].listed({})}
    assert runnable.exact and runnable.n + len(not_run) == len(list(space_of("patch")[0].points()))
    flat = " ".join(out.split())
    assert f"of {runnable.n} valid points of the patch space (3840 combinations," in flat
    assert math.isfinite(got.recommended[0].speedup)


def test_advise_patch_runs_end_to_end_on_this_host_with_a_tiny_budget(tmp_path):
    """The live path (worker, store, the host's own CPUs): the search over patch's space ends
    in a confirmation; its alternatives are measured (those this host can run) and are never
    the top; every leader is a point of the space."""
    p = run_cli(
        "advise",
        "--workload",
        "patch",
        "--budget",
        "1",
        "--json",
        "--db",
        str(tmp_path / "a.sqlite"),
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["search"]["space"] == "patch" and out["search"]["trace"][-1]["stage"] == "confirm"
    alternatives = {c.id for c in SETS["patch"].listed({})}
    entries = {e["id"]: e for e in out["entries"]}
    assert {i for i, e in entries.items() if not e["executes_fresh_copy"]} <= alternatives
    assert {"imm-every-16", "imm-every-256", "imm-every-4096"} <= set(entries)
    space, _ = space_of("patch")
    assert out["search"]["valid_points_exact"]  # those this host runs, of the space's
    assert out["search"]["valid_points"] <= space.valid_points.n < out["search"]["space_size"]
    names = (*(k.name for k in space.knobs), *space.fixed)
    for e in entries.values():  # every leader is a point of the space
        if e["executes_fresh_copy"]:
            exp = Experiment.from_dict(e["experiment"])
            assert space.ok({n: getattr(exp, n) for n in names}), e["id"]
    assert out["top"] is None or out["top"]["id"] in entries and out["top"]["executes_fresh_copy"]
