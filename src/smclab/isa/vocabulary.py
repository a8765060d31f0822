"""The instruction vocabulary: one frozen record per copy method, barrier, call kind, prefetch
hint, cache-line flush, pad and region clear.

A record holds every fact about its name: what it does (one line), the CPU flags it needs (as
in /proc/cpuinfo), the mnemonics a listing of its code shows and, where the record owns its
code, the encoder that emits it with :class:`~smclab.isa.asm.Asm`. Everything else (the
experiment's knob choices and validation, the code generator, the catalog, advise) reads the
registries below *when it runs*, never a copy taken at import time: adding a record to a list
here adds the knob value, its code, its catalog variants and their listing checks.

The order of each list is the order of the knob's choices (the first record is its default).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from iced_x86 import MemoryOperand

from smclab.isa.asm import Asm, C, Code, R, Register, mem

__all__ = [
    "BARRIERS",
    "CALLS",
    "CLEARS",
    "COPIES",
    "DEMOTES",
    "EMIT_CLEARS",
    "EVICTS",
    "FLUSHES",
    "JIT_PREFETCHES",
    "NATIVES",
    "PADS",
    "PREFETCHES",
    "Barrier",
    "CallKind",
    "Clear",
    "CopyMethod",
    "LineOp",
    "Native",
    "Pad",
    "Term",
    "clear",
    "line_op",
]


@dataclass(frozen=True)
class Term:
    """What every record has (records are written positionally: name, description, ...)."""

    name: str
    description: str  # one line
    mnemonics: tuple[str, ...] = ()  # text a listing of its code shows
    flags: tuple[str, ...] = ()  # CPU flags needed, as in /proc/cpuinfo


SSE2, AVX, AVX512 = ("sse2",), ("avx",), ("avx512f",)


# --- copy methods: how n bytes move from [rsi] to [rdi] -----------------------------------

#: the load and the register of an unrolled copy of each width
_UNROLLED: dict[int, tuple[Code, Register]] = {
    1: (C.MOV_R8_RM8, R.AL),
    8: (C.MOV_R64_RM64, R.RAX),
    16: (C.MOVDQU_XMM_XMMM128, R.XMM0),
    32: (C.VEX_VMOVDQU_YMM_YMMM256, R.YMM0),
    64: (C.EVEX_VMOVDQU64_ZMM_K1Z_ZMMM512, R.ZMM0),
}
#: the load of a ``rep stos`` fill unit into rax (zero-extended where narrower)
_FILL_LOAD: dict[int, Code] = {1: C.MOVZX_R64_RM8, 8: C.MOV_R64_RM64}
#: stores that bypass the caches
_NONTEMPORAL = frozenset(
    {C.MOVNTI_M64_R64, C.MOVNTDQ_M128_XMM, C.VEX_VMOVNTDQ_M256_YMM, C.EVEX_VMOVNTDQ_M512_ZMM}
)


@dataclass(frozen=True)
class CopyMethod(Term):
    """Unrolled loads and stores of one width (the load and register of the width, the record's
    store), or a ``rep`` string instruction (``store`` None): ``rep movs``, or with ``fill``
    ``rep stos`` of the source's first unit (a store-only string: nothing else of the source is
    read). Clobbers rax, rcx, rsi, rdi and xmm0/ymm0/zmm0; ``rep`` strings leave rdi (``movs``
    also rsi) past the data."""

    width: int = field(kw_only=True)  # bytes per store: the payload must be a multiple of it
    store: Code | None = field(kw_only=True)
    fill: bool = field(default=False, kw_only=True)  # rep stos: repeats the source's first unit

    @property
    def rep(self) -> bool:
        return self.store is None

    @property
    def load(self) -> Code | None:
        return None if self.store is None else _UNROLLED[self.width][0]

    @property
    def reg(self) -> Register:
        return R.RAX if self.store is None else _UNROLLED[self.width][1]

    @property
    def nontemporal(self) -> bool:
        return self.store in _NONTEMPORAL

    @property
    def aligned(self) -> bool:
        """Its stores need width-aligned destinations (movntdq and wider; movnti does not)."""
        return self.nontemporal and self.width > 8

    @property
    def wide(self) -> bool:
        """Leaves upper vector state dirty: needs vzeroupper before returning to SSE code."""
        return self.reg in (R.YMM0, R.ZMM0)

    def emit_string(self, a: Asm) -> None:
        """The ``rep`` string instruction (rcx units from [rsi] to [rdi] are set up)."""
        if self.fill:  # rax = the source's first unit, then rep stos
            a.rm(_FILL_LOAD[self.width], R.RAX, mem(R.RSI))
            a.rep_stos(self.width)
        else:
            a.rep_movs(self.width)

    def emit(self, a: Asm, nbytes: int, reverse: bool = False) -> None:
        """Copy ``nbytes`` (a multiple of the width) from [rsi] to [rdi]."""
        load = self.load
        if load is None or self.store is None:
            a.ri(C.MOV_RM64_IMM32, R.RCX, nbytes // self.width)
            if reverse:  # std; point at the last unit; rep movs backwards; cld
                a.rm(C.LEA_R64_M, R.RSI, mem(R.RSI, nbytes - self.width))
                a.rm(C.LEA_R64_M, R.RDI, mem(R.RDI, nbytes - self.width))
                a.op(C.STD)
            self.emit_string(a)
            if reverse:
                a.op(C.CLD)
            return
        offsets = range(0, nbytes, self.width)
        for off in reversed(offsets) if reverse else offsets:
            a.rm(load, self.reg, mem(R.RSI, off))
            a.mr(self.store, mem(R.RDI, off), self.reg)


#: name, width, store (None: rep movs), CPU flags, the listing's mnemonic, description
_COPY_ROWS: list[tuple[str, int, Code | None, tuple[str, ...], str, str]] = [
    ("rep-movsb", 1, None, (), "rep movsb", "rep movsb: the seed's string copy, byte units"),
    ("rep-movsq", 8, None, (), "rep movsq", "rep movsq: the string copy in 8-byte units"),
    ("mov8", 1, C.MOV_RM8_R8, (), "mov     [rdi],al", "unrolled 1-byte mov"),
    ("mov64", 8, C.MOV_RM64_R64, (), "mov     [rdi", "unrolled 8-byte mov"),
    ("mov64-nt", 8, C.MOVNTI_M64_R64, SSE2, "movnti", "unrolled 8-byte non-temporal movnti"),
    ("sse2", 16, C.MOVDQU_XMMM128_XMM, SSE2, "movdqu", "unrolled 16-byte movdqu"),
    ("sse2-nt", 16, C.MOVNTDQ_M128_XMM, SSE2, "movntdq", "unrolled 16-byte non-temporal movntdq"),
    ("avx", 32, C.VEX_VMOVDQU_YMMM256_YMM, AVX, "vmovdqu", "unrolled 32-byte vmovdqu"),
    ("avx-nt", 32, C.VEX_VMOVNTDQ_M256_YMM, AVX, "vmovntdq", "unrolled 32-byte NT"),
    (
        "avx512",
        64,
        C.EVEX_VMOVDQU64_ZMMM512_K1Z_ZMM,
        AVX512,
        "vmovdqu64",
        "unrolled 64-byte vmovdqu64",
    ),
    ("avx512-nt", 64, C.EVEX_VMOVNTDQ_M512_ZMM, AVX512, "vmovntdq", "unrolled 64-byte NT"),
]
_COPIES = [
    CopyMethod(name, what, (mnemonic,), flags, width=width, store=store)
    for name, width, store, flags, mnemonic, what in _COPY_ROWS
] + [
    CopyMethod(
        "rep-stosb",
        "rep stosb: a store-only string, the payload's first byte (ret) n times",
        ("rep stosb",),
        width=1,
        store=None,
        fill=True,
    )
]


# --- barriers ------------------------------------------------------------------------------


def _ops(*codes: Code) -> Callable[[Asm], object]:
    """An encoder emitting operand-less instructions."""

    def emit(a: Asm) -> None:
        for code in codes:
            a.op(code)

    return emit


def _lock_or(a: Asm) -> None:
    a.mi(C.OR_RM32_IMM8, mem(R.RSP), 0, lock=True)


def _cpuid(a: Asm) -> None:  # leaf 0 (clobbers eax, ebx, ecx, edx: the loops keep nothing there)
    a.rr(C.XOR_R32_RM32, R.EAX, R.EAX).op(C.CPUID)


@dataclass(frozen=True)
class Barrier(Term):
    """An instruction sequence between the copy and the call (or after a jit write)."""

    emit: Callable[[Asm], object] = field(default=_ops(), kw_only=True)


_BARRIERS = [
    Barrier("none", "no barrier"),
    Barrier("mfence", "orders all earlier loads and stores", ("mfence",), emit=_ops(C.MFENCE)),
    Barrier("lfence", "waits for earlier instructions to finish", ("lfence",), emit=_ops(C.LFENCE)),
    Barrier("sfence", "orders earlier stores", ("sfence",), emit=_ops(C.SFENCE)),
    Barrier("lock-or", "lock or [rsp],0: a full barrier", ("lock or",), emit=_lock_or),
    Barrier("cpuid", "cpuid leaf 0: architecturally serializing", ("cpuid",), emit=_cpuid),
    Barrier(
        "serialize",
        "serialize: the serializing instruction",
        ("serialize",),
        ("serialize",),
        emit=_ops(C.SERIALIZE),
    ),
    Barrier(
        "mfence+lfence", "mfence, then lfence", ("mfence", "lfence"), emit=_ops(C.MFENCE, C.LFENCE)
    ),
]


# --- call kinds (their code: smclab.workloads.seed.codegen) ---------------------------------


@dataclass(frozen=True)
class CallKind(Term):
    """How the seed loop reaches the freshly written slot so that its ret comes back."""

    near: bool = field(default=False, kw_only=True)  # needs layout 'near' (rel32: 2 GiB)
    unrolled: bool = field(default=False, kw_only=True)  # the loop is unrolled over the ring
    source: bool = field(default=False, kw_only=True)  # calls the payload, never the copy


_CALLS = [
    CallKind("indirect", "call r13: an indirect call to the slot (the seed)", ("call    r13",)),
    CallKind("direct", "call rel32 to each slot", ("call    0x",), near=True, unrolled=True),
    CallKind("source", "call the original payload, never the copy", ("call    0x",), source=True),
    CallKind("jmp", "push the return address, jmp r13", ("jmp     r13",)),
    CallKind("push-ret", "push the return address and the slot, ret", ("push    r13",)),
    CallKind("retpoline", "call r13 through a retpoline thunk", ("pause", "mov     [rsp],r13")),
]


# --- instructions on one cache line: prefetch hints and flushes ---------------------------


@dataclass(frozen=True)
class LineOp(Term):
    """One instruction on the cache line of a memory operand (None: no instruction)."""

    code: Code | None = field(default=None, kw_only=True)

    def emit(self, a: Asm, m: MemoryOperand) -> None:
        if self.code is not None:
            a.m(self.code, m)


_NO_PREFETCH = LineOp("none", "no prefetch")
_CLDEMOTE = LineOp(
    "cldemote",
    "demote the line toward a shared cache",
    ("cldemote",),
    ("cldemote",),
    code=C.CLDEMOTE_M8,
)
_PREFETCHW = LineOp(
    "prefetchw", "fetch for writing", ("prefetchw",), ("3dnowprefetch",), code=C.PREFETCHW_M8
)
_PREFETCHT0 = LineOp("prefetcht0", "fetch into every level", ("prefetcht0",), code=C.PREFETCHT0_M8)
_PREFETCHT1 = LineOp("prefetcht1", "fetch into L2 and up", ("prefetcht1",), code=C.PREFETCHT1_M8)
_FLUSHES = [
    LineOp("clflush", "write back, invalidate", ("clflush",), ("clflush",), code=C.CLFLUSH_M8),
    LineOp(
        "clflushopt",
        "clflush, weakly ordered",
        ("clflushopt",),
        ("clflushopt",),
        code=C.CLFLUSHOPT_M8,
    ),
    LineOp("clwb", "write back, may stay cached", ("clwb",), ("clwb",), code=C.CLWB_M8),
]


# --- pads: what follows the payload's ret -------------------------------------------------


@dataclass(frozen=True)
class Pad(Term):
    """The instruction repeated after the payload's ret up to its size."""

    emit: Callable[[Asm], object] = field(kw_only=True)

    @property
    def raw(self) -> bytes:
        a = Asm()
        self.emit(a)
        return a.encode(0)


_PADS = [
    Pad("nop", "nop: harmless if run past the ret (the seed)", ("nop",), emit=_ops(C.NOPD)),
    Pad("int3", "int3: traps if run past the ret", ("int3",), emit=_ops(C.INT3)),
    Pad("ud2", "ud2: faults if run past the ret", ("ud2",), emit=_ops(C.UD2)),
]


# --- region clears of the jit strategies (their code: smclab.codegen.jit) -----------------


@dataclass(frozen=True)
class Clear(Term):
    """How a jit strategy clears the region before writing the block."""


_CLEARS = [
    Clear("byte-per-line", "store one byte (int3) into every line", ("mov     byte ptr [rdi",)),
    Clear(
        "two-bytes-per-line",
        "store the first and the last byte of every line",
        ("mov     byte ptr [rdi+0x3f]",),
    ),
    Clear("rep-stosb", "rep stosb the whole region with int3", ("rep stosb",)),
    Clear("scattered", "one byte per line, lines in a scattered order", ("mov     byte ptr [rdi",)),
    Clear("nt", "movnti int3 bytes over the whole region", ("movnti",)),
    Clear("clzero", "clzero every line (AMD)", ("clzero",), ("clzero",)),
]


#: the clears only the jit-emit workload uses (jit_smc_test's ``jit_clr*``; zeroes, as it does)
_EMIT_CLEARS = [
    Clear("memset", "glibc memset the region to zero (a native call)", ("call    rax",)),
    Clear("memset-ret", "glibc memset the region with ret (0xc3)", ("call    rax",)),
    Clear("rep-stosq", "rep stosq the region with zeroes", ("rep stosq",)),
    Clear(
        "straddle",
        "a 2-byte zero store across every other line boundary (offset 63)",
        ("mov     word ptr [rdi+0x3f]",),
    ),
    Clear(
        "scatter",
        "vpscatterdd: 4 zero bytes into every line, 16 lines per instruction",
        ("vpscatterdd",),
        AVX512,
    ),
    Clear("sse2-nt", "movntdq zeroes over the whole region", ("movntdq",), SSE2),
    Clear("sse2-nt-line", "one 16-byte movntdq of zeroes per line", ("movntdq",), SSE2),
    Clear("avx-nt", "vmovntdq (32 bytes) zeroes over the whole region", ("vmovntdq",), AVX),
    Clear("avx-nt-line", "one 32-byte vmovntdq of zeroes per line", ("vmovntdq",), AVX),
    Clear("avx512-nt", "vmovntdq (64 bytes) zeroes over every line", ("vmovntdq",), AVX512),
]


# --- native calls (glibc) ------------------------------------------------------------------


@dataclass(frozen=True)
class Native(Term):
    """A C library function the generated code calls (``mov rax, address; call rax``). Its
    address is the one in the process that builds the code, which is the worker that runs it;
    a listing made elsewhere (``smclab show``) shows that process's address instead."""

    def address(self) -> int:
        fn = getattr(ctypes.CDLL(None), self.name)
        return int(ctypes.cast(fn, ctypes.c_void_p).value or 0)

    def emit(self, a: Asm) -> None:
        """Call it (System V: arguments in rdi, rsi, rdx; clobbers the caller-saved registers)."""
        a.ri(C.MOV_R64_IMM64, R.RAX, self.address())
        a.r(C.CALL_RM64, R.RAX)


_NATIVES = [
    Native("memcpy", "glibc memcpy (a native call)", ("call    rax",)),
    Native("memset", "glibc memset (a native call)", ("call    rax",)),
]


_T = TypeVar("_T", bound=Term)


def _registry(records: list[_T]) -> dict[str, _T]:
    out = {r.name: r for r in records}
    if len(out) != len(records):
        raise ValueError("two vocabulary records share a name")
    return out


#: the registries, in knob-choice order (the first record is the knob's default)
COPIES: dict[str, CopyMethod] = _registry(_COPIES)
BARRIERS: dict[str, Barrier] = _registry(_BARRIERS)
CALLS: dict[str, CallKind] = _registry(_CALLS)
#: the seed's ``prefetch`` knob: a hint on the next write destination
PREFETCHES: dict[str, LineOp] = _registry([_NO_PREFETCH, _PREFETCHW, _PREFETCHT0])
#: the jit strategies' prefetch hints on every line of the region
JIT_PREFETCHES: dict[str, LineOp] = _registry([_PREFETCHW, _PREFETCHT1])
FLUSHES: dict[str, LineOp] = _registry(_FLUSHES)
PADS: dict[str, Pad] = _registry(_PADS)
CLEARS: dict[str, Clear] = _registry(_CLEARS)
#: clears only jit-emit strategies use (jit-block's strategies are one per CLEARS record)
EMIT_CLEARS: dict[str, Clear] = _registry(_EMIT_CLEARS)
#: line hints only jit-emit strategies use, before or after writing
DEMOTES: dict[str, LineOp] = _registry([_CLDEMOTE])
NATIVES: dict[str, Native] = _registry(_NATIVES)


def line_op(name: str) -> LineOp:
    """A per-line instruction of a strategy by name: a flush, a prefetch hint or cldemote."""
    for registry in (FLUSHES, JIT_PREFETCHES, DEMOTES):
        if name in registry:
            return registry[name]
    raise KeyError(name)


def clear(name: str) -> Clear:
    """A region clear by name (jit-block's or jit-emit's)."""
    return CLEARS[name] if name in CLEARS else EMIT_CLEARS[name]


# -- issue 10 probes: what the seed loop may do to the line it has just written ------------

#: the seed's ``evict`` knob: one instruction per written line, right after the copy
EVICTS: dict[str, LineOp] = _registry(
    [LineOp("none", "leave the written line where it is"), *_FLUSHES[1:], _CLDEMOTE]
)
