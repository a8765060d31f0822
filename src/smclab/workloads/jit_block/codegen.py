"""The jit-block workload: every iteration writes a block of code with a strategy, calls it.

The block is a straight line of ``add rax, 1`` ending in ``ret`` (optionally a ``ud2`` guard),
``block`` bytes long. The template lives in the code region; the strategy
(:class:`smclab.isa.strategies.Strategy`) says how it gets into the executable region.
"""

from __future__ import annotations

from iced_x86 import Instruction, RepPrefixKind

from smclab.codegen.program import PAGE, Layout, Program, align, assemble, timed_function
from smclab.isa import vocabulary as vocab
from smclab.isa.asm import Asm, C, Code, R, Register, mem
from smclab.isa.strategies import STRATEGIES, Strategy
from smclab.model.experiment import Experiment

LINE = 64
INT3 = 0xCC
# registers of the jit loop (callee-saved; syscall clobbers rcx/r11, cpuid rbx)
BASE, CUR, END = R.R12, R.R13, R.R14
SYS_MMAP, SYS_MPROTECT, SYS_MUNMAP, SYS_EXIT_GROUP = 9, 10, 11, 231
#: the worker's exit status when the remap strategy's mmap fails (see smclab.run.worker)
EXIT_REMAP_FAILED = 97
#: the worker's exit status when a flip strategy's mprotect fails
EXIT_MPROTECT_FAILED = 98
PROT_RW, PROT_RX, PROT_RWX = 3, 5, 7
MAP_PRIVATE_ANON_FIXED = 0x02 | 0x20 | 0x10


def strategy(exp: Experiment) -> Strategy:
    return STRATEGIES[exp.strategy]


def stride(exp: Experiment) -> int:
    """Distance between regions (a fresh mapping or a page flip needs whole pages)."""
    return align(exp.block, PAGE) if strategy(exp).mapping in PAGED else exp.block


#: mappings whose regions start on a page of their own
PAGED = ("remap", "flip")


def flip_size(s: Strategy, region: int) -> int:
    """Bytes each mprotect of a flip strategy covers from the region's start."""
    return max(s.flip_pages * PAGE, region)


def exec_size(s: Strategy, region: int) -> int:
    """The exec buffer: the regions, and every page a flip of the last one covers."""
    size = align(s.regions * region, PAGE)
    if s.mapping == "flip":
        size = max(size, (s.regions - 1) * region + flip_size(s, region))
    return size


def layout_for(exp: Experiment, base: int, code_size: int) -> Layout:
    size = exec_size(strategy(exp), stride(exp))
    return Layout(base, code_size, size, size)


def block_template(exp: Experiment, address: int) -> bytes:
    """``add rax, 1`` x n, nop padding, ``ret`` (and ``ud2`` with the guard): ``block`` bytes."""
    tail = b"\xc3" + (b"\x0f\x0b" if strategy(exp).guard else b"")
    a = Asm()
    for _ in range((exp.block - len(tail)) // 4):
        a.ri(C.ADD_RM64_IMM8, R.RAX, 1)
    body = a.encode(address)
    return body + b"\x90" * (exp.block - len(tail) - len(body)) + tail


def evict_chain(size: int, address: int) -> bytes:
    """``size`` bytes of 64-byte lines, each a ``jmp`` to the next; the last line returns."""
    out = b""
    for line in range(address, address + size - LINE, LINE):
        jmp = Asm().branch(C.JMP_REL32_64, line + LINE).encode(line)
        out += jmp + bytes([INT3]) * (LINE - len(jmp))
    return out + b"\xc3" + bytes([INT3]) * (LINE - 1)


def _lines(exp: Experiment, order: str = "forward") -> list[int]:
    n = exp.block // LINE
    if order == "scattered":  # a fixed permutation that jumps around the block
        step = next(k for k in (7, 11, 13, 17, 19, 23, 29, 31, 1) if n % k or k == 1)
        return [(i * step) % n * LINE for i in range(n)]
    return [i * LINE for i in range(n)]


def _write_ptr(a: Asm, delta: int) -> None:
    """rdi = the writable address of the current region."""
    a.rm(C.LEA_R64_M, R.RDI, mem(CUR, delta))


def _clear(a: Asm, exp: Experiment, kind: str, start: int = 0) -> None:
    """Clear the region at rdi (clobbers rax, rcx, rdx, rsi, rdi, vector registers); ``start``
    leaves the first bytes alone (memset and the per-line clears only). The kinds are the
    records of :data:`vocab.CLEARS` and :data:`vocab.EMIT_CLEARS`."""
    if kind in vocab.EMIT_CLEARS:
        _emit_clear(a, exp.block, kind, start)
    elif kind in ("byte-per-line", "scattered", "two-bytes-per-line"):
        for off in (o for o in _lines(exp, kind) if o >= start):
            a.mi(C.MOV_RM8_IMM8, mem(R.RDI, off), INT3 - 256)
            if kind == "two-bytes-per-line":
                a.mi(C.MOV_RM8_IMM8, mem(R.RDI, off + LINE - 1), INT3 - 256)
    elif kind == "rep-stosb":
        a.emit(Instruction.create_reg_u32(C.MOV_R32_IMM32, R.EAX, INT3))
        a.ri(C.MOV_RM64_IMM32, R.RCX, exp.block)
        a.emit(Instruction.create_stosb(64, rep_prefix=RepPrefixKind.REPE))
    elif kind == "nt":
        a.ri(C.MOV_R64_IMM64, R.RAX, int.from_bytes(bytes([INT3]) * 8, "little"))
        for off in range(0, exp.block, 8):
            a.mr(C.MOVNTI_M64_R64, mem(R.RDI, off), R.RAX)
    elif kind == "clzero":  # clzero zeroes the line that rax points into
        for off in _lines(exp):
            a.rm(C.LEA_R64_M, R.RAX, mem(R.RDI, off))
            a.op(C.CLZEROQ)
    else:
        raise ValueError(f"unknown clear {kind!r}")


def _zero_xmm0(a: Asm) -> None:
    """Zero xmm0 and with it ymm0 and zmm0 (the VEX form clears the upper bits)."""
    x = R.XMM0
    a.emit(Instruction.create_reg_reg_reg(C.VEX_VPXOR_XMM_XMM_XMMM128, x, x, x))


#: vector non-temporal clears: kind -> (store, register, bytes per store, one per line)
_NT_CLEARS: dict[str, tuple[Code, Register, int, bool]] = {
    "sse2-nt": (C.MOVNTDQ_M128_XMM, R.XMM0, 16, False),
    "sse2-nt-line": (C.MOVNTDQ_M128_XMM, R.XMM0, 16, True),
    "avx-nt": (C.VEX_VMOVNTDQ_M256_YMM, R.YMM0, 32, False),
    "avx-nt-line": (C.VEX_VMOVNTDQ_M256_YMM, R.YMM0, 32, True),
    "avx512-nt": (C.EVEX_VMOVNTDQ_M512_ZMM, R.ZMM0, 64, True),
}
#: clears that leave upper vector state dirty (vzeroupper before returning)
WIDE_CLEARS = frozenset({"avx-nt", "avx-nt-line", "avx512-nt", "scatter"})


def _emit_clear(a: Asm, size: int, kind: str, start: int) -> None:
    """The clears of :data:`vocab.EMIT_CLEARS` (zeroes, as jit_smc_test's ``jit_clr*``)."""
    if kind in ("memset", "memset-ret"):  # memset(rdi + start, 0 or ret, size - start)
        if start:
            a.rm(C.LEA_R64_M, R.RDI, mem(R.RDI, start))
        a.ri(C.MOV_R32_IMM32, R.ESI, 0xC3 if kind == "memset-ret" else 0)
        a.ri(C.MOV_R32_IMM32, R.EDX, size - start)
        vocab.NATIVES["memset"].emit(a)
    elif kind == "rep-stosq":
        a.rr(C.XOR_R32_RM32, R.EAX, R.EAX)
        a.ri(C.MOV_RM64_IMM32, R.RCX, size // 8)
        a.emit(Instruction.create_stosq(64, rep_prefix=RepPrefixKind.REPE))
    elif kind == "straddle":  # jit_smc_test's clr_2byte: one store covers two lines
        for off in range(LINE - 1, size - 1, 2 * LINE):
            a.mi(C.MOV_RM16_IMM16, mem(R.RDI, off), 0)
    elif kind == "scatter":
        _scatter_clear(a, size)
    else:
        store, reg, width, per_line = _NT_CLEARS[kind]
        _zero_xmm0(a)
        for off in range(0, size, LINE if per_line else width):
            a.mr(store, mem(R.RDI, off), reg)


def _scatter_clear(a: Asm, size: int) -> None:
    """vpscatterdd 4 zero bytes into each of 16 lines per instruction (jit_smc_test's
    clr_scatter); the line offsets (0, 64, ... 960) are pushed on the stack and loaded."""
    for pair in range(7, -1, -1):  # push the 16 dword indices, the first at [rsp]
        a.ri(C.MOV_R64_IMM64, R.RAX, (2 * pair + 1) * LINE << 32 | 2 * pair * LINE)
        a.r(C.PUSH_R64, R.RAX)
    a.rm(C.EVEX_VMOVDQU32_ZMM_K1Z_ZMMM512, R.ZMM1, mem(R.RSP))
    a.ri(C.ADD_RM64_IMM32, R.RSP, 16 * 4)
    _zero_xmm0(a)
    for chunk in range(0, size, 16 * LINE):
        lanes = min(16, (size - chunk) // LINE)
        a.ri(C.MOV_R32_IMM32, R.EAX, (1 << lanes) - 1)  # the mask is cleared as lanes complete
        a.rr(C.VEX_KMOVW_KR_R32, R.K1, R.EAX)
        ins = Instruction.create_mem_reg(
            C.EVEX_VPSCATTERDD_VM32Z_K1_ZMM, mem(R.RDI, chunk, R.ZMM1), R.ZMM0
        )
        ins.op_mask = R.K1
        a.emit(ins)


def _each_line(a: Asm, exp: Experiment, op: vocab.LineOp) -> None:
    for off in _lines(exp):
        op.emit(a, mem(R.RDI, off))


def _remap(a: Asm, size: int) -> None:
    """munmap + mmap(MAP_FIXED) the current region: a fresh RWX mapping every iteration."""
    a.ri(C.MOV_R32_IMM32, R.EAX, SYS_MUNMAP)
    a.rr(C.MOV_R64_RM64, R.RDI, CUR)
    a.ri(C.MOV_R32_IMM32, R.ESI, size)
    a.op(C.SYSCALL)
    a.ri(C.MOV_R32_IMM32, R.EAX, SYS_MMAP)
    a.rr(C.MOV_R64_RM64, R.RDI, CUR)
    a.ri(C.MOV_R32_IMM32, R.ESI, size)
    a.ri(C.MOV_R32_IMM32, R.EDX, PROT_RWX)
    a.ri(C.MOV_R32_IMM32, R.R10D, MAP_PRIVATE_ANON_FIXED)
    a.ri(C.MOV_RM64_IMM32, R.R8, -1)
    a.rr(C.XOR_R32_RM32, R.R9D, R.R9D)
    a.op(C.SYSCALL)
    ok = a.new_label()  # mmap must return the address asked for, else end the worker, saying so
    a.rr(C.CMP_R64_RM64, R.RAX, CUR)
    a.branch(C.JE_REL32_64, ok)
    a.ri(C.MOV_R32_IMM32, R.EDI, EXIT_REMAP_FAILED)
    a.ri(C.MOV_R32_IMM32, R.EAX, SYS_EXIT_GROUP)
    a.op(C.SYSCALL)
    a.bind(ok)


def flip(a: Asm, size: int, prot: int) -> None:
    """mprotect(CUR, size, prot): the W^X flip of the current region; a failure ends the
    worker, saying so."""
    a.ri(C.MOV_R32_IMM32, R.EAX, SYS_MPROTECT)
    a.rr(C.MOV_R64_RM64, R.RDI, CUR)
    a.ri(C.MOV_R32_IMM32, R.ESI, size)
    a.ri(C.MOV_R32_IMM32, R.EDX, prot)
    a.op(C.SYSCALL)
    ok = a.new_label()
    a.rr(C.TEST_RM32_R32, R.EAX, R.EAX)
    a.branch(C.JE_REL32_64, ok)
    a.ri(C.MOV_R32_IMM32, R.EDI, EXIT_MPROTECT_FAILED)
    a.ri(C.MOV_R32_IMM32, R.EAX, SYS_EXIT_GROUP)
    a.op(C.SYSCALL)
    a.bind(ok)


def next_region(a: Asm, region: int) -> None:
    """Move CUR to the next region, back to BASE at END."""
    nxt = a.new_label()
    a.rm(C.LEA_R64_M, CUR, mem(CUR, region))
    a.rr(C.CMP_R64_RM64, CUR, END)
    a.branch(C.JB_REL32_64, nxt)
    a.rr(C.MOV_R64_RM64, CUR, BASE)
    a.bind(nxt)


def build(exp: Experiment, lay: Layout) -> Program:
    s = strategy(exp)
    template_addr = lay.code
    chain_addr = lay.code + align(exp.block, LINE)
    template = block_template(exp, template_addr)
    chain = evict_chain(s.evict, chain_addr) if s.evict else b""
    region = stride(exp)
    delta = lay.far_buf - lay.exec_buf if s.mapping == "dual" else 0

    def setup(a: Asm) -> None:
        a.ri(C.MOV_R64_IMM64, BASE, lay.exec_buf)
        a.rr(C.MOV_R64_RM64, CUR, BASE)
        a.ri(C.MOV_R64_IMM64, END, lay.exec_buf + s.regions * region)

    def body(a: Asm, done: int) -> None:
        if s.evict:
            a.branch(C.CALL_REL32_64, chain_addr)
        if s.mapping == "remap":
            _remap(a, region)
        if s.write is not None:
            if s.mapping == "flip":
                flip(a, flip_size(s, region), PROT_RW)
            _write_ptr(a, delta)
            if s.prefetch:
                _each_line(a, exp, vocab.JIT_PREFETCHES[s.prefetch])
            if s.flush and not s.flush_after:
                _each_line(a, exp, vocab.FLUSHES[s.flush])
            if s.clear:
                _clear(a, exp, s.clear)
                _write_ptr(a, delta)
            a.rm(C.LEA_R64_M, R.RSI, mem(R.RIP, template_addr))
            vocab.COPIES[s.write].emit(a, exp.block, s.reverse)
            if s.flush and s.flush_after:
                _write_ptr(a, delta)
                _each_line(a, exp, vocab.FLUSHES[s.flush])
            vocab.BARRIERS[s.barrier].emit(a)
            if s.mapping == "flip":
                flip(a, flip_size(s, region), PROT_RX)
        a.r(C.CALL_RM64, CUR)
        next_region(a, region)

    wide = s.write is not None and vocab.COPIES[s.write].wide
    fn = timed_function(setup, body, vzeroupper=wide)
    return assemble_block(exp, lay, fn, template, chain, s, region)


def assemble_block(
    exp: Experiment, lay: Layout, fn: Asm, template: bytes, chain: bytes, s: Strategy, region: int
) -> Program:
    """The program of a jit workload: the block template (first in the code region: the
    source every region is pre-filled with), the eviction chain if any, the function."""
    parts: list[tuple[str, bytes | Asm, bool]] = [("block", template, False)]
    if chain:
        parts.append(("evict-chain", chain, False))
    return assemble(
        exp,
        lay,
        parts,
        fn,
        source_addr=lay.code,
        source=template,
        prefill=tuple(i * region for i in range(s.regions)),
        mapping=s.mapping,
    )
