"""The jit-emit workload's knobs, validation, CPU needs and label: a JIT's assembler emitting
a block instruction by instruction (1-4 byte stores, immediates that change every iteration)
with a write strategy, then calling it. It reads jit-block's ``block`` and ``strategy``."""

from __future__ import annotations

from smclab.errors import SpecError
from smclab.isa.strategies import EMIT_STRATEGIES
from smclab.model.experiment import Experiment
from smclab.model.knobs import Knob, check_choice, format_size

#: the instructions the generator emits (see smclab.workloads.jit_emit.codegen)
MIXES = ("add-imm32", "mov-imm32", "mixed")
#: store widths of the generator: 1 (bytes only), 4 (dwords only), mixed (opcode bytes one at a
#: time, then the 4-byte immediate, as jit_smc_test)
EMIT_STORES = ("mixed", "1", "4")
#: where the regions of a rotate-N strategy lie
REGION_LAYOUTS = ("contiguous", "paged")
#: the largest block (its generator is a loop; a bound keeps the regions small)
MAX_EMIT_BLOCK = 64 << 10
READS = ("block", "strategy")

KNOBS = (
    Knob(
        "mix",
        "add-imm32",
        "choice",
        "jit-emit: the instructions emitted: add eax,imm32 (jit_smc_test), mov ecx,imm32"
        " (opcode, ModRM, imm32), or mixed (add, mov and cmp [rsp],imm32: alu + load).",
        MIXES,
    ),
    Knob(
        "emit_store",
        "mixed",
        "choice",
        "jit-emit: store widths of the generator: mixed (opcode bytes one by one, then a"
        " 4-byte immediate, as jit_smc_test), 1 (bytes only) or 4 (4-byte stores only).",
        EMIT_STORES,
        label="emit-store={value}",
    ),
    Knob(
        "region_layout",
        "contiguous",
        "choice",
        "jit-emit: the regions of a rotate-N strategy: contiguous (block apart) or paged (each"
        " on its own page at the same page offset, as separate mmaps: the same I-cache sets).",
        REGION_LAYOUTS,
        label="region-layout={value}",
    ),
)


def head(exp: Experiment) -> str:
    return f"emit {exp.strategy} {format_size(exp.block)}"


def needs(exp: Experiment) -> list[tuple[str, tuple[str, ...]]]:
    return [(exp.strategy, EMIT_STRATEGIES[exp.strategy].features)]


def validate(exp: Experiment) -> None:
    check_choice("strategy", exp.strategy, EMIT_STRATEGIES)
    for k in KNOBS:
        check_choice(k.name.replace("_", "-"), getattr(exp, k.name), k.choices)
    if not 64 <= exp.block <= MAX_EMIT_BLOCK or exp.block % 64:
        raise SpecError(
            f"a jit-emit block must be a multiple of 64 between 64 and"
            f" {format_size(MAX_EMIT_BLOCK)}, got {exp.block}"
        )
    s = EMIT_STRATEGIES[exp.strategy]
    if exp.region_layout != "contiguous" and s.regions == 1:
        raise SpecError(
            f"region layout '{exp.region_layout}' needs a strategy with several regions"
            f" (rotate-N), not '{exp.strategy}'"
        )
