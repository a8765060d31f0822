"""Stale code: the machine code of the ``stale-code`` probe (does a CPU run code older than
what another CPU already published?).

A *site* ``mov rax, imm64; ret`` sits in two RWX pages; its imm64 is the code's *version*: v
(32 bits) in its low half and a check ``v * CHECK mod 2**32`` in its high half. A writer thread
on one CPU loops: version v+1 into the site's imm64 (by ``store``), optionally
``membarrier(PRIVATE_EXPEDITED_SYNC_CORE)``, then v+1 into a data word. The executing thread
on another CPU loops: read the data word (v_seen), run ``protocol`` (nothing, or a serializing
or fencing instruction), call the site, classify what it returned: *torn* when its check does
not match (bytes of two versions), *stale* when it is older than v_seen (``(v_seen - v) mod
2**32`` in 1..2**31-1), fresh otherwise. A fault in the
site (a torn instruction) is caught by :func:`guard` (a signal handler in machine code): it
resumes the executing thread after the call with a torn value and counts the fault.

Layout (one reservation of :data:`SIZE` bytes)::

    page 0    RX   the writer, the executing loop and the signal guard
    page 1-2  RWX  the site (its imm64 in one 8-byte word, across a 64-byte line, or a page)
    page 3    RW   the data word, the stop flag, the counters (one line each)

Everything here is pure: bytes for a given base address. :mod:`smclab.run.stale` runs them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from iced_x86 import Instruction

from smclab.codegen.program import (
    MEMBARRIER_SYNC_CORE,
    PAGE,
    SYS_MEMBARRIER,
    rdtsc,
    timed_function,
)
from smclab.errors import SpecError
from smclab.isa import vocabulary as vocab
from smclab.isa.asm import Asm, C, R, mem

#: where the site's imm64 lies: one aligned 8-byte word, 4+4 bytes across a 64-byte line,
#: 4+4 bytes across a page
PLACEMENTS = {"word": PAGE + 0x48, "line": PAGE + 0x40 - 4, "page": 2 * PAGE - 4}
#: how the writer stores the new imm64
STORES = {
    "mov": "a plain 8-byte store (mov)",
    "lock": "a locked read-modify-write (lock cmpxchg)",
    "xchg": "xchg (implicitly locked)",
}
#: what the executing thread runs between reading the data word and calling the site
PROTOCOLS = ("none", "cpuid", "serialize", "lfence", "mfence")
#: what the writer does between patching the code and publishing the data word
WRITERS = ("plain", "membarrier")
#: protocols the x86 manuals (or the kernel, for membarrier) make safe
SERIALIZING = frozenset({"cpuid", "serialize"})

SIZE = 4 * PAGE
CODE, SITES, CTL = 0, PAGE, 3 * PAGE
# control page offsets (one line each, counters together in one line of the executing side)
DATA, STOP, SAVED_RSP, STALE, TORN, FAULTS, NEW = 0, 64, 128, 192, 200, 208, 216
PATCHES, MB_CALLS, MB_TICKS, MB_ERROR = 256, 264, 272, 280
ZERO_ACTION = 320  # a kernel sigaction of SIG_DFL (all zero bytes)
#: the opcode bytes of the site before its imm64 (mov rax, imm64) and after it (ret)
SITE_HEAD, SITE_TAIL = bytes.fromhex("48b8"), bytes.fromhex("c3")
#: the multiplier of a version's check half (odd: every version has its own check)
CHECK = 0x2545F491
#: what the guard puts in rax when the site faulted (its check does not match: torn)
FAULTED = 0x0102030405060708
SYS_RT_SIGACTION = 13
# ucontext_t (x86-64 Linux): mcontext gregs start at 40; REG_RAX 13, REG_RSP 15, REG_RIP 16
UC_RAX, UC_RSP, UC_RIP = 40 + 13 * 8, 40 + 15 * 8, 40 + 16 * 8


@dataclass(frozen=True)
class Variant:
    """One way to patch and run: where the imm64 lies, how the writer stores it, what the
    executing thread does before it runs the code, and whether the writer calls membarrier."""

    placement: str = "word"
    store: str = "mov"
    protocol: str = "none"
    writer: str = "plain"

    def __post_init__(self) -> None:
        for what, value, allowed in (
            ("placement", self.placement, tuple(PLACEMENTS)),
            ("store", self.store, tuple(STORES)),
            ("protocol", self.protocol, PROTOCOLS),
            ("writer", self.writer, WRITERS),
        ):
            if value not in allowed:
                raise SpecError(f"stale-code {what} must be one of {', '.join(allowed)}: {value!r}")

    @property
    def name(self) -> str:
        extra = "+membarrier" if self.writer == "membarrier" else ""
        return f"{self.placement}/{self.store}/{self.protocol}{extra}"

    @property
    def safe(self) -> bool:
        """Safe by the book: the executing side serializes, or the writer made every thread
        serialize (membarrier SYNC_CORE), and the patch is one aligned atomic store."""
        synced = self.protocol in SERIALIZING or self.writer == "membarrier"
        return synced and self.placement == "word"

    def flags(self) -> tuple[str, ...]:
        """CPU flags the executing side needs (``serialize``)."""
        return vocab.BARRIERS[self.protocol].flags

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Variant:
        return cls(**{k: str(d[k]) for k in ("placement", "store", "protocol", "writer")})


def version_word(v: int) -> int:
    """The imm64 of version ``v``: v in the low half, its check in the high half."""
    low = v & 0xFFFFFFFF
    return (low * CHECK & 0xFFFFFFFF) << 32 | low


def version_bytes(v: int) -> bytes:
    return version_word(v).to_bytes(8, "little")


def classify(seen: int, got: int) -> str:
    """What one run returned: ``torn`` (bytes of two versions), ``stale`` (older than the
    data word ``seen`` showed) or ``fresh`` (the same or newer). The machine code does the
    same; this is its reference (tests)."""
    if version_word(got) != got:
        return "torn"
    behind = (seen - got) & 0xFFFFFFFF
    return "stale" if 0 < behind < 1 << 31 else "fresh"


def site_offset(v: Variant) -> int:
    """The site's offset in the reservation (its imm64 lands at the placement)."""
    return PLACEMENTS[v.placement] - len(SITE_HEAD)


def site_bytes(version: int) -> bytes:
    return SITE_HEAD + version_bytes(version) + SITE_TAIL


def _abs(base: int, off: int) -> Any:
    return mem(R.RIP, base + CTL + off)


def _locked(ins: Instruction) -> Instruction:
    ins.has_lock_prefix = True
    return ins


def executor(v: Variant, base: int) -> Asm:
    """``uint64_t run(uint64_t runs)``: the executing loop; returns the TSC ticks it took."""
    site = base + site_offset(v)
    protocol = vocab.BARRIERS[v.protocol]

    def setup(a: Asm) -> None:
        a.rm(C.MOV_R64_RM64, R.R12, _abs(base, DATA))  # the version the previous run read

    def body(a: Asm, done: int) -> None:
        torn, stale, nxt = a.new_label(), a.new_label(), a.new_label()
        same = a.new_label()
        a.rm(C.MOV_R64_RM64, R.RBP, _abs(base, DATA))  # v_seen
        a.rr(C.CMP_R64_RM64, R.RBP, R.R12)
        a.branch(C.JE_REL32_64, same)
        a.m(C.INC_RM64, _abs(base, NEW))  # a run right after a new version was published
        a.rr(C.MOV_R64_RM64, R.R12, R.RBP)
        a.bind(same)
        protocol.emit(a)
        a.mr(C.MOV_RM64_R64, _abs(base, SAVED_RSP), R.RSP)  # where the guard resumes
        a.branch(C.CALL_REL32_64, site)
        a.rr(C.MOV_R64_RM64, R.RDX, R.RAX)
        a.ri(C.SHR_RM64_IMM8, R.RDX, 32)
        a.emit(Instruction.create_reg_reg_i32(C.IMUL_R32_RM32_IMM32, R.ECX, R.EAX, CHECK))
        a.rr(C.CMP_R32_RM32, R.ECX, R.EDX)
        a.branch(C.JNE_REL32_64, torn)
        a.rr(C.MOV_R32_RM32, R.ECX, R.EBP)
        a.rr(C.SUB_R32_RM32, R.ECX, R.EAX)  # (v_seen - v) mod 2**32
        a.rr(C.TEST_RM32_R32, R.ECX, R.ECX)
        a.branch(C.JG_REL32_64, stale)  # 1..2**31-1: older than what the data word showed
        a.branch(C.JMP_REL32_64, nxt)
        a.bind(stale)
        a.m(C.INC_RM64, _abs(base, STALE))
        a.branch(C.JMP_REL32_64, nxt)
        a.bind(torn)
        a.m(C.INC_RM64, _abs(base, TORN))
        a.bind(nxt)

    return timed_function(setup, body)


def _store(a: Asm, v: Variant, target: Any) -> None:
    """imm64 (rax) into the site, the variant's way (clobbers rax, rcx)."""
    if v.store == "mov":
        a.mr(C.MOV_RM64_R64, target, R.RAX)
    elif v.store == "xchg":
        a.mr(C.XCHG_RM64_R64, target, R.RAX)
    else:  # the writer is the only one that stores there: the compare always succeeds
        a.rr(C.MOV_R64_RM64, R.RCX, R.RAX)
        a.rm(C.MOV_R64_RM64, R.RAX, target)
        a.emit(_locked(Instruction.create_mem_reg(C.CMPXCHG_RM64_R64, target, R.RCX)))


def writer(v: Variant, base: int) -> Asm:
    """``void writer(void)``: patch, (membarrier,) publish, until the stop flag is set.
    Caller-saved registers only (it is called through ctypes)."""
    a = Asm()
    loop, done, ok = a.new_label(), a.new_label(), a.new_label()
    target = mem(R.RIP, base + PLACEMENTS[v.placement])
    a.rm(C.MOV_R64_RM64, R.R8, _abs(base, DATA))
    a.bind(loop)
    a.mi(C.CMP_RM8_IMM8, _abs(base, STOP), 0)
    a.branch(C.JNE_REL32_64, done)
    a.r(C.INC_RM64, R.R8)
    a.rr(C.MOV_R32_RM32, R.EAX, R.R8D)
    a.emit(Instruction.create_reg_reg_i32(C.IMUL_R32_RM32_IMM32, R.EDX, R.R8D, CHECK))
    a.ri(C.SHL_RM64_IMM8, R.RDX, 32)
    a.rr(C.OR_R64_RM64, R.RAX, R.RDX)
    _store(a, v, target)
    if v.writer == "membarrier":
        rdtsc(a)
        a.rr(C.MOV_R64_RM64, R.R10, R.RAX)
        a.ri(C.MOV_R32_IMM32, R.EAX, SYS_MEMBARRIER)
        a.ri(C.MOV_R32_IMM32, R.EDI, MEMBARRIER_SYNC_CORE)
        a.rr(C.XOR_R32_RM32, R.ESI, R.ESI)
        a.rr(C.XOR_R32_RM32, R.EDX, R.EDX)
        a.op(C.SYSCALL)
        a.rr(C.TEST_RM64_R64, R.RAX, R.RAX)
        a.branch(C.JE_REL32_64, ok)
        a.mr(C.MOV_RM64_R64, _abs(base, MB_ERROR), R.RAX)  # -errno: stop, say why
        a.branch(C.JMP_REL32_64, done)
        a.bind(ok)
        rdtsc(a)
        a.rr(C.SUB_R64_RM64, R.RAX, R.R10)
        a.mr(C.ADD_RM64_R64, _abs(base, MB_TICKS), R.RAX)
        a.m(C.INC_RM64, _abs(base, MB_CALLS))
    a.mr(C.MOV_RM64_R64, _abs(base, DATA), R.R8)  # published (x86 keeps stores in order)
    a.m(C.INC_RM64, _abs(base, PATCHES))
    a.branch(C.JMP_REL32_64, loop)
    a.bind(done)
    a.op(C.RETNQ)
    return a


def guard(base: int) -> Asm:
    """``void handler(int sig, siginfo_t *, ucontext_t *)`` (SA_SIGINFO): a fault in the site
    pages resumes the executing loop after its call with rax = :data:`FAULTED` and counts it;
    a fault anywhere else restores the default action and returns, so it faults again and
    ends the process as it would have without the guard."""
    a = Asm()
    foreign = a.new_label()
    a.rm(C.MOV_R64_RM64, R.RAX, mem(R.RDX, UC_RIP))
    a.ri(C.MOV_R64_IMM64, R.RCX, base + SITES)
    a.rr(C.CMP_R64_RM64, R.RAX, R.RCX)
    a.branch(C.JB_REL32_64, foreign)
    a.ri(C.MOV_R64_IMM64, R.RCX, base + CTL)
    a.rr(C.CMP_R64_RM64, R.RAX, R.RCX)
    a.branch(C.JAE_REL32_64, foreign)
    a.rm(C.MOV_R64_RM64, R.RAX, _abs(base, SAVED_RSP))
    a.mr(C.MOV_RM64_R64, mem(R.RDX, UC_RSP), R.RAX)
    a.rm(C.MOV_R64_RM64, R.RCX, mem(R.RAX, -8))  # the call's return address
    a.mr(C.MOV_RM64_R64, mem(R.RDX, UC_RIP), R.RCX)
    a.ri(C.MOV_R64_IMM64, R.RCX, FAULTED)
    a.mr(C.MOV_RM64_R64, mem(R.RDX, UC_RAX), R.RCX)
    a.m(C.INC_RM64, _abs(base, FAULTS))
    a.op(C.RETNQ)
    a.bind(foreign)  # rt_sigaction(sig, SIG_DFL, NULL, 8); edi holds sig already
    a.ri(C.MOV_R64_IMM64, R.RSI, base + CTL + ZERO_ACTION)
    a.rr(C.XOR_R32_RM32, R.EDX, R.EDX)
    a.ri(C.MOV_R32_IMM32, R.R10D, 8)
    a.ri(C.MOV_R32_IMM32, R.EAX, SYS_RT_SIGACTION)
    a.op(C.SYSCALL)
    a.op(C.RETNQ)
    return a


@dataclass(frozen=True)
class StaleProgram:
    """The code page (bytes at ``base``) and the entry offsets of its three functions."""

    code: bytes
    run: int
    writer: int
    guard: int
    site: int


def build(v: Variant, base: int) -> StaleProgram:
    """The code page for a reservation at ``base`` (the three functions, 64-byte aligned)."""
    code, offsets = b"", []
    for make in (executor, writer, lambda _v, b: guard(b)):
        code += bytes(-len(code) % 64)
        offsets.append(len(code))
        code += make(v, base).encode(base + len(code))
    if len(code) > PAGE:
        raise AssertionError(f"stale-code's code takes {len(code)} bytes, more than a page")
    return StaleProgram(code, offsets[0], offsets[1], offsets[2], site_offset(v))


__all__ = [
    "PAGE",
    "PLACEMENTS",
    "PROTOCOLS",
    "STORES",
    "WRITERS",
    "StaleProgram",
    "Variant",
    "build",
    "classify",
    "site_bytes",
    "version_bytes",
]
