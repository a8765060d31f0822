"""The jit-block workload's catalog variants."""

from __future__ import annotations

from smclab.isa import vocabulary as vocab
from smclab.isa.strategies import STRATEGIES, Strategy
from smclab.workloads.advice import Variant


def strategy_expects(s: Strategy) -> tuple[str, ...]:
    """What a strategy's listing must show."""
    out: list[str] = ["call    r13"]
    if s.write:
        method = vocab.COPIES[s.write]
        out += method.mnemonics
        if s.reverse and method.rep:
            out.append("std")
    return tuple(out) + around_the_write(s)


def around_the_write(s: Strategy) -> tuple[str, ...]:
    """What a jit strategy's listing shows besides the write: clears, per-line instructions,
    the barrier, the remap's syscall, the I-cache eviction's call."""
    out: list[str] = []
    if s.clear:
        out += vocab.clear(s.clear).mnemonics
    for op in (s.flush, s.prefetch):
        if op:
            out += vocab.line_op(op).mnemonics
    out += vocab.BARRIERS[s.barrier].mnemonics
    if s.mapping in ("remap", "flip"):
        out.append("syscall")
    if s.evict:
        out.append("call    0x")
    return tuple(out)


def variants() -> list[Variant]:
    return [
        Variant(s.id, "jit-block", s.summary, {"strategy": s.id}, strategy_expects(s))
        for s in STRATEGIES.values()
    ]
