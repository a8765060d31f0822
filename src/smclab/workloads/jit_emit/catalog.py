"""The jit-emit workload's catalog variants."""

from __future__ import annotations

from typing import Any

from smclab.isa import vocabulary as vocab
from smclab.isa.strategies import EMIT_STRATEGIES, WRITES, Strategy
from smclab.workloads.advice import Variant
from smclab.workloads.jit_block.catalog import around_the_write


def emit_expects(s: Strategy) -> tuple[str, ...]:
    """What a jit-emit strategy's listing must show: the generator's stores, then the rest."""
    out: list[str] = ["call    r13", "mov     [rdi"]
    if s.write and s.copies:
        out += WRITES[s.write].mnemonics
        if s.reverse and s.write in vocab.COPIES and vocab.COPIES[s.write].rep:
            out.append("std")
    if s.ud2_first:
        out.append("mov     word ptr [rdi],0xb0f")
    return tuple(out) + around_the_write(s)


def variants() -> list[Variant]:
    out = []
    for s in EMIT_STRATEGIES.values():
        knobs: dict[str, Any] = {"strategy": s.id}
        out.append(Variant(f"emit-{s.id}", "jit-emit", s.summary, knobs, emit_expects(s)))
        if s.regions > 1:
            out.append(
                Variant(
                    f"emit-{s.id}-paged",
                    "jit-emit",
                    f"{s.summary}; each region on its own page at the same page offset",
                    {**knobs, "region_layout": "paged"},
                    emit_expects(s),
                )
            )
    return out
