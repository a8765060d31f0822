"""The patch workload's workarounds: how an inline cache (or a trace link) can be updated.

naive = patching the imm32 of the running code every iteration; floor = the same stores into
data memory (the code is never modified). The space: what is patched (an imm32, a call's
rel32, a jmp's link; by this CPU or another) x where the new value goes (the code, or a data
cell the code loads) x the cross-modifying protocol x where the field sits in its line; its
points do the naive way's work (see :func:`same_work`), the workload's validation says which
combinations exist. What does less (patching less often) or may run stale code (another CPU
patching code with no protocol) are :func:`alternatives`, measured and reported beside it.
"""

from __future__ import annotations

from typing import Any

from smclab.model.experiment import Experiment, field_default
from smclab.model.search import Knob, Space
from smclab.workloads.advice import Candidate, CandidateSet, experiment_ok
from smclab.workloads.patch.spec import PATCH_INTO, PATCH_KINDS, XMC

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


#: how often the naive way patches: the work (how often the JIT must update the site)
RATE = 1
#: ways that patch less often (less work: reported beside the search, never ranked with it)
LESS_OFTEN = (16, 256, 4096)


def same_work(values: dict[str, Any]) -> bool:
    """The running code gets a new value every iteration, safely: a kind that carries a value
    (not int3, a breakpoint), written where the code takes it from (not the ``data`` control),
    every iteration, and from another CPU only with a protocol or through a data cell (without
    one the executing side may run the old code: the stale-code probe)."""
    return bool(
        values["patch_kind"] in CELL
        and values["patch_into"] != "data"
        and values["rate"] == RATE
        and not (
            values["patch_kind"] == "cross"
            and values["patch_into"] == "code"
            and values["xmc"] == "none"
        )
    )


def field_moves(values: dict[str, Any]) -> bool:
    """Whether the field's place in its line is a knob of this point: only where the patch
    goes into the code (a cell patch writes the cell; where the unpatched field would sit is
    no choice, so its points differ in nothing but noise, and are one point)."""
    return bool(values["patch_into"] == "code" or values["field_at"] == field_default("field_at"))


def space(host: dict[str, Any]) -> Space:
    """Patch kind x where the store goes x the cross-modifying protocol x where the field sits
    in its line; the rate held at the naive way's (see :func:`alternatives`)."""
    knobs = (
        Knob("patch_kind", PATCH_KINDS, ordered=False),
        Knob("patch_into", PATCH_INTO, ordered=False, default="code"),
        Knob("xmc", XMC, ordered=False, default="none"),
        Knob("field_at", tuple(range(64))),
    )
    return Space(
        "patch",
        knobs,
        {**P, "rate": RATE},
        lambda v: same_work(v) and field_moves(v) and experiment_ok(v),
    )


def name(knobs: dict[str, Any]) -> str:
    """``imm-cell``, ``cross-xmc-cpuid``, ``link-field-4``, ``imm-every-16`` (the knobs at
    their defaults unnamed)."""
    v = {k: knobs.get(k, field_default(k)) for k in ("patch_into", "xmc", "field_at", "rate")}
    out = str(knobs.get("patch_kind", field_default("patch_kind")))
    if v["patch_into"] != "code":
        out += f"-{v['patch_into']}"
    if v["xmc"] != "none":
        out += f"-xmc-{v['xmc']}"
    if v["field_at"] != field_default("field_at"):
        out += f"-field-{v['field_at']}"
    if v["rate"] != RATE:
        out += f"-every-{v['rate']}"
    return out


def alternatives(host: dict[str, Any]) -> list[Candidate]:
    """Not the same work: the naive patch less often, and another CPU patching the code with
    no protocol (its executing side may run the old code)."""
    out: list[dict[str, Any]] = [{**P, "patch_kind": "cross"}]
    out += [{**P, "rate": rate} for rate in LESS_OFTEN]
    return [Candidate(name(k), k, fresh=False) for k in out]


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
    if exp.field_at != naive.field_at and not cell:
        steps.append(f"place the patched field at byte {exp.field_at} of its 64-byte line")
    if exp.rate != naive.rate:
        steps.append(f"patch once every {exp.rate} iterations (batch the updates)")
    return "; ".join(steps)


def controls(knobs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A code patch's ``data`` control: the same stores into data memory, the code never
    modified (what modifying the code costs); a cell patch modifies none (no control)."""
    if knobs.get("patch_into", "code") != "code":
        return {}
    return {"data": {**knobs, "patch_into": "data"}}


SET = CandidateSet(
    "patch",
    Candidate("naive: imm", dict(P)),
    Candidate("floor: imm into data", {**P, "patch_into": "data"}, fresh=False),
    None,
    how_to,
    floor_note="the same stores into data memory",
    space=space,
    controls=controls,
    name=name,
    alternatives=alternatives,
)
