"""The jit-block write strategies, as data.

A jit-block experiment writes a block of code (a straight line of ``add rax, 1`` ending in
``ret``) into a region every iteration and calls it. A :class:`Strategy` says how the block is
written; the code generator (:mod:`smclab.codegen.jit`) interprets these fields and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from smclab.model.experiment import REQUIRED_FLAGS


@dataclass(frozen=True)
class Strategy:
    id: str
    summary: str
    features: tuple[str, ...] = ()
    write: str | None = "mov64"  # a copy method (model.experiment.COPY_METHODS), None: no write
    reverse: bool = False  # write back to front
    clear: str | None = None  # clear the region first (CLEARS)
    flush: str | None = None  # clflush / clflushopt / clwb every line of the region
    flush_after: bool = False  # flush after writing instead of before
    prefetch: str | None = None  # prefetchw / prefetcht1 every line before writing
    guard: bool = False  # ud2 right after the block's ret
    regions: int = 1  # rotate over N regions
    evict: int = 0  # run a chain of jumps this many bytes long first (evicts the I-cache)
    barrier: str = "none"  # a barrier after writing (codegen.barriers)
    mapping: str = "rwx"  # rwx: one RWX mapping; dual: RW + RX views of a memfd; remap


CLEARS = {
    "byte-per-line": "store one byte (int3) into every line",
    "two-bytes-per-line": "store the first and the last byte of every line",
    "rep-stosb": "rep stosb the whole region with int3",
    "scattered": "one byte per line, lines in a scattered order",
    "nt": "movnti int3 bytes over the whole region",
    "clzero": "clzero every line (AMD)",
}
FLUSH_FEATURES = {"clflush": ("clflush",), "clflushopt": ("clflushopt",), "clwb": ("clwb",)}


def _copy_features(method: str) -> tuple[str, ...]:
    return REQUIRED_FLAGS.get(method, ())


def _catalog() -> list[Strategy]:
    out = [
        Strategy("plain", "write the block with 8-byte moves, then call it"),
        Strategy(
            "reverse", "write the block back to front with 8-byte moves, then call it", reverse=True
        ),
        Strategy("call-only", "no write: call the (pre-written) block; the floor", write=None),
    ]
    for method in (
        "rep-movsb",
        "rep-movsq",
        "mov64-nt",
        "sse2",
        "sse2-nt",
        "avx",
        "avx-nt",
        "avx512",
        "avx512-nt",
    ):
        for reverse in (False, True):
            out.append(
                Strategy(
                    f"copy-{method}{'-rev' if reverse else ''}",
                    f"copy the block with {method}{', back to front' if reverse else ''}",
                    _copy_features(method),
                    write=method,
                    reverse=reverse,
                )
            )
    for clear, what in CLEARS.items():
        features = ("clzero",) if clear == "clzero" else ()
        out.append(
            Strategy(f"clear-{clear}", f"{what}, then write the block", features, clear=clear)
        )
    for flush, features in FLUSH_FEATURES.items():
        for after in (False, True):
            when = "after" if after else "before"
            out.append(
                Strategy(
                    f"{flush}-{when}",
                    f"{flush} every line of the region {when} writing",
                    features,
                    flush=flush,
                    flush_after=after,
                )
            )
    for hint in ("prefetchw", "prefetcht1"):
        features = ("3dnowprefetch",) if hint == "prefetchw" else ()
        out.append(
            Strategy(
                hint, f"{hint} every line of the region before writing", features, prefetch=hint
            )
        )
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
    for barrier, features in (("mfence", ()), ("cpuid", ()), ("serialize", ("serialize",))):
        out.append(
            Strategy(f"{barrier}-after", f"{barrier} after writing", features, barrier=barrier)
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
