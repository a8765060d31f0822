"""The jit write strategies, as data.

A jit-block experiment writes a block of code (a straight line of ``add rax, 1`` ending in
``ret``) into a region every iteration and calls it; a jit-emit experiment generates the block
in place, instruction by instruction, as a JIT's assembler does. A :class:`Strategy` says how
the block gets written; the code generators (:mod:`smclab.codegen.jit`, :mod:`smclab.codegen.emit`)
interpret these fields and nothing else. :data:`STRATEGIES` are jit-block's (every one also
applies to jit-emit); :data:`EMIT_STRATEGIES` are jit-emit's: those, plus the strategies of
jit_smc_test that jit-block has no counterpart for.
"""

from __future__ import annotations

from dataclasses import dataclass

from smclab.isa.vocabulary import (
    BARRIERS,
    CLEARS,
    COPIES,
    DEMOTES,
    EMIT_CLEARS,
    FLUSHES,
    JIT_PREFETCHES,
    NATIVES,
    LineOp,
)

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
    #: rwx: one RWX mapping; dual: RW + RX views of a memfd; remap: munmap + mmap every
    #: iteration; flip: W^X by mprotect, RW before writing and RX before calling
    mapping: str = "rwx"
    #: flip: pages each mprotect covers from the block's region (at least the block's own)
    flip_pages: int = 1
    # -- read by jit-emit only --------------------------------------------------------
    workloads: tuple[str, ...] = ("jit-block", "jit-emit")
    #: emit into a scratch buffer, then copy with ``write`` (jit-emit copies whenever ``write``
    #: is not the plain 8-byte move; this forces it for that one)
    staged: bool = False
    prefetch_after: bool = False  # the prefetch hint after writing instead of before
    ud2_first: bool = False  # ud2 at the block's start while writing; its first insn last
    after_call: bool = False  # the flush / clear runs after calling the block, not before
    evict_unaligned: bool = False  # the jump chain's 2-byte jumps straddle line pairs

    @property
    def copies(self) -> bool:
        """jit-emit: the block is emitted into scratch memory, then copied."""
        return self.write is not None and (self.staged or self.write != PLAIN_COPY)


def _before_and_after(
    op: LineOp, workloads: tuple[str, ...] = ("jit-block", "jit-emit")
) -> list[Strategy]:
    """A per-line instruction on every line of the region, before or after writing."""
    return [
        Strategy(
            f"{op.name}-{when}",
            f"{op.name} every line of the region {when} writing",
            op.flags,
            flush=op.name,
            flush_after=when == "after",
            workloads=workloads,
        )
        for when in ("before", "after")
    ]


def _evictions(unaligned: bool) -> list[Strategy]:
    """Run a chain of jumps through 32 or 64 KB first (jit_smc_test's ``jit_jmp*``): one per
    line, or (jit-emit only) a 2-byte jump straddling each pair of lines."""
    how = "2-byte jumps straddling line pairs" if unaligned else "jumps"
    return [
        Strategy(
            f"evict-icache-{kb}k" + ("-unaligned" if unaligned else ""),
            f"run a {kb} KB chain of {how} first (evicts the I-cache), then write",
            evict=kb * 1024,
            evict_unaligned=unaligned,
            workloads=("jit-emit",) if unaligned else ("jit-block", "jit-emit"),
        )
        for kb in (32, 64)
    ]


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
        out += _before_and_after(flush)
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
    out += _evictions(unaligned=False)
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
    out += _flips()
    return out


#: page counts of the W^X flip beyond the block's own: a small code heap, and one past Linux's
#: x86 ceiling (33 pages) for flushing the TLB page by page instead of whole
FLIP_PAGES = (8, 64)


def _flips() -> list[Strategy]:
    """W^X by flipping: mprotect RW, write, mprotect RX, call; two syscalls a block, each
    rewriting the page-table entries and flushing their TLB entries."""
    out = [
        Strategy(
            "mprotect-flip",
            "W^X by mprotect: the block's pages RW, write, RX, then call (two syscalls)",
            mapping="flip",
        )
    ]
    for pages in FLIP_PAGES:
        out.append(
            Strategy(
                f"mprotect-flip-{pages}p",
                f"W^X by mprotect over {pages} pages (a code heap): RW, write the block, RX, call",
                mapping="flip",
                flip_pages=pages,
            )
        )
    return out


def _emit_only() -> list[Strategy]:
    """jit_smc_test's strategies that jit-block has no counterpart for (jit-emit only)."""
    emit = ("jit-emit",)
    out = [
        Strategy(
            "copy-mov64",
            "emit into scratch memory, copy with 8-byte moves",
            staged=True,
            workloads=emit,
        ),
        Strategy(
            "copy-memcpy",
            "emit into scratch memory, copy with glibc memcpy",
            write="memcpy",
            workloads=emit,
        ),
    ]
    for clear in EMIT_CLEARS.values():
        summary = f"{clear.description}, then write the block"
        out.append(
            Strategy(f"clear-{clear.name}", summary, clear.flags, clear=clear.name, workloads=emit)
        )
    for name in ("memset", "byte-per-line", "straddle"):
        out.append(
            Strategy(
                f"clear-{name}-reverse",
                f"clear-{name}, then write the block back to front",
                clear=name,
                reverse=True,
                workloads=emit,
            )
        )
    for hint in DEMOTES.values():
        out += _before_and_after(hint, emit)
    out.append(
        Strategy(
            "prefetcht1-after",
            "prefetcht1 every line of the region after writing",
            prefetch="prefetcht1",
            prefetch_after=True,
            workloads=emit,
        )
    )
    for first_clear, how in (
        (None, ""),
        ("memset", ", the rest cleared"),
        ("byte-per-line", ", one byte per line cleared past it"),
    ):
        out.append(
            Strategy(
                "ud2-first" + (f"-clear-{first_clear}" if first_clear else ""),
                f"ud2 at the block's start while writing{how}; its first instruction last",
                clear=first_clear,
                ud2_first=True,
                workloads=emit,
            )
        )
    for flush in ("clflush", "clflushopt"):
        out.append(
            Strategy(
                f"rotate-2-{flush}-after-call",
                f"rotate over 2 regions, {flush} every line of a region after calling it",
                FLUSHES[flush].flags,
                flush=flush,
                regions=2,
                after_call=True,
                workloads=emit,
            )
        )
    out.append(
        Strategy(
            "rotate-2-clear-after-call",
            "rotate over 2 regions, glibc memset a region to zero after calling it",
            clear="memset",
            regions=2,
            after_call=True,
            workloads=emit,
        )
    )
    out += _evictions(unaligned=True)
    out.append(
        Strategy(
            "dual-map-cpuid",
            "write through an RW view, cpuid, execute through an RX view (W^X)",
            barrier="cpuid",
            mapping="dual",
            workloads=emit,
        )
    )
    return out


#: jit-block's strategies (their ids, order and code are pinned)
STRATEGIES: dict[str, Strategy] = {s.id: s for s in _catalog() if "jit-block" in s.workloads}
#: jit-emit's strategies: every jit-block strategy, then the jit-emit-only ones
EMIT_STRATEGIES: dict[str, Strategy] = {
    s.id: s for s in _catalog() + _emit_only() if "jit-emit" in s.workloads
}
#: what a strategy's ``write`` may name: a copy method or a native copy
WRITES = {**COPIES, "memcpy": NATIVES["memcpy"]}
