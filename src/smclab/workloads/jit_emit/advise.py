"""The jit-emit workload's workarounds: every jit-emit variant of the catalog.

naive = ``emit-plain`` (the generator writes in place, then the block is called); floor =
``emit-call-only`` (the same generator into data memory, calling a block never rewritten: as
jit_smc_test's ``jit_only``).
"""

from __future__ import annotations

from typing import Any

from smclab.isa.strategies import EMIT_STRATEGIES
from smclab.model.experiment import Experiment
from smclab.workloads.advice import Candidate, CandidateSet
from smclab.workloads.jit_emit.catalog import variants

NAIVE, FLOOR = "emit-plain", "emit-call-only"
WORKLOAD = "jit-emit"


def candidates(host: dict[str, Any]) -> list[Candidate]:
    return [
        Candidate(v.id, {"workload": WORKLOAD, **v.knobs})
        for v in variants()
        if v.id not in (NAIVE, FLOOR)
    ]


def how_to(exp: Experiment, naive: Experiment, host: dict[str, Any] | None = None) -> str:
    text = EMIT_STRATEGIES[exp.strategy].summary
    if exp.region_layout == "paged":
        text += "; each region on its own page at the same page offset"
    return text


SET = CandidateSet(
    WORKLOAD,
    Candidate(f"naive: {NAIVE}", {"workload": WORKLOAD, "strategy": "plain"}),
    Candidate(f"floor: {FLOOR}", {"workload": WORKLOAD, "strategy": "call-only"}, fresh=False),
    candidates,
    how_to,
    floor_note="the same generator into data memory, a block never rewritten",
)
