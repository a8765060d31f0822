"""The jit-emit workload: a JIT's assembler emits a block in place, then the block is called.

Every iteration the generated code *generates* a block of real instructions, one instruction at
a time, with 1-4 byte stores as a JIT's assembler does (jit_smc_test's ``write_code``): the
opcode byte(s) and ModRM, then a 4-byte immediate that changes every iteration (it starts at
the iteration counter and grows by :data:`STEP` per instruction), and finally ``ret``. The
generator is a loop over one *cycle* of the instruction mix, with the instructions that do not
fill a whole cycle unrolled after it.

The write strategy (:data:`smclab.isa.strategies.EMIT_STRATEGIES`) says where the generator
writes and what surrounds it: in place (``plain``), into scratch memory on the stack and then a
copy (``copy-*``), after a clear, with flushes or hints, into one of N regions, through a dual
mapping, after a remap. The floor (``call-only``, jit_smc_test's ``jit_only``) runs the same
generator into the scratch memory and calls a block that is never rewritten.

:func:`block_bytes` is the Python model of what the generator writes: the tests run the
generated code and compare.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from smclab.codegen.program import PAGE, Layout, Program, align, timed_function
from smclab.isa import vocabulary as vocab
from smclab.isa.asm import Asm, C, R, Register, mem
from smclab.isa.strategies import EMIT_STRATEGIES, Strategy
from smclab.model.experiment import Experiment
from smclab.workloads.jit_block import codegen as jit

LINE = 64
INT3, RET = 0xCC, 0xC3
UD2 = b"\x0f\x0b"
#: instruction kind -> its bytes before the 4-byte immediate (opcode, ModRM, SIB)
PREFIX = {
    "add": b"\x05",  # add eax, imm32 (jit_smc_test's instruction)
    "mov": b"\xc7\xc1",  # mov ecx, imm32 (opcode, ModRM)
    "cmp": b"\x81\x3c\x24",  # cmp dword ptr [rsp], imm32 (opcode, ModRM, SIB: alu + load)
}
#: the knob ``mix`` -> the cycle of instruction kinds the generator repeats
CYCLES = {"add-imm32": ("add",), "mov-imm32": ("mov",), "mixed": ("add", "mov", "cmp")}
#: added to the immediate after each instruction (the golden ratio: no two immediates alike)
STEP = 0x9E3779B9
IMM = 4

# registers of the loop: jit-block's (callee-saved: syscall clobbers rcx/r11, cpuid rbx, C
# calls the rest), and the scratch block's address
BASE, CUR, END = jit.BASE, jit.CUR, jit.END
SCRATCH = R.RBP


def strategy(exp: Experiment) -> Strategy:
    return EMIT_STRATEGIES[exp.strategy]


def stride(exp: Experiment) -> int:
    """Distance between regions: a page multiple for a fresh mapping and for paged regions
    (each at the same page offset, as jit_smc_test's separate mmaps), else the block."""
    paged = strategy(exp).mapping in jit.PAGED or exp.region_layout == "paged"
    return align(exp.block, PAGE) if paged else exp.block


def layout_for(exp: Experiment, base: int, code_size: int) -> Layout:
    size = jit.exec_size(strategy(exp), stride(exp))
    return Layout(base, code_size, size, size)


# --- what the generator writes -------------------------------------------------------------


def insn_len(kind: str) -> int:
    return len(PREFIX[kind]) + IMM


@dataclass(frozen=True)
class Plan:
    """Where the instructions go: ``kinds[i]`` at ``offsets[i]``, then ``ret`` at ``ret_at``;
    the loop emits ``cycles`` whole cycles, the rest is unrolled."""

    cycle: tuple[str, ...]
    kinds: tuple[str, ...]
    offsets: tuple[int, ...]
    ret_at: int

    @property
    def cycle_len(self) -> int:
        return sum(insn_len(k) for k in self.cycle)

    @property
    def cycles(self) -> int:
        return len(self.kinds) // len(self.cycle)


def plan(exp: Experiment) -> Plan:
    """As jit_smc_test: instructions while one more and a 4-byte tail still fit the block."""
    cycle = CYCLES[exp.mix]
    kinds: list[str] = []
    offsets: list[int] = []
    off = 0
    while off + insn_len(cycle[len(kinds) % len(cycle)]) + IMM <= exp.block:
        kinds.append(cycle[len(kinds) % len(cycle)])
        offsets.append(off)
        off += insn_len(kinds[-1])
    return Plan(cycle, tuple(kinds), tuple(offsets), off)


def write_order(exp: Experiment) -> list[int]:
    """The instructions (indices into the plan) in the order the generator writes them."""
    s, p = strategy(exp), plan(exp)
    n, k = len(p.kinds), len(p.cycle)
    if s.reverse and not s.copies:
        return list(range(n - 1, -1, -1))
    if s.ud2_first:  # the first cycle last, its first instruction at the very end
        return list(range(k, n)) + list(range(1, k)) + [0]
    return list(range(n))


def block_bytes(exp: Experiment, seed: int) -> bytes:
    """The block the generator writes in an iteration whose counter is ``seed`` (untouched
    bytes past the ``ret`` are int3, as the pre-filled template's)."""
    p = plan(exp)
    out = bytearray([INT3]) * exp.block
    for rank, i in enumerate(write_order(exp)):
        imm = (seed + rank * STEP) & 0xFFFFFFFF
        raw = PREFIX[p.kinds[i]] + imm.to_bytes(IMM, "little")
        out[p.offsets[i] : p.offsets[i] + len(raw)] = raw
    tail = bytes([RET]) + (UD2 if strategy(exp).guard else b"")
    out[p.ret_at : p.ret_at + len(tail)] = tail
    return bytes(out)


def writes(exp: Experiment) -> Counter[int]:
    """Stores of each width (bytes) the generator makes per block."""
    p = plan(exp)
    tail = 1 + (len(UD2) if strategy(exp).guard else 0)
    out: Counter[int] = Counter()
    for kind in p.kinds:
        if exp.emit_store == "4":
            out[4] += 2
        else:
            out[1] += len(PREFIX[kind]) + (IMM if exp.emit_store == "1" else 0)
            if exp.emit_store == "mixed":
                out[4] += 1
    if exp.emit_store == "4":
        out[4] += 1
    else:
        out[1] += tail
    return out


# --- the generator's code ------------------------------------------------------------------


def _i8(b: int) -> int:
    return b - 256 if b >= 128 else b


def _i32(v: int) -> int:
    return v - (1 << 32) if v >= 1 << 31 else v


def _store_insn(a: Asm, exp: Experiment, kind: str, off: int) -> None:
    """Write one instruction at [rdi+off] with the immediate in eax, then step eax."""
    prefix = PREFIX[kind]
    _store_bytes(a, exp, off, prefix, 0)  # with 4: the immediate's store overlaps its tail
    imm = off + len(prefix)
    if exp.emit_store == "1":
        a.mr(C.MOV_RM8_R8, mem(R.RDI, imm), R.AL).mr(C.MOV_RM8_R8, mem(R.RDI, imm + 1), R.AH)
        a.rr(C.MOV_R32_RM32, R.EDX, R.EAX).ri(C.SHR_RM32_IMM8, R.EDX, 16)
        a.mr(C.MOV_RM8_R8, mem(R.RDI, imm + 2), R.DL).mr(C.MOV_RM8_R8, mem(R.RDI, imm + 3), R.DH)
    else:
        a.mr(C.MOV_RM32_R32, mem(R.RDI, imm), R.EAX)
    a.ri(C.ADD_RM32_IMM32, R.EAX, _i32(STEP))


def _store_ret(a: Asm, exp: Experiment, off: int) -> None:
    tail = bytes([RET]) + (UD2 if strategy(exp).guard else b"")
    _store_bytes(a, exp, off, tail, INT3)


def _store_bytes(a: Asm, exp: Experiment, off: int, raw: bytes, fill: int) -> None:
    """Constant bytes (at most 4) at [rdi+off]: one dword (padded with ``fill``) with
    ``emit_store`` 4, else one byte at a time."""
    if exp.emit_store == "4":
        dword = int.from_bytes(raw.ljust(4, bytes([fill])), "little")
        a.mi(C.MOV_RM32_IMM32, mem(R.RDI, off), _i32(dword))
    else:
        for j, b in enumerate(raw):
            a.mi(C.MOV_RM8_IMM8, mem(R.RDI, off + j), _i8(b))


#: ``dest(a, reg, off)``: reg = the address ``off`` bytes into where the generator writes
Dest = Callable[[Asm, Register, int], None]


def _generate(a: Asm, exp: Experiment, dest: Dest, reverse: bool) -> None:
    """The generator: eax = the iteration counter, then the loop over whole cycles (rdi the
    cycle, rcx its bound), the rest unrolled, ``ret``; clobbers rax, rcx, rdx, rdi."""
    s, p = strategy(exp), plan(exp)
    cl, n_cycles = p.cycle_len, p.cycles
    rel = [p.offsets[i] for i in range(len(p.cycle))]  # offsets within a cycle
    rest = list(zip(p.kinds, p.offsets, strict=True))[n_cycles * len(p.cycle) :]
    first = 1 if s.ud2_first else 0
    assert n_cycles > first, "a block of 64 bytes holds two cycles of any mix"
    a.rr(C.MOV_R32_RM32, R.EAX, R.R15D)
    loop = a.new_label()
    if reverse:  # ret first, then the instructions from the last one down
        last = (n_cycles - 1) * cl
        dest(a, R.RDI, last)
        dest(a, R.RCX, 0)
        _store_ret(a, exp, p.ret_at - last)
        for kind, off in reversed(rest):
            _store_insn(a, exp, kind, off - last)
        a.bind(loop)
        for kind, off in reversed(list(zip(p.cycle, rel, strict=True))):
            _store_insn(a, exp, kind, off)
        a.rm(C.LEA_R64_M, R.RDI, mem(R.RDI, -cl))
        a.rr(C.CMP_R64_RM64, R.RDI, R.RCX)
        a.branch(C.JAE_REL32_64, loop)
        return
    dest(a, R.RDI, first * cl)
    dest(a, R.RCX, n_cycles * cl)
    a.bind(loop)
    for kind, off in zip(p.cycle, rel, strict=True):
        _store_insn(a, exp, kind, off)
    a.rm(C.LEA_R64_M, R.RDI, mem(R.RDI, cl))
    a.rr(C.CMP_R64_RM64, R.RDI, R.RCX)
    a.branch(C.JB_REL32_64, loop)
    end = n_cycles * cl  # rdi points here now
    for kind, off in rest:
        _store_insn(a, exp, kind, off - end)
    _store_ret(a, exp, p.ret_at - end)
    if s.ud2_first:  # the first cycle, its first instruction (over the ud2) last
        dest(a, R.RDI, 0)
        for j in [*range(1, len(p.cycle)), 0]:
            _store_insn(a, exp, p.cycle[j], rel[j])


def unaligned_chain(size: int) -> bytes:
    """``size`` bytes of 128-byte pairs of lines, a 2-byte ``jmp`` straddling the two lines of
    each pair to the same spot of the next (jit_smc_test's ``jmp32k_u``); the entry is at
    offset 63 and the last pair returns."""
    pad = bytes([INT3]) * (LINE - 1)
    jmp = bytes([0xEB, 2 * LINE - 2])  # jmp short +126: from offset 65 to the next 191
    body = (pad + jmp + pad) * (size // (2 * LINE) - 1)
    return body + pad + bytes([RET]) + bytes([INT3]) * LINE


def _line_ops(a: Asm, exp: Experiment, names: list[str | None]) -> None:
    for name in names:
        if name:
            jit._each_line(a, exp, vocab.line_op(name))


def _copy(a: Asm, exp: Experiment, s: Strategy) -> None:
    """Copy the scratch block (rbp) to rdi with the strategy's write method."""
    a.rr(C.MOV_R64_RM64, R.RSI, SCRATCH)
    if s.write in vocab.NATIVES:
        a.ri(C.MOV_R32_IMM32, R.EDX, exp.block)
        vocab.NATIVES[str(s.write)].emit(a)
    else:
        vocab.COPIES[str(s.write)].emit(a, exp.block, s.reverse)


def build(exp: Experiment, lay: Layout) -> Program:
    s = strategy(exp)
    template = block_bytes(exp, 0)
    chain_addr = lay.code + align(exp.block, LINE)
    if s.evict_unaligned:
        chain, entry = unaligned_chain(s.evict), chain_addr + LINE - 1
    else:
        chain, entry = (jit.evict_chain(s.evict, chain_addr) if s.evict else b""), chain_addr
    region = stride(exp)
    delta = lay.far_buf - lay.exec_buf if s.mapping == "dual" else 0
    frame = align(exp.block, LINE) + LINE  # the scratch block, 64-byte aligned within

    def scratch(a: Asm, reg: Register, off: int) -> None:
        a.rm(C.LEA_R64_M, reg, mem(SCRATCH, off))

    def target(a: Asm, reg: Register, off: int) -> None:
        a.rm(C.LEA_R64_M, reg, mem(CUR, delta + off))

    def setup(a: Asm) -> None:
        a.ri(C.MOV_R64_IMM64, BASE, lay.exec_buf)
        a.rr(C.MOV_R64_RM64, CUR, BASE)
        a.ri(C.MOV_R64_IMM64, END, lay.exec_buf + s.regions * region)
        a.rm(C.LEA_R64_M, SCRATCH, mem(R.RSP, LINE - 1))
        a.ri(C.AND_RM64_IMM8, SCRATCH, -LINE)

    def body(a: Asm, done: int) -> None:
        if s.evict:
            a.branch(C.CALL_REL32_64, entry)
        if s.mapping == "remap":
            jit._remap(a, region)
        if s.write is None:  # the floor: the same generator into data memory
            _generate(a, exp, scratch, False)
        else:
            if s.mapping == "flip":
                jit.flip(a, jit.flip_size(s, region), jit.PROT_RW)
            before = not (s.flush_after or s.after_call)
            if s.ud2_first or (s.clear and not s.after_call) or s.prefetch or s.flush:
                target(a, R.RDI, 0)  # the per-line ops, the ud2 and the clears work at rdi
            _line_ops(a, exp, [s.prefetch if not s.prefetch_after else None])
            _line_ops(a, exp, [s.flush if before else None])
            if s.ud2_first:
                a.mi(C.MOV_RM16_IMM16, mem(R.RDI), int.from_bytes(UD2, "little"))
            if s.clear and not s.after_call:
                jit._clear(a, exp, s.clear, len(UD2) if s.ud2_first else 0)
            if s.copies:
                _generate(a, exp, scratch, False)
                target(a, R.RDI, 0)
                _copy(a, exp, s)
            else:
                _generate(a, exp, target, s.reverse)
            after = [s.flush if s.flush_after else None]
            after.append(s.prefetch if s.prefetch_after else None)
            if any(after):
                target(a, R.RDI, 0)
                _line_ops(a, exp, after)
            vocab.BARRIERS[s.barrier].emit(a)
            if s.mapping == "flip":
                jit.flip(a, jit.flip_size(s, region), jit.PROT_RX)
        a.r(C.CALL_RM64, CUR)
        if s.after_call:  # jit_smc_test's 2region_flush / _clr: tidy the region just run
            target(a, R.RDI, 0)
            _line_ops(a, exp, [s.flush])
            if s.clear:
                jit._clear(a, exp, s.clear)
        jit.next_region(a, region)

    copy = vocab.COPIES.get(str(s.write)) if s.copies else None
    wide = bool(copy and copy.wide) or s.clear in jit.WIDE_CLEARS
    fn = timed_function(setup, body, vzeroupper=wide, frame=frame)
    return jit.assemble_block(exp, lay, fn, template, chain, s, region)
