"""`smclab advise`: the fastest way found on this host, by a search over the workload's space.

Each workload's naive way, floor and space (or candidate list) are a :class:`CandidateSet` in
:mod:`smclab.suites.workarounds` (one module per workload). :func:`run_advise` runs the shared
search engine (:mod:`smclab.model.search`) with the worker as its measurement, within a budget
of seconds; the table ranks what its confirmation measured together: the leaders, the naive
way, the floor and each leader's controls (its own data control: the same code storing into
data; its never-modified limit: the same calls, no store).
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.model.result import MeasurementError, Result, Stats
from smclab.model.rounds import Comparison
from smclab.model.search import (
    CONFIRM_ROUNDS,
    LEADERS,
    Batch,
    Outcome,
    Point,
    Space,
    point,
    search,
)
from smclab.model.stats import comparison, differs
from smclab.run.interrupt import Interrupted
from smclab.run.machine import fingerprint
from smclab.store import StoreError
from smclab.store.lock import Holder
from smclab.suites.workarounds import SETS, Candidate, CandidateSet

#: how :func:`run_advise` ranks the candidates (said under the table)
RANKING = (
    "ranked by verdict (helps, no effect, hurts, failed), then by ns/iter: a row measured"
    " faster than one above it is not distinguishable from the naive loop"
)
VERDICT_ORDER = ("helps", "no effect", "hurts", "failed")
#: the goal advise prints: the best candidate executing fresh code within this factor of its
#: own data control (what freshness alone costs it)
GOAL_TO_DATA = 1.05


@dataclass
class Entry:
    id: str
    experiment: Experiment
    result: Result
    naive: Result
    floor: Result
    fresh: bool
    #: the controls measured with it ('data', 'limit'), by name
    controls: dict[str, Result] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result.error is None and self.result.ticks_per_iter is not None

    @property
    def ticks(self) -> Stats:
        """The candidate's ticks per iteration (only for an entry that is :attr:`ok`)."""
        return _ticks(self.result)

    def versus(self, ref: Result) -> Comparison | None:
        """``ref`` over this candidate, round by round (how many times faster it is)."""
        return comparison(_ticks(ref), self.ticks)

    @property
    def speedup(self) -> float:
        """Naive over candidate: the median of the per-round ratios (of medians without)."""
        c = self.versus(self.naive)
        return c.ratio if c else _ticks(self.naive).median / self.ticks.median

    @property
    def to_floor(self) -> float:
        c = comparison(self.ticks, _ticks(self.floor))
        return c.ratio if c else self.ticks.median / _ticks(self.floor).median

    def to_control(self, name: str) -> float | None:
        """This candidate over its control ``name`` (round by round where both have rounds)."""
        r = self.controls.get(name)
        if not self.ok or r is None or r.error or r.ticks_per_iter is None:
            return None
        c = comparison(self.ticks, r.ticks_per_iter)
        return c.ratio if c else self.ticks.median / r.ticks_per_iter.median

    @property
    def verdict(self) -> str:
        if not self.ok:
            return "failed"
        if not differs(self.ticks, _ticks(self.naive)):
            return "no effect"
        return "helps" if self.speedup > 1 else "hurts"

    def rank_key(self) -> tuple[int, float]:
        """Verdicts in :data:`VERDICT_ORDER`, then the fastest first."""
        return VERDICT_ORDER.index(self.verdict), self.ticks.median if self.ok else 0

    def how_to(self, naive: Experiment) -> str:
        """What to do (the workload's how-to), and what it costs against its controls."""
        text = SETS[self.experiment.workload].how_to(self.experiment, naive, self.result.host)
        costs = [
            f"{ratio:.2f}x {what}"
            for name, what in (
                ("data", "the same stores into data"),
                ("limit", "calling code never modified"),
            )
            if (ratio := self.to_control(name)) is not None
        ]
        return text + (f"; it costs {' and '.join(costs)}" if costs else "")

    def to_dict(self, naive: Experiment) -> dict[str, Any]:
        r = self.result
        return {
            "id": self.id,
            "label": self.experiment.label(),
            "experiment": self.experiment.to_dict(),
            "executes_fresh_copy": self.fresh,
            "ticks_per_iter": r.ticks_per_iter.to_dict() if r.ticks_per_iter else None,
            "ns_per_iter": r.ns_per_iter.to_dict() if r.ns_per_iter else None,
            "speedup_over_naive": self.speedup if self.ok else None,
            "speedup_interval": (
                [c.low, c.high] if self.ok and (c := self.versus(self.naive)) else None
            ),
            "rounds": len(r.rounds),
            "ratio_to_floor": self.to_floor if self.ok else None,
            "ratio_to_data_control": self.to_control("data"),
            "ratio_to_never_modified": self.to_control("limit"),
            "controls": {
                name: {"label": r.experiment.label(), "ticks_per_iter": _median_of(r)}
                for name, r in self.controls.items()
            },
            "verdict": self.verdict,
            "how_to": self.how_to(naive),
            "error": r.error,
        }


@dataclass
class Advice:
    workload: str
    host: dict[str, Any]
    naive: Entry
    floor: Entry
    entries: list[Entry]  # ranked (see RANKING)
    #: candidate id -> why this host cannot run it (a CPU flag, a second CPU)
    skipped: dict[str, str] = field(default_factory=dict)
    #: the search behind it (None: an Advice made from stored or synthetic results)
    search: Outcome | None = None
    #: the entry the search's confirmation supports (None: none beat the naive way in it)
    best_id: str | None = None

    @property
    def recommended(self) -> list[Entry]:
        """The fresh-code entries that help, the one the search's confirmation supports first."""
        ok = [e for e in self.entries if e.ok and e.fresh and e.verdict == "helps"]
        if self.search is not None:  # only what the confirmation supports is recommended
            ok = [e for e in ok if e.id == self.best_id] + [e for e in ok if e.id != self.best_id]
            return ok if self.best_id is not None else []
        return ok

    @property
    def goal(self) -> dict[str, Any]:
        """Whether the best candidate executing fresh code is within GOAL_TO_DATA of its own
        data control (the fastest such candidate, whatever its verdict against the naive loop;
        None where it has no data control)."""
        fresh = [e for e in self.entries if e.ok and e.fresh]
        best = fresh[0] if fresh else None
        ratio = best.to_control("data") if best else None
        return {
            "to_data_control": GOAL_TO_DATA,
            "best": best.id if best else None,
            "best_to_data_control": ratio,
            "best_to_floor": best.to_floor if best else None,
            "met": bool(ratio is not None and ratio <= GOAL_TO_DATA),
        }

    def to_dict(self) -> dict[str, Any]:
        naive = self.naive.experiment
        best = self.recommended[0] if self.recommended else None
        return {
            "workload": self.workload,
            "host": self.host,
            "naive": self.naive.to_dict(naive),
            "floor": self.floor.to_dict(naive),
            "top": best.to_dict(naive) if best else None,
            "goal": self.goal,
            "entries": [e.to_dict(naive) for e in self.entries],
            "skipped": self.skipped,
            "search": self.search.to_dict() if self.search else None,
        }


def _median_of(r: Result) -> float | None:
    return r.ticks_per_iter.median if r.ticks_per_iter else None


def _ticks(r: Result) -> Stats:
    if r.ticks_per_iter is None:
        raise MeasurementError(f"{r.experiment.label()} has no measurement: {r.error}")
    return r.ticks_per_iter


#: seconds a full advise searches by default (the whole command then stays within ~90 s)
DEFAULT_BUDGET = 60.0
QUICK_BUDGET = 20.0
#: min_ms of a measurement while exploring, and in the confirmation
EXPLORE_MS, CONFIRM_MS = 2.0, 10.0
#: what one candidate-round is assumed to cost before any was measured (seconds)
FIRST_GUESS = 0.02
#: what a confirmation candidate-round costs against an exploring one (its min_ms is 5x, the
#: overhead of a measurement the same)
CONFIRM_COST = 2.0
#: points of the pilot batch that measures what a candidate-round costs on this host
PILOT = 12


class LiveMeasure:
    """The search's ``measure`` callback on this host: each batch is one interleaved run of
    the worker (stored under the advise's sweep id); cost in candidate-rounds; it learns
    what a candidate-round takes here, so the search can stop in time."""

    def __init__(
        self,
        session: Any,
        to_candidate: Any,
        extra: dict[Point, Candidate],
        sweep_id: str,
        observer: Any,
        budget_s: float,
    ) -> None:
        self.session, self.to_candidate, self.extra = session, to_candidate, extra
        self.sweep_id, self.observer, self.budget_s = sweep_id, observer, budget_s
        self.started = time.monotonic()
        self.units = 0.0
        self.measured = 0
        self.mark: tuple[float, float] | None = None
        self.results: dict[Point, Result] = {}
        #: candidate id -> why this host cannot run it (never measured)
        self.skipped: dict[str, str] = {}
        self.candidates: dict[Point, Candidate] = {}

    def candidate(self, p: Point) -> Candidate:
        c = self.extra.get(p) or self.to_candidate(p)
        self.candidates[p] = c
        return c

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def per_unit(self) -> float:
        """Seconds a candidate-round has cost here: since the pilot once there is enough to
        tell (the pilot pays the worker's start and first encodings)."""
        if self.mark is not None and self.units - self.mark[1] >= PILOT:
            return (self.elapsed - self.mark[0]) / (self.units - self.mark[1])
        return self.elapsed / self.units if self.units else FIRST_GUESS

    def pilot_done(self) -> None:
        self.mark = (self.elapsed, self.units)

    def __call__(self, points: Sequence[Point], rounds: int, stage: str) -> Batch:
        settings: dict[str, Any] = {
            "repeats": rounds,
            "min_ms": CONFIRM_MS if stage == "confirm" else EXPLORE_MS,
            "events": (),
        }
        runnable: list[tuple[Point, Experiment]] = []
        for p in points:
            try:
                exp = _checked(self.session, self.candidate(p).knobs, **settings)
            except SpecError as e:
                self.skipped[self.candidates[p].id] = str(e)  # this host cannot run it
                continue
            runnable.append((p, exp))
        names = [self.candidates[p].id for p, _ in runnable]

        def progress(done: int, total: int) -> None:
            # measurements so far, of about as many as the budget allows at this pace
            if self.observer is not None:
                now = self.measured + done
                pace = self.elapsed / now if now else FIRST_GUESS
                self.observer.progress(
                    now, max(now, int(now + (self.budget_s - self.elapsed) / pace))
                )

        stop = self.observer.stop if self.observer is not None else None
        results = self.session.run_interleaved(
            [e for _, e in runnable], "advise", names, self.sweep_id, progress, stop
        )
        out: dict[Point, list[float] | None] = dict.fromkeys(points)
        for (p, _), r in zip(runnable, results, strict=True):
            self.results[p] = r
            vals = r.round_values() if r.error is None else []
            out[p] = vals or None
        cost = len(runnable) * (rounds + 1)
        self.units += cost
        self.measured += cost
        return Batch(out, cost)


def run_advise(
    session: Any,
    workload: str = "seed",
    quick: bool = False,
    observer: Any = None,
    rounds: int | None = None,
    budget: float | None = None,
    seed: int | None = None,
) -> Advice:
    """Search the workload's space on this host within ``budget`` seconds (see
    :mod:`smclab.model.search`); rank what the confirmation measured (in ``rounds``
    interleaved rounds, at least :data:`CONFIRM_ROUNDS`)."""
    if workload not in SETS:
        raise SpecError(f"unknown workload '{workload}' (choose from: {', '.join(SETS)})")
    budget_s = budget if budget is not None else QUICK_BUDGET if quick else DEFAULT_BUDGET
    cs = SETS[workload]
    space, to_candidate = cs.search_space(session.host)
    outcome, live = search_here(
        session,
        space,
        to_candidate,
        cs,
        budget_s,
        observer,
        seed,
        f"advise-{workload}",
        max(CONFIRM_ROUNDS, rounds or 0),
    )
    return _advice(workload, session.host, outcome, live)


def search_here(
    session: Any,
    space: Space,
    to_candidate: Callable[[Point], Candidate],
    cs: CandidateSet,
    budget_s: float,
    observer: Any = None,
    seed: int | None = None,
    name: str = "advise",
    confirm_rounds: int = CONFIRM_ROUNDS,
) -> tuple[Outcome, LiveMeasure]:
    """The search over ``space`` on this host within ``budget_s`` seconds, its naive way, floor
    and controls those of ``cs``; every batch stored under one sweep id."""
    if budget_s <= 0:
        raise SpecError(f"budget must be a positive number of seconds, got {budget_s:g}")
    naive_p, floor_p = point({"advise": "naive"}), point({"advise": "floor"})
    extra: dict[Point, Candidate] = {naive_p: cs.naive, floor_p: cs.floor}
    refs = {"floor": floor_p}
    for c in cs.alternatives(session.host) if cs.alternatives else []:
        refs[c.id] = point({"advise": "alternative", "id": c.id})
        extra[refs[c.id]] = c

    def controls(p: Point) -> dict[str, Point]:
        if cs.controls is None or p in extra:
            return {}
        out = {}
        base = to_candidate(p)
        for what, knobs in cs.controls(base.knobs).items():
            cp = point({"advise": what, **knobs})
            extra[cp] = Candidate(f"{base.id} ({what} control)", knobs, fresh=False)
            out[what] = cp
        return out

    sweep_id = f"{name}-{time.strftime('%Y%m%dT%H%M%S')}"
    live = LiveMeasure(session, to_candidate, extra, sweep_id, observer, budget_s)
    space = _runnable_here(space, session, to_candidate, live.skipped)
    grid = {k.name: list(k.values) for k in space.knobs}
    store = session.store
    holder = Holder.current(fingerprint(session.host))
    store.lock_sweep(sweep_id, holder)
    status = "interrupted"
    try:
        store.save_sweep(sweep_id, name, grid, space.size, {})
        n_controls = len(cs.controls({})) if cs.controls else 0
        rng = random.Random(seed)
        # a pilot batch tells what a candidate-round costs here (the budget is in seconds)
        _stored(lambda: live(space.sample(PILOT, rng), 1, "pilot"))
        live.pilot_done()
        units = max(0.0, budget_s - live.elapsed) / live.per_unit()
        per_confirm = (confirm_rounds + 1) * CONFIRM_COST
        confirm = (LEADERS * (1 + n_controls) + 1 + len(refs)) * per_confirm

        def left() -> float:  # candidate-rounds the exploration has left
            return (budget_s - live.elapsed) / live.per_unit() - confirm

        outcome: Outcome = _stored(
            lambda: search(
                space,
                live,
                units,
                naive_p,
                refs,
                controls,
                seed=rng.randrange(1 << 30),
                confirm_rounds=confirm_rounds,
                stop=lambda: left() <= 0,
                left=left,
            )
        )
        status = "done"
    finally:
        with contextlib.suppress(StoreError):
            store.set_sweep_status(sweep_id, status)
        with contextlib.suppress(StoreError):
            store.unlock_sweep(sweep_id, holder)
    return outcome, live


def _checked(session: Any, knobs: dict[str, Any], **settings: Any) -> Experiment:
    """The experiment of ``knobs``, checked for this host (SpecError: why not, less the
    experiment's label a check starts with, so points refused alike read alike)."""
    exp = Experiment(**knobs, **settings)
    try:
        session.check(exp)
    except SpecError as e:
        raise SpecError(str(e).removeprefix(exp.label()).strip()) from None
    return exp


def _runnable_here(
    space: Space, session: Any, to_candidate: Callable[[Point], Candidate], skipped: dict[str, str]
) -> Space:
    """``space`` less the points this host cannot run (a CPU flag, a second CPU), so the search
    spends nothing on them; each one met is recorded in ``skipped`` (its id -> why)."""
    names = [k.name for k in space.knobs]
    known: dict[Point, bool] = {}

    def runs(values: dict[str, Any]) -> bool:
        p = point({n: values[n] for n in names})
        if p not in known:
            known[p] = space.valid(values)
            if known[p]:
                c = to_candidate(p)
                try:
                    _checked(session, c.knobs, events=())
                except SpecError as e:
                    skipped[c.id] = str(e)
                    known[p] = False
        return known[p]

    return dataclasses.replace(space, valid=runs)


def _stored(step: Callable[[], Any]) -> Any:
    """Run ``step``; a stop asked for by a signal ends it as an interruption that stored what
    was measured before (every batch is stored complete; the one in flight is not)."""
    try:
        return step()
    except Interrupted as e:
        raise Interrupted(e.signum, stored=True) from None


def _advice(workload: str, host: dict[str, Any], outcome: Outcome, live: LiveMeasure) -> Advice:
    """The confirmation's points as an Advice: naive, floor, the leaders ranked, each with its
    controls."""
    confirmed = {p: live.results[p] for p in outcome.confirmation if p in live.results}
    for p, what in ((outcome.naive, "naive loop"), (outcome.references["floor"], "floor")):
        r = confirmed.get(p)
        if r is None or r.error or r.ticks_per_iter is None:
            raise MeasurementError(f"the {what} failed: {r.error if r else 'not measured'}")
    n_res, f_res = confirmed[outcome.naive], confirmed[outcome.references["floor"]]

    def entry(p: Point) -> Entry:
        c = live.candidates[p]
        ctrl = {
            name: confirmed[cp]
            for name, cp in outcome.controls.get(p, {}).items()
            if cp in confirmed
        }
        return Entry(c.id, confirmed[p].experiment, confirmed[p], n_res, f_res, c.fresh, ctrl)

    alternatives = [p for n, p in outcome.references.items() if n != "floor"]
    entries = [entry(p) for p in [*outcome.leaders, *alternatives] if p in confirmed]
    entries.sort(key=Entry.rank_key)
    advice = Advice(
        workload, host, entry(outcome.naive), entry(outcome.references["floor"]), entries
    )
    advice.skipped = dict(live.skipped)
    advice.search = outcome
    advice.best_id = live.candidates[outcome.best].id if outcome.best else None
    return advice
