"""The relocate workload's workarounds: where each block is copied before it runs.

naive = one slot reused for every block; floor = the chain run in place, never copied.
The space: every scheme that copies each block before it runs (a double buffer, a ring
written some blocks ahead, the whole trace ahead; ``inplace`` copies nothing, so it is the
floor, not a way of doing the work) x how far ahead a ring is written (1 to
``RING_SLOTS - 1`` blocks); the workload's validation says which combinations exist.
"""

from __future__ import annotations

from typing import Any

from smclab.model.experiment import Experiment
from smclab.model.search import Knob, Space
from smclab.workloads.advice import Candidate, CandidateSet, experiment_ok
from smclab.workloads.relocate.spec import RING_SLOTS, SCHEMES

WORKLOAD = "relocate"
R = {"workload": WORKLOAD}
HOW_TO = {
    "slot": "copy every block into one slot, then run it",
    "double": "alternate between two slots",
    "ring": "copy into a ring of {slots} 512-byte slots, {lead} block(s) ahead of the one running",
    "trace": "copy the whole next pass of the trace ahead, into the other of two buffers",
    "inplace": "run the code in place (no relocation)",
}
#: the scheme that does not relocate (the floor)
FLOOR = "inplace"


def same_work(values: dict[str, Any]) -> bool:
    """Every block is copied before it runs (not the floor's chain run in place)."""
    return bool(values["scheme"] != FLOOR)


def space(host: dict[str, Any]) -> Space:
    """Scheme x ring lead (any host: the workload uses no optional instruction)."""
    knobs = (
        Knob("scheme", SCHEMES, ordered=False),
        Knob("lead", tuple(range(1, RING_SLOTS))),
    )
    return Space(WORKLOAD, knobs, dict(R), lambda v: same_work(v) and experiment_ok(v))


def name(knobs: dict[str, Any]) -> str:
    """``double``, ``ring-lead-4``, ``trace``."""
    if knobs["scheme"] == "ring":
        return f"ring-lead-{knobs['lead']}"
    return str(knobs["scheme"])


def how_to(exp: Experiment, naive: Experiment, host: dict[str, Any] | None = None) -> str:
    return HOW_TO[exp.scheme].format(slots=RING_SLOTS, lead=exp.lead)


SET = CandidateSet(
    WORKLOAD,
    Candidate("naive: slot", {**R, "scheme": "slot"}),
    Candidate(f"floor: {FLOOR}", {**R, "scheme": FLOOR}, fresh=False),
    None,
    how_to,
    floor_note="the same chain run in place, never copied",
    space=space,
    name=name,
)
