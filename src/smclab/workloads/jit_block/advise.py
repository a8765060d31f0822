"""The jit-block workload's workarounds: every write strategy of the catalog.

naive = ``plain`` (8-byte moves, then call); floor = ``call-only`` (no write).
"""

from __future__ import annotations

from typing import Any

from smclab.isa.strategies import STRATEGIES
from smclab.model.experiment import Experiment
from smclab.workloads.advice import Candidate, CandidateSet
from smclab.workloads.jit_block.catalog import variants

NAIVE, FLOOR = "plain", "call-only"


def candidates(host: dict[str, Any]) -> list[Candidate]:
    return [
        Candidate(v.id, {"workload": "jit-block", **v.knobs})
        for v in variants()
        if v.id not in (NAIVE, FLOOR)
    ]


def how_to(exp: Experiment, naive: Experiment, host: dict[str, Any] | None = None) -> str:
    return STRATEGIES[exp.strategy].summary


SET = CandidateSet(
    "jit-block",
    Candidate(f"naive: {NAIVE}", {"workload": "jit-block", "strategy": NAIVE}),
    Candidate(f"floor: {FLOOR}", {"workload": "jit-block", "strategy": FLOOR}, fresh=False),
    candidates,
    how_to,
)
