"""The patch workload's workarounds: how an inline cache (or a trace link) can be updated.

naive = patching the imm32 of the running code every iteration; floor = the same stores into
data memory (the code is never modified). Candidates: keep the value in a data cell the code
loads, patch a call's rel32 or link a jmp instead, let another CPU patch (with and without the
cross-modifying-code protocol), and patch less often.
"""

from __future__ import annotations

from typing import Any

from smclab.model.experiment import Experiment
from smclab.workloads.advice import Candidate, CandidateSet

P = {"workload": "patch"}
KIND = {
    "imm": "patch the imm32 in the running code",
    "rel32": "patch the rel32 of a call (a call-target cache)",
    "link": "emit a new block and link it by rewriting a jmp rel32",
    "cross": "let a thread on another CPU patch the imm32 (the executing thread runs on)",
    "int3": "insert or remove an int3",
}
#: the same, with the value in a data cell (no code is modified)
CELL = {
    "imm": "keep the value in a data cell the code loads (mov eax,[cell]) and rewrite the cell",
    "rel32": "call through a data cell (call [cell]) and rewrite the cell",
    "link": "end the block with jmp [cell] and rewrite the cell",
    "cross": "let a thread on another CPU rewrite a data cell the code loads",
}


def candidates(host: dict[str, Any]) -> list[Candidate]:
    out = [
        Candidate("imm-cell", {**P, "patch_into": "cell"}),
        Candidate("rel32", {**P, "patch_kind": "rel32"}),
        Candidate("rel32-cell", {**P, "patch_kind": "rel32", "patch_into": "cell"}),
        Candidate("link", {**P, "patch_kind": "link"}),
        Candidate("link-cell", {**P, "patch_kind": "link", "patch_into": "cell"}),
        # without the protocol the executing side may still run the old code: not fresh
        Candidate("cross", {**P, "patch_kind": "cross"}, fresh=False),
    ]
    # the safe protocols (serialize is left out where the CPU lacks it; membarrier fails as
    # unavailable where the kernel lacks it); their correctness: the stale-code probe
    for xmc in ("cpuid", "serialize", "membarrier"):
        out.append(Candidate(f"cross-xmc-{xmc}", {**P, "patch_kind": "cross", "xmc": xmc}))
    for rate in (16, 256, 4096):  # fewer patches: less work, not the same work
        out.append(Candidate(f"imm-every-{rate}", {**P, "rate": rate}, fresh=False))
    return out


def how_to(exp: Experiment, naive: Experiment, host: dict[str, Any] | None = None) -> str:
    cell = exp.patch_into == "cell"
    steps = [CELL[exp.patch_kind] if cell else KIND[exp.patch_kind]]
    if exp.patch_into == "data":
        steps.append("store into data memory only (the control)")
    if exp.xmc == "membarrier":
        steps.append(
            "the writer calls membarrier(PRIVATE_EXPEDITED_SYNC_CORE) after the patch (registered"
            " once); the executing thread waits for its flag and runs on"
        )
    elif exp.xmc != "none":
        steps.append(f"the executing thread waits for the writer's flag, then runs {exp.xmc}")
    if exp.rate != naive.rate:
        steps.append(f"patch once every {exp.rate} iterations (batch the updates)")
    return "; ".join(steps)


SET = CandidateSet(
    "patch",
    Candidate("naive: imm", dict(P)),
    Candidate("floor: imm into data", {**P, "patch_into": "data"}, fresh=False),
    candidates,
    how_to,
    floor_note="the same stores into data memory",
)
