"""The jit-emit workload's workarounds: how the assembler's block is written and laid out.

naive = ``emit-plain`` (the generator writes in place, then the block is called); floor =
``emit-call-only`` (the same generator into data memory, calling a block never rewritten: as
jit_smc_test's ``jit_only``). The space: emission strategy (every one that writes the block)
x where a rotate-N strategy's regions lie x the generator's store widths; the workload's
validation says which combinations exist. The block size and the instructions emitted
(``mix``) are the work, held at the naive way's.
"""

from __future__ import annotations

from typing import Any

from smclab.isa.strategies import EMIT_STRATEGIES
from smclab.model.experiment import Experiment, field_default
from smclab.model.search import Knob, Space
from smclab.workloads.advice import Candidate, CandidateSet, experiment_ok
from smclab.workloads.jit_emit.spec import EMIT_STORES, REGION_LAYOUTS

NAIVE, FLOOR = "emit-plain", "emit-call-only"
WORKLOAD = "jit-emit"


def same_work(values: dict[str, Any]) -> bool:
    """The block is emitted into code every iteration (not the floor's generator into data)."""
    return EMIT_STRATEGIES[values["strategy"]].write is not None


def space(host: dict[str, Any]) -> Space:
    """Strategy x region layout x store widths, at the naive way's block and mix."""
    fixed = {"workload": WORKLOAD, "block": field_default("block"), "mix": field_default("mix")}
    knobs = (
        Knob("strategy", tuple(EMIT_STRATEGIES), ordered=False),
        Knob("region_layout", REGION_LAYOUTS, ordered=False, default=REGION_LAYOUTS[0]),
        Knob("emit_store", EMIT_STORES, ordered=False, default=EMIT_STORES[0]),
    )
    return Space(WORKLOAD, knobs, fixed, lambda v: same_work(v) and experiment_ok(v))


def name(knobs: dict[str, Any]) -> str:
    """The catalog's id (``emit-rotate-16-paged``), then ``-store-N`` for other store widths."""
    out = f"emit-{knobs['strategy']}"
    if knobs["region_layout"] != REGION_LAYOUTS[0]:
        out += f"-{knobs['region_layout']}"
    if knobs["emit_store"] != EMIT_STORES[0]:
        out += f"-store-{knobs['emit_store']}"
    return out


def how_to(exp: Experiment, naive: Experiment, host: dict[str, Any] | None = None) -> str:
    text = EMIT_STRATEGIES[exp.strategy].summary
    if exp.region_layout == "paged":
        text += "; each region on its own page at the same page offset"
    if exp.emit_store != naive.emit_store:
        text += f"; the generator stores {exp.emit_store}-byte pieces"
    return text


SET = CandidateSet(
    WORKLOAD,
    Candidate(f"naive: {NAIVE}", {"workload": WORKLOAD, "strategy": "plain"}),
    Candidate(f"floor: {FLOOR}", {"workload": WORKLOAD, "strategy": "call-only"}, fresh=False),
    None,
    how_to,
    floor_note="the same generator into data memory, a block never rewritten",
    space=space,
    name=name,
)
