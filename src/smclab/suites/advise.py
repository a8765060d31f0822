"""`smclab advise`: workarounds measured on this host, ranked against the naive loop and a floor.

seed workload: naive = the seed's loop (4K, step 0); floor = the far-store control (the same
copy into data memory, calling code that is not modified: the cost of copying without
executing what was copied). Candidates search the knobs a JIT author controls: write-ahead
distance, ring size (region rotation), copy method, batching several payloads per write,
prefetching the next write, how fresh code is called, barriers (which do nothing).
jit-block workload: naive = ``plain``, floor = ``call-only``; candidates = every strategy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from smclab.isa import vocabulary as vocab
from smclab.isa.strategies import STRATEGIES
from smclab.model.experiment import Experiment, field_default
from smclab.model.knobs import SpecError
from smclab.model.result import MeasurementError, Result
from smclab.model.stats import differs
from smclab.suites.catalog import VARIANTS
from smclab.suites.sweep import Grid, Interrupted, Plan, run_sweep

K = 1024
RING = {"buffer": 16 * K, "step": 64}
NEAR_DIRECT = {"call": "direct", "layout": "near"}

#: one line of advice per knob value a candidate changes (the how-to is composed from these)
HOW_TO = {
    "ahead": "write {ahead} B ahead of the executing slot",
    "buffer": "in a {buffer_k} KB ring of slots",
    "copy": "copy with {copy}",
    "batch": "{batch} payloads per copy",
    "call": "call each slot with call rel32, not call reg (no indirect mispredicts)",
    "layout": "code buffer within ±2 GiB of its caller",
    "prefetch": "{prefetch} the next destination",
    "barrier": "add {barrier} {placement}",
}


#: the barriers tried (names of vocabulary.BARRIERS): the fences and serializing instructions;
#: not sfence (orders stores only) nor lock-or (a full barrier, as mfence)
BARRIER_CANDIDATES = ("mfence", "lfence", "cpuid", "serialize", "mfence+lfence")


def copy_candidates() -> list[str]:
    """The naive loop's copy, then every unrolled copy method with temporal stores."""
    default = field_default("copy")
    return [default] + [
        m.name for m in vocab.COPIES.values() if not (m.rep or m.nontemporal or m.name == default)
    ]


def prefetch_candidates() -> list[str]:
    """Every prefetch hint of the seed's prefetch knob."""
    return [name for name in vocab.PREFETCHES if name != field_default("prefetch")]


@dataclass(frozen=True)
class Candidate:
    id: str
    knobs: dict[str, Any]
    fresh: bool = True  # executes freshly copied code every iteration


def seed_candidates() -> list[Candidate]:
    out: list[Candidate] = []
    copies = copy_candidates()
    for ahead in (64, 256, 1024, 4 * K):
        out.append(Candidate(f"ahead-{ahead}", {**RING, "ahead": ahead}))
    for buf in (4 * K, 64 * K):
        out.append(
            Candidate(f"ring-{buf // K}k-ahead-1024", {"buffer": buf, "step": 64, "ahead": 1024})
        )
    for c in copies[1:]:
        out.append(Candidate(f"ahead-1024-{c}", {**RING, "ahead": 1024, "copy": c}))
    for c in copies:
        out.append(
            Candidate(f"ahead-1024-{c}-direct", {**RING, "ahead": 1024, "copy": c, **NEAR_DIRECT})
        )
    for k in (2, 4, 8):
        out.append(
            Candidate(
                f"ahead-1024-batch-{k}-direct", {**RING, "ahead": 1024, "batch": k, **NEAR_DIRECT}
            )
        )
        out.append(
            Candidate(
                f"ahead-1024-avx-batch-{k}-direct",
                {**RING, "ahead": 1024, "copy": "avx", "batch": k, **NEAR_DIRECT},
            )
        )
    for pf in prefetch_candidates():
        out.append(
            Candidate(
                f"ahead-1024-avx-{pf}-direct",
                {**RING, "ahead": 1024, "copy": "avx", "prefetch": pf, **NEAR_DIRECT},
            )
        )
    for b in BARRIER_CANDIDATES:
        out.append(Candidate(f"barrier-{b}", {"barrier": b}))
    out.append(Candidate("direct-step-0", NEAR_DIRECT))
    return out


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
    def speedup(self) -> float:
        return self.naive.ticks_per_iter.median / self.result.ticks_per_iter.median

    @property
    def to_floor(self) -> float:
        return self.result.ticks_per_iter.median / self.floor.ticks_per_iter.median

    @property
    def verdict(self) -> str:
        if not self.ok:
            return "failed"
        if not differs(self.result.ticks_per_iter, self.naive.ticks_per_iter):
            return "no effect"
        return "helps" if self.speedup > 1 else "hurts"

    def how_to(self, naive: Experiment) -> str:
        if self.experiment.workload == "jit-block":
            return STRATEGIES[self.experiment.strategy].summary
        values = self.experiment.to_dict()
        steps = []
        for knob, text in HOW_TO.items():
            if knob == "placement" or values[knob] == getattr(naive, knob):
                continue
            steps.append(text.format(buffer_k=values["buffer"] // K, **values))
        return "; ".join(steps) or "the naive loop"

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
    entries: list[Entry]  # ranked, fastest first (failed last)

    @property
    def recommended(self) -> list[Entry]:
        return [e for e in self.entries if e.ok and e.fresh and e.verdict == "helps"]

    def to_dict(self) -> dict[str, Any]:
        naive = self.naive.experiment
        best = self.recommended[0] if self.recommended else None
        return {
            "workload": self.workload,
            "host": self.host,
            "naive": self.naive.to_dict(naive),
            "floor": self.floor.to_dict(naive),
            "top": best.to_dict(naive) if best else None,
            "entries": [e.to_dict(naive) for e in self.entries],
        }


def candidates(workload: str) -> tuple[Candidate, Candidate, list[Candidate]]:
    """(naive, floor, the rest) for a workload."""
    if workload == "seed":
        naive = Candidate("naive", {})
        floor = Candidate("floor: far-store", {"store": "far"}, fresh=False)
        return naive, floor, seed_candidates()
    if workload == "jit-block":
        naive = Candidate("naive: plain", {"workload": "jit-block", "strategy": "plain"})
        floor = Candidate(
            "floor: call-only", {"workload": "jit-block", "strategy": "call-only"}, fresh=False
        )
        rest = [
            Candidate(v.id, {"workload": "jit-block", **v.knobs})
            for v in VARIANTS.values()
            if v.workload == "jit-block" and v.id not in ("plain", "call-only")
        ]
        return naive, floor, rest
    raise SpecError(f"unknown workload '{workload}' (choose from: seed, jit-block)")


def run_advise(
    session: Any, workload: str = "seed", quick: bool = False, observer: Any = None
) -> Advice:
    """Measure naive, floor and every candidate this host can run; rank them."""
    settings = {"repeats": 3 if quick else 5, "min_ms": 5.0 if quick else 20.0, "events": ()}
    naive, floor, rest = candidates(workload)
    planned: list[tuple[Candidate, Experiment]] = []
    for cand in [naive, floor, *rest]:
        try:
            exp = Experiment(**cand.knobs, **settings)
            session.check(exp)
        except SpecError:
            continue  # this CPU cannot run it (e.g. avx512): left out of the ranking
        planned.append((cand, exp))
    sweep_id = f"advise-{workload}-{time.strftime('%Y%m%dT%H%M%S')}"
    plan = Plan(
        Grid({}, sweep_id),
        sweep_id,
        [e for _, e in planned],
        {},
        len(planned),
        suite="advise",
        labels={e.code_key(): c.id for c, e in planned},
    )
    run = run_sweep(session, plan, observer)
    if run.interrupted:
        raise Interrupted(run.interrupted)
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
    entries.sort(key=lambda e: (not e.ok, e.result.ticks_per_iter.median if e.ok else 0))
    return Advice(workload, session.host, entry(naive.id), entry(floor.id), entries)
