"""The patch workload's knobs, validation, CPU needs and label: code that keeps running while
a field of it is rewritten (see :mod:`smclab.workloads.patch.codegen`)."""

from __future__ import annotations

from smclab.errors import SpecError
from smclab.isa import vocabulary as vocab
from smclab.model.experiment import Experiment
from smclab.model.knobs import Knob, check_choice

#: what the patch workload rewrites
PATCH_KINDS = ("imm", "rel32", "cross", "int3", "link")
#: where a patch's store goes: the code, the same store into data (control), or a data cell
#: the code loads its value from (no code is modified)
PATCH_INTO = ("code", "data", "cell")
#: the executing side of a cross-modifying patch: no protocol, or wait for the writer's flag
#: and serialize with one of these (names of smclab.isa.vocabulary.BARRIERS), or wait while
#: the writer has it serialized (membarrier PRIVATE_EXPEDITED_SYNC_CORE)
XMC = ("none", "cpuid", "serialize", "membarrier")
PATCH_RATES = tuple(1 << k for k in range(17))


def splits_field(exp: Experiment) -> bool:
    """Whether the patched 4-byte field crosses an 8-byte boundary (or a cache line): a
    store to it is not guaranteed atomic, so another thread may fetch a torn instruction."""
    return bool(exp.patch_kind != "int3" and exp.field_at % 8 > 4)


def _field_label(exp: Experiment) -> str:
    split = splits_field(exp) and exp.patch_into == "code"
    return f"field@{exp.field_at}" + (" (split field)" if split else "")


KNOBS = (
    Knob(
        "patch_kind",
        "imm",
        "choice",
        "patch: what is rewritten: an imm32, a call rel32, an imm32 by a writer thread on"
        " another CPU (cross), an int3 over an instruction byte, a jmp rel32 to a new block"
        " (link).",
        PATCH_KINDS,
    ),
    Knob("rate", 1, "int", "patch: patch every N iterations (a power of two: 1, 16, 256, 4096)."),
    Knob(
        "patch_into",
        "code",
        "choice",
        "patch: where the store goes: the code, data (control: the same stores into data"
        " memory), or a data cell the code loads from (no code modified).",
        PATCH_INTO,
        label="into={value}",
    ),
    Knob(
        "xmc",
        "none",
        "choice",
        "patch cross: the executing thread's cross-modifying-code protocol: none, or wait"
        " for the writer's flag and serialize (cpuid or serialize), or wait while the writer"
        " serializes it (membarrier SYNC_CORE, where the kernel has it).",
        XMC,
    ),
    Knob(
        "field_at",
        8,
        "int",
        "patch: offset of the patched 4-byte field (int3: byte) in its 64-byte line.",
        label=_field_label,
    ),
)


def head(exp: Experiment) -> str:
    return f"patch {exp.patch_kind} every {exp.rate}"


def cpus(exp: Experiment) -> int:
    """Two CPUs when a writer thread on another CPU patches (kind cross), else one."""
    return 2 if exp.patch_kind == "cross" else 1


def needs(exp: Experiment) -> list[tuple[str, tuple[str, ...]]]:
    barrier = vocab.BARRIERS.get(exp.xmc)  # membarrier is the kernel's, not the CPU's
    return [(exp.xmc, barrier.flags if barrier else ())]


def iterations_per_patch(exp: Experiment) -> int:
    return int(exp.rate)


def validate(exp: Experiment) -> None:
    for k in KNOBS:
        if k.choices:
            check_choice(k.name, getattr(exp, k.name), k.choices)
    if exp.rate not in PATCH_RATES:
        raise SpecError(f"rate must be a power of two from 1 to 65536, got {exp.rate}")
    if not 0 <= exp.field_at < 64:
        raise SpecError(f"field_at must be an offset in a 64-byte line (0..63), got {exp.field_at}")
    if exp.xmc != "none" and exp.patch_kind != "cross":
        raise SpecError(
            "xmc (the cross-modifying-code protocol) only applies to patch_kind 'cross'"
        )
    if exp.patch_kind == "int3" and exp.patch_into == "cell":
        raise SpecError(
            "a breakpoint is written into the code: patch_into 'cell' does not apply to int3"
        )
    if exp.patch_kind == "cross" and exp.patch_into == "code" and splits_field(exp):
        raise SpecError(
            f"a 4-byte patch at line offset {exp.field_at} crosses an 8-byte boundary, so"
            " the executing thread could fetch a torn instruction: use field_at % 8 <= 4"
        )
