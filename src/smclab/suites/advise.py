"""`smclab advise`: workarounds measured on this host, ranked against the naive loop and a floor.

Each workload's naive way, floor and candidates are a :class:`CandidateSet` in
:mod:`smclab.suites.workarounds` (one module per workload).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.model.result import MeasurementError, Result, Stats
from smclab.model.rounds import Comparison
from smclab.model.stats import comparison, differs
from smclab.run.interrupt import Interrupted
from smclab.suites.session import run_settings
from smclab.suites.sweep import Grid, Plan, run_sweep
from smclab.suites.workarounds import SETS, Candidate

#: how :func:`run_advise` ranks the candidates (said under the table)
RANKING = (
    "ranked by verdict (helps, no effect, hurts, failed), then by ns/iter: a row measured"
    " faster than one above it is not distinguishable from the naive loop"
)
VERDICT_ORDER = ("helps", "no effect", "hurts", "failed")
#: the goal advise prints: the best candidate executing fresh code within this factor of the floor
GOAL_TO_FLOOR = 1.2


@dataclass
class Entry:
    id: str
    experiment: Experiment
    result: Result
    naive: Result
    floor: Result
    fresh: bool

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
        return SETS[self.experiment.workload].how_to(self.experiment, naive, self.result.host)

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

    @property
    def recommended(self) -> list[Entry]:
        return [e for e in self.entries if e.ok and e.fresh and e.verdict == "helps"]

    @property
    def goal(self) -> dict[str, Any]:
        """Whether the best candidate executing fresh code is within GOAL_TO_FLOOR of the floor
        (the fastest such candidate, whatever its verdict against the naive loop)."""
        fresh = [e for e in self.entries if e.ok and e.fresh]
        best = fresh[0] if fresh else None
        return {
            "to_floor": GOAL_TO_FLOOR,
            "best": best.id if best else None,
            "best_to_floor": best.to_floor if best else None,
            "met": bool(best and best.to_floor <= GOAL_TO_FLOOR),
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
        }


def _ticks(r: Result) -> Stats:
    if r.ticks_per_iter is None:
        raise MeasurementError(f"{r.experiment.label()} has no measurement: {r.error}")
    return r.ticks_per_iter


def candidates(workload: str, host: dict[str, Any]) -> tuple[Candidate, Candidate, list[Candidate]]:
    """(naive, floor, the rest) for a workload on a host."""
    if workload not in SETS:
        raise SpecError(f"unknown workload '{workload}' (choose from: {', '.join(SETS)})")
    cs = SETS[workload]
    return cs.naive, cs.floor, cs.candidates(host)


def run_advise(
    session: Any,
    workload: str = "seed",
    quick: bool = False,
    observer: Any = None,
    rounds: int | None = None,
) -> Advice:
    """Measure naive, floor and every candidate this host can run (in ``rounds`` interleaved
    rounds; default: 5 quick, 7 full); rank them."""
    settings: dict[str, Any] = {**run_settings(quick, rounds), "events": ()}
    naive, floor, rest = candidates(workload, session.host)
    planned: list[tuple[Candidate, Experiment]] = []
    skipped: dict[str, str] = {}
    for cand in [naive, floor, *rest]:
        try:
            exp = Experiment(**cand.knobs, **settings)
            session.check(exp)
        except SpecError as e:
            skipped[cand.id] = str(e)  # this host cannot run it (avx512, a second CPU)
            continue
        planned.append((cand, exp))
    sweep_id = f"advise-{workload}-{time.strftime('%Y%m%dT%H%M%S')}"
    plan = Plan(
        Grid({}, sweep_id),
        sweep_id,
        [e for _, e in planned],
        {},
        len(planned),
        suite="advise",
        interleave=True,
        labels={e.code_key(): c.id for c, e in planned},
    )
    run = run_sweep(session, plan, observer)
    if run.interrupted:
        raise Interrupted(run.interrupted, stored=True)
    by_key = {r.experiment.code_key(): r for r in run.results}
    results = {c.id: (c, e, by_key[e.code_key()]) for c, e in planned if e.code_key() in by_key}
    n_res, f_res = results[naive.id][2], results[floor.id][2]
    for res, what in ((n_res, "naive loop"), (f_res, "floor")):
        if res.error or res.ticks_per_iter is None:
            raise MeasurementError(f"the {what} failed: {res.error}")

    def entry(cid: str) -> Entry:
        c, e, r = results[cid]
        return Entry(cid, e, r, n_res, f_res, c.fresh)

    entries = [entry(c.id) for c in rest if c.id in results]
    entries.sort(key=Entry.rank_key)
    return Advice(workload, session.host, entry(naive.id), entry(floor.id), entries, skipped)
