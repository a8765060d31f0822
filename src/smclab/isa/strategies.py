"""The jit-block write strategies, as data.

A jit-block experiment writes a block of code (a straight line of ``add rax, 1`` ending in
``ret``) into a region every iteration and calls it. A :class:`Strategy` says how the block is
written; the code generator (:mod:`smclab.codegen.jit`) interprets these fields and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from smclab.isa.vocabulary import BARRIERS, CLEARS, COPIES, FLUSHES, JIT_PREFETCHES

#: the copy method of ``plain`` and of every strategy that does not name one; every other copy
#: method is a ``copy-*`` strategy
PLAIN_COPY = "mov64"


@dataclass(frozen=True)
class Strategy:
    id: str
    summary: str
    features: tuple[str, ...] = ()
    write: str | None = PLAIN_COPY  # a copy method (vocabulary.COPIES), None: no write
    reverse: bool = False  # write back to front
    clear: str | None = None  # clear the region first (vocabulary.CLEARS)
    flush: str | None = None  # flush every line of the region (vocabulary.FLUSHES)
    flush_after: bool = False  # flush after writing instead of before
    prefetch: str | None = None  # a hint on every line before writing (vocabulary.JIT_PREFETCHES)
    guard: bool = False  # ud2 right after the block's ret
    regions: int = 1  # rotate over N regions
    evict: int = 0  # run a chain of jumps this many bytes long first (evicts the I-cache)
    barrier: str = "none"  # a barrier after writing (vocabulary.BARRIERS)
    mapping: str = "rwx"  # rwx: one RWX mapping; dual: RW + RX views of a memfd; remap


def _catalog() -> list[Strategy]:
    out = [
        Strategy("plain", "write the block with 8-byte moves, then call it"),
        Strategy(
            "reverse",
            "write the block back to front with 8-byte moves, then call it",
            reverse=True,
        ),
        Strategy("call-only", "no write: call the (pre-written) block; the floor", write=None),
    ]
    for method in COPIES.values():
        if method.name == PLAIN_COPY or method.fill:  # a fill writes no block of code
            continue
        for rev, how in (("", ""), ("-rev", ", back to front")):
            sid, summary = f"copy-{method.name}{rev}", f"copy the block with {method.name}{how}"
            out.append(Strategy(sid, summary, method.flags, method.name, reverse=bool(rev)))
    for clear in CLEARS.values():
        summary = f"{clear.description}, then write the block"
        out.append(Strategy(f"clear-{clear.name}", summary, clear.flags, clear=clear.name))
    for flush in FLUSHES.values():
        out += [
            Strategy(
                f"{flush.name}-{when}",
                f"{flush.name} every line of the region {when} writing",
                flush.flags,
                flush=flush.name,
                flush_after=when == "after",
            )
            for when in ("before", "after")
        ]
    for hint in JIT_PREFETCHES.values():
        summary = f"{hint.name} every line of the region before writing"
        out.append(Strategy(hint.name, summary, hint.flags, prefetch=hint.name))
    out.append(Strategy("ud2-guard", "write the block with a ud2 after its ret", guard=True))
    for n in (2, 4, 8, 16, 32, 64):
        out.append(
            Strategy(
                f"rotate-{n}", f"rotate over {n} regions (write one, call it, next)", regions=n
            )
        )
    for kb in (32, 64):
        out.append(
            Strategy(
                f"evict-icache-{kb}k",
                f"run a {kb} KB chain of jumps first (evicts the I-cache), then write",
                evict=kb * 1024,
            )
        )
    for barrier in ("mfence", "cpuid", "serialize"):
        out.append(
            Strategy(
                f"{barrier}-after",
                f"{barrier} after writing",
                BARRIERS[barrier].flags,
                barrier=barrier,
            )
        )
    out.append(
        Strategy(
            "dual-map",
            "write through an RW view, execute through an RX view of the same memfd (W^X)",
            mapping="dual",
        )
    )
    out.append(
        Strategy(
            "remap", "munmap + mmap a fresh region every iteration, then write", mapping="remap"
        )
    )
    return out


STRATEGIES: dict[str, Strategy] = {s.id: s for s in _catalog()}
