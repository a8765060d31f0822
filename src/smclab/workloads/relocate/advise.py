"""The relocate workload's workarounds: where each block is copied before it runs.

naive = one slot reused for every block; floor = the chain run in place, never copied.
Candidates: a double buffer, a ring written ahead (several distances), the whole trace ahead.
"""

from __future__ import annotations

from typing import Any

from smclab.model.experiment import Experiment
from smclab.workloads.advice import Candidate, CandidateSet
from smclab.workloads.relocate.spec import RING_SLOTS

R = {"workload": "relocate"}
HOW_TO = {
    "slot": "copy every block into one slot, then run it",
    "double": "alternate between two slots",
    "ring": "copy into a ring of {slots} 512-byte slots, {lead} block(s) ahead of the one running",
    "trace": "copy the whole next pass of the trace ahead, into the other of two buffers",
    "inplace": "run the code in place (no relocation)",
}


def candidates(host: dict[str, Any]) -> list[Candidate]:
    out = [Candidate("double", {**R, "scheme": "double"})]
    for lead in (1, 2, 4, 6):
        out.append(Candidate(f"ring-lead-{lead}", {**R, "scheme": "ring", "lead": lead}))
    out.append(Candidate("trace", {**R, "scheme": "trace"}))
    return out


def how_to(exp: Experiment, naive: Experiment, host: dict[str, Any] | None = None) -> str:
    return HOW_TO[exp.scheme].format(slots=RING_SLOTS, lead=exp.lead)


SET = CandidateSet(
    "relocate",
    Candidate("naive: slot", {**R, "scheme": "slot"}),
    Candidate("floor: inplace", {**R, "scheme": "inplace"}, fresh=False),
    candidates,
    how_to,
    floor_note="the same chain run in place, never copied",
)
