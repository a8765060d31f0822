"""The search engine every workload's advise shares: a pure strategy over a declared *space*.

A :class:`Space` is knobs with ordered values (ring sizes, distances, batch) or unordered ones
(call kind, copy method, hints), and a validity rule. :func:`search` explores it through one
callback, ``measure(points, rounds, stage)``, which measures the points *together* in
interleaved rounds and returns each point's per-round values (ticks per iteration) and what the
batch cost. The strategy never looks at a clock or a CPU: live, the callback runs the worker;
in tests it replays a recorded grid with noise added; the same code decides both.

The method, from the autotuning literature, and why:

1. **Successive halving** (Jamieson & Talwalkar 2016, the inner loop of Hyperband, Li et al.
   2017): many candidates measured briefly (one round), the better half measured again
   with twice the rounds (up to four), and so on. Timings on a shared host are cheap to take
   roughly and costly to take precisely, and most of a space is far from its best (an SMC
   penalty costs ~10-1000x a fresh-code loop): one round is enough to drop a candidate that
   is an order of magnitude off, and the budget goes to the close calls.
2. **Local refinement**: a compass (pattern) search around the leaders (Torczon 1997; the
   local strategies of OpenTuner and Kernel Tuner). Along each ordered knob the neighbours at
   +-step indices, every value of an unordered knob; a step halves when no neighbour beats
   the leader. The cost surfaces here are smooth along ring size and distance (cache-size
   steps) and the optimum need not sit on a round value, which a fixed list cannot reach.
3. **Confirmation**, as in racing (F-race, Birattari et al. 2002; irace): the few leaders, the
   naive way, the floor and each leader's controls, measured together in >= 7 interleaved
   rounds. Only this round decides: a leader is recommended only if its rounds beat the naive
   way by the sign test (:func:`smclab.model.rounds.compare_rounds`); otherwise nothing is.

Not a Bayesian optimiser: the spaces are small, discrete and mixed (categorical call kinds and
copies), the noise of a shared host is heavy-tailed and shifts in phases (only comparisons
inside one interleaved batch are sound, which a surrogate model over all past measurements
would ignore), and what matters is a defensible final comparison, not the last percent.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from smclab.model.rounds import Comparison, compare_rounds

#: a space of at most this many knob combinations is enumerated to sample it (a seed point's
#: validity check takes ~0.3 ms: enumerating 200,000 took about a minute; 20,000 ~6 s)
ENUMERABLE = 20_000
#: ... and one of at most this many when draws find too few valid points (a sparse space, as
#: a recorded grid's: only the recorded combinations are valid)
SPARSE_ENUMERABLE = 200_000
#: a space of at most this many knob combinations has its valid points counted (each one
#: checked); a bigger one's are estimated from as many uniform draws (the seed's space on the
#: Intel host: ~10^7 combinations, 4096 checks take ~0.5 s)
COUNTED = 4096
#: a point of a space: its knob values, sorted by knob name (hashable)
Point = tuple[tuple[str, Any], ...]

#: rounds the confirmation measures (the least a sign test over rounds is worth reading at)
CONFIRM_ROUNDS = 7
#: leaders carried into refinement and confirmation
LEADERS = 3
#: rounds of the first halving level (each batch also pays one calibration run per point);
#: each level doubles them, up to HALVING_MAX_ROUNDS (precision is the confirmation's job)
FIRST_ROUNDS = 1
HALVING_MAX_ROUNDS = 4
#: rounds a refinement batch measures
REFINE_ROUNDS = 3
#: share of the budget (after confirmation) successive halving may use; refinement the rest
HALVING_SHARE = 0.55


def point(values: Mapping[str, Any]) -> Point:
    return tuple(sorted(values.items()))


@dataclass(frozen=True)
class Knob:
    """One dimension of a space; ``ordered`` values have neighbours (the adjacent values)."""

    name: str
    values: tuple[Any, ...]
    ordered: bool = True
    #: the value that adds nothing (no hint, no barrier): half of the first sample keeps it,
    #: so the knobs that matter are screened first (refinement tries the others)
    default: Any = None


@dataclass(frozen=True)
class Count:
    """How many valid points a space has: counted (``exact``) or estimated from draws."""

    n: int
    exact: bool

    def __str__(self) -> str:
        return str(self.n) if self.exact else f"~{float(f'{self.n:.2g}'):,.0f}"


@dataclass(frozen=True)
class Space:
    """Knobs, the values every point shares (``fixed``) and which combinations are valid."""

    name: str
    knobs: tuple[Knob, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    valid: Callable[[dict[str, Any]], bool] = lambda _: True

    @classmethod
    def of_points(cls, name: str, points: Sequence[Mapping[str, Any]]) -> Space:
        """The space of a recorded grid: a knob per key whose value varies (numbers ordered,
        the rest not), the others fixed; valid = recorded."""
        keys = sorted({k for p in points for k in p})
        fixed = {k: points[0][k] for k in keys if len({repr(p.get(k)) for p in points}) == 1}
        knobs = []
        for k in keys:
            if k in fixed:
                continue
            vals = list(dict.fromkeys(p[k] for p in points))
            numeric = all(isinstance(v, int | float) for v in vals)
            knobs.append(Knob(k, tuple(sorted(vals) if numeric else vals), ordered=numeric))
        known = {point({k: p[k] for k in keys if k not in fixed}) for p in points}
        names = [kn.name for kn in knobs]
        return cls(
            name,
            tuple(knobs),
            fixed,
            lambda v: point({n: v[n] for n in names}) in known,
        )

    def __post_init__(self) -> None:
        for k in self.knobs:
            if not k.values:
                raise ValueError(f"knob {k.name} has no values")

    @property
    def size(self) -> int:
        """Knob combinations (valid or not)."""
        return math.prod(len(k.values) for k in self.knobs)

    @cached_property
    def valid_points(self) -> Count:
        """How many points are valid (computed once per space): every combination checked
        when there are at most :data:`COUNTED`, else estimated from :data:`COUNTED` uniform
        draws (seeded: the same space, the same estimate)."""
        if self.size <= COUNTED:
            return Count(sum(1 for _ in self.points()), exact=True)
        rng = random.Random(0)
        hits = sum(
            self.ok({k.name: rng.choice(k.values) for k in self.knobs}) for _ in range(COUNTED)
        )
        return Count(round(self.size * hits / COUNTED), exact=False)

    def values(self, p: Point) -> dict[str, Any]:
        """A point's knob values with the fixed ones: what an experiment is made of."""
        return {**self.fixed, **dict(p)}

    def ok(self, values: Mapping[str, Any]) -> bool:
        return self.valid({**self.fixed, **values})

    def points(self) -> Iterator[Point]:
        """Every valid point (for small spaces and the exhaustive benchmark)."""
        names = [k.name for k in self.knobs]
        for combo in itertools.product(*(k.values for k in self.knobs)):
            values = dict(zip(names, combo, strict=True))
            if self.ok(values):
                yield point(values)

    def sample(self, n: int, rng: random.Random) -> list[Point]:
        """About ``n`` distinct valid points spread over every knob. A space of at most
        :data:`ENUMERABLE` combinations is enumerated and sampled (every point when it has
        no more than ``n``); a bigger one is drawn as a Latin hypercube (each knob's values
        used about evenly), every other point with the knobs that have a default at it, the
        invalid draws redrawn; where draws find too few valid points, a space of at most
        :data:`SPARSE_ENUMERABLE` is enumerated after all."""

        def enumerated() -> list[Point]:
            every = list(self.points())
            return every if len(every) <= n else rng.sample(every, n)

        if self.size <= ENUMERABLE:
            return enumerated()
        out: dict[Point, None] = {}
        for _ in range(50):
            columns = []
            for k in self.knobs:
                col = [k.values[i * len(k.values) // n] for i in range(n)]
                rng.shuffle(col)
                columns.append(col)
            for i, combo in enumerate(zip(*columns, strict=True)):
                values = {k.name: v for k, v in zip(self.knobs, combo, strict=True)}
                if i % 2:
                    plain = {k.name: k.default for k in self.knobs if k.default is not None}
                    if self.ok({**values, **plain}):
                        values.update(plain)
                if self.ok(values):
                    out.setdefault(point(values), None)
                if len(out) >= n:
                    return list(out)
        return enumerated() if self.size <= SPARSE_ENUMERABLE else list(out)

    def neighbours(self, p: Point, steps: Mapping[str, int]) -> list[Point]:
        """Valid points one move away from ``p``: +-``steps[name]`` indices along an ordered
        knob (clamped to its ends), every other value of an unordered one."""
        here = dict(p)
        out: dict[Point, None] = {}
        for k in self.knobs:
            if k.name not in here:
                continue
            i = k.values.index(here[k.name])
            if k.ordered:
                s = steps.get(k.name, 1)
                moves = {min(len(k.values) - 1, i + s), max(0, i - s)} - {i}
            else:
                moves = set(range(len(k.values))) - {i}
            for j in sorted(moves):
                values = {**here, k.name: k.values[j]}
                if self.ok(values):
                    out.setdefault(point(values), None)
                elif k.ordered:  # the nearest valid value in that direction
                    d = 1 if j > i else -1
                    for jj in range(j + d, len(k.values) if d > 0 else -1, d):
                        values = {**here, k.name: k.values[jj]}
                        if self.ok(values):
                            out.setdefault(point(values), None)
                            break
        out.pop(p, None)
        return list(out)


@dataclass(frozen=True)
class Batch:
    """What the callback returns: per point, its per-round values (None: it failed), and
    what the batch cost (any unit the budget is in)."""

    values: dict[Point, list[float] | None]
    cost: float


#: ``measure(points, rounds, stage)``: measure ``points`` together in ``rounds`` interleaved
#: rounds (stage: 'halving-N', 'refine-N' or 'confirm')
Measure = Callable[[Sequence[Point], int, str], Batch]


@dataclass(frozen=True)
class Step:
    """One point measured in one batch: the search trace."""

    stage: str
    point: Point
    rounds: int
    median: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "knobs": dict(self.point),
            "rounds": self.rounds,
            "median": self.median,
        }


@dataclass
class Outcome:
    """The search's answer: ``best`` is what the confirmation supports (None: no leader beat
    the naive way in it); ``confirmation`` holds every point of that round."""

    space: Space
    best: Point | None
    leaders: list[Point]  # in order of their confirmation medians
    naive: Point
    references: dict[str, Point]
    controls: dict[Point, dict[str, Point]]
    confirmation: dict[Point, list[float] | None]
    trace: list[Step]
    spent: float
    budget: float
    evaluated: int  # distinct points of the space measured

    def median(self, p: Point) -> float | None:
        v = self.confirmation.get(p)
        return statistics.median(v) if v else None

    def versus(self, p: Point, ref: Point) -> Comparison | None:
        """``p`` over ``ref``, round by round in the confirmation (ratio < 1: p is cheaper)."""
        a, b = self.confirmation.get(p), self.confirmation.get(ref)
        if not a or not b or len(a) != len(b):
            return None
        return compare_rounds(a, b)

    def to_dict(self) -> dict[str, Any]:
        return {
            "space": self.space.name,
            "space_size": self.space.size,
            "valid_points": self.space.valid_points.n,
            "valid_points_exact": self.space.valid_points.exact,
            "evaluated": self.evaluated,
            "budget": self.budget,
            "spent": self.spent,
            "best": dict(self.best) if self.best else None,
            "leaders": [dict(p) for p in self.leaders],
            "trace": [s.to_dict() for s in self.trace],
        }


def _median(v: list[float] | None) -> float:
    return statistics.median(v) if v else math.inf


def _halving_start(budget: float, size: int, top: int) -> int:
    """The most points a halving from FIRST_ROUNDS rounds down to ``top`` leaders can start
    with inside ``budget`` candidate-rounds (each batch costs rounds + 1 per point)."""
    n = max(top, min(size, 4096))
    while n > top:
        cost, m, r = 0.0, n, FIRST_ROUNDS
        while True:
            cost += m * (r + 1)
            if m <= top:
                break
            m, r = max(top, m // 2), min(HALVING_MAX_ROUNDS, r * 2)
        if cost <= budget:
            return n
        n = int(n * 0.8)
    return top


def search(
    space: Space,
    measure: Measure,
    budget: float,
    naive: Point,
    references: Mapping[str, Point] | None = None,
    controls: Callable[[Point], dict[str, Point]] | None = None,
    seed: int = 0,
    top: int = LEADERS,
    confirm_rounds: int = CONFIRM_ROUNDS,
    stop: Callable[[], bool] | None = None,
    left: Callable[[], float] | None = None,
) -> Outcome:
    """Find the cheapest point of ``space`` within ``budget`` (in the unit of
    :attr:`Batch.cost`; planned as candidate-rounds, one calibration run per point and batch
    included). ``naive`` and ``references`` (e.g. the floor) join the confirmation, and so do
    each leader's ``controls`` (e.g. its data control and never-modified limit). ``stop``,
    polled between batches, ends the exploration early (the confirmation still runs);
    ``left``, if given, says how much of the budget the exploration has left (in the unit of
    the cost; live, from the clock and what a candidate-round has cost so far), instead of
    the budget less what was spent and what the confirmation will need."""
    rng = random.Random(seed)
    refs = dict(references or {})
    trace: list[Step] = []
    spent = 0.0
    seen: set[Point] = set()
    stop = stop or (lambda: False)

    def run(points: Sequence[Point], rounds: int, stage: str) -> dict[Point, list[float] | None]:
        nonlocal spent
        got = measure(points, rounds, stage)
        spent += got.cost
        for p in points:
            v = got.values.get(p)
            trace.append(Step(stage, p, rounds, statistics.median(v) if v else None))
        if stage != "confirm":
            seen.update(points)
        return got.values

    per_confirm = confirm_rounds + 1
    n_controls = len(controls(naive)) if controls else 0
    reserve = (top * (1 + n_controls) + 1 + len(refs)) * per_confirm
    explore = max(0.0, budget - reserve)

    def remaining() -> float:
        return left() if left is not None else explore - spent

    # 1. successive halving
    n0 = _halving_start(explore * HALVING_SHARE, space.valid_points.n, top)
    alive = space.sample(n0, rng)
    rounds, level = FIRST_ROUNDS, 0
    ranked: list[Point] = []
    while alive and (level == 0 or not stop()):  # the first level always runs
        level += 1
        got = run(alive, rounds, f"halving-{level}")
        ranked = sorted((p for p in alive if got.get(p)), key=lambda p: _median(got[p]))
        if len(ranked) <= top:
            break
        alive = ranked[: max(top, len(ranked) // 2)]
        rounds = min(HALVING_MAX_ROUNDS, rounds * 2)
        if len(alive) * (rounds + 1) > remaining() - explore * (1 - HALVING_SHARE):
            break
    leaders = ranked[:top]

    # 2. compass search around the leaders
    steps = {k.name: max(1, len(k.values) // 4) for k in space.knobs if k.ordered}
    level = 0
    while leaders and not stop():
        near: dict[Point, None] = {}
        for p in leaders:
            for q in space.neighbours(p, steps):
                if q not in seen:
                    near.setdefault(q, None)
        batch = list(leaders) + list(near)
        affordable = int(remaining() // (REFINE_ROUNDS + 1))
        if len(near) == 0 or affordable <= len(leaders):
            if len(near) == 0 and any(s > 1 for s in steps.values()):
                steps = {k: max(1, s // 2) for k, s in steps.items()}
                continue
            break
        if len(batch) > affordable:  # the best leader's neighbours first
            batch = batch[:affordable]
        level += 1
        got = run(batch, REFINE_ROUNDS, f"refine-{level}")
        ranked = sorted((p for p in batch if got.get(p)), key=lambda p: _median(got[p]))
        if not ranked:
            break
        if ranked[0] == leaders[0]:  # no better neighbour: look closer
            if all(s == 1 for s in steps.values()):
                leaders = ranked[:top]
                break
            steps = {k: max(1, s // 2) for k, s in steps.items()}
        leaders = ranked[:top]

    # 3. confirmation: leaders, naive, references and each leader's controls, together
    ctrl = {p: controls(p) for p in leaders} if controls else {}
    points: dict[Point, None] = dict.fromkeys([*leaders, naive, *refs.values()])
    for named in ctrl.values():
        points.update(dict.fromkeys(named.values()))
    confirmation = run(list(points), confirm_rounds, "confirm")
    order = sorted(
        (p for p in leaders if confirmation.get(p)), key=lambda p: _median(confirmation[p])
    )
    best = None
    for p in order:
        a, b = confirmation.get(p), confirmation.get(naive)
        if a and b and len(a) == len(b):
            c = compare_rounds(a, b)
            if c.ratio < 1 and c.differs:
                best = p
                break
    return Outcome(
        space,
        best,
        order,
        naive,
        refs,
        ctrl,
        confirmation,
        trace,
        spent,
        budget,
        len(seen),
    )


def exhaustive(
    space: Space, measure: Measure, rounds: int = CONFIRM_ROUNDS, chunk: int = 64
) -> dict[Point, float]:
    """Every valid point measured (in interleaved chunks): its median. The reference a search
    is judged against (benchmarks/advise_search.py)."""
    out: dict[Point, float] = {}
    pts = list(space.points())
    for i in range(0, len(pts), chunk):
        got = measure(pts[i : i + chunk], rounds, "exhaustive").values
        out.update({p: _median(v) for p, v in got.items() if v})
    return out
