"""The jit-block workload's workarounds: how the block is written (its write strategy).

naive = ``plain`` (8-byte moves, then call); floor = ``call-only`` (no write). The space: every
write strategy that writes the block (``call-only`` writes nothing: the floor), those the CPU
lacks an instruction for left out where advise runs; the block size is the work (how much
code the JIT writes), held at the naive way's.
"""

from __future__ import annotations

from typing import Any

from smclab.isa.strategies import STRATEGIES
from smclab.model.experiment import Experiment, field_default
from smclab.model.search import Knob, Space
from smclab.workloads.advice import Candidate, CandidateSet, experiment_ok

NAIVE, FLOOR = "plain", "call-only"
WORKLOAD = "jit-block"


def same_work(values: dict[str, Any]) -> bool:
    """The block is written every iteration (not the floor's call of a block never written)."""
    return STRATEGIES[values["strategy"]].write is not None


def space(host: dict[str, Any]) -> Space:
    """The write strategies, at the naive way's block size."""
    fixed = {"workload": WORKLOAD, "block": field_default("block")}
    knobs = (Knob("strategy", tuple(STRATEGIES), ordered=False),)
    return Space(WORKLOAD, knobs, fixed, lambda v: same_work(v) and experiment_ok(v))


def name(knobs: dict[str, Any]) -> str:
    """The strategy's id (as the catalog names it)."""
    return str(knobs["strategy"])


def how_to(exp: Experiment, naive: Experiment, host: dict[str, Any] | None = None) -> str:
    return STRATEGIES[exp.strategy].summary


SET = CandidateSet(
    WORKLOAD,
    Candidate(f"naive: {NAIVE}", {"workload": WORKLOAD, "strategy": NAIVE}),
    Candidate(f"floor: {FLOOR}", {"workload": WORKLOAD, "strategy": FLOOR}, fresh=False),
    None,
    how_to,
    space=space,
    name=name,
)
