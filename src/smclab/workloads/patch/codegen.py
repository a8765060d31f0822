"""The patch workload: code that keeps running while a few of its bytes are rewritten.

A *site* (a small function in the exec buffer) is called every iteration; every ``rate``
iterations one patch rewrites part of it (``patch_kind``):

* ``imm``: the imm32 of ``mov eax, imm32`` toggles between two values (an inline cache);
* ``rel32``: the rel32 of ``call rel32`` toggles between two stubs (a call-target cache);
* ``cross``: the imm32 of ``imm``, rewritten by a writer thread on another CPU. The executing
  thread asks for each patch through a flag in data memory; with ``xmc`` (Intel SDM vol. 3,
  "Handling Self- and Cross-Modifying Code") it waits for the writer's acknowledgement and
  serializes (``cpuid`` / ``serialize``) before it calls the site again, or (``membarrier``)
  the writer calls ``membarrier(PRIVATE_EXPEDITED_SYNC_CORE)`` between patch and
  acknowledgement, which serializes the executing thread for it; without, it runs on;
* ``int3``: a breakpoint is inserted over the first byte of an instruction in the site's line,
  and removed at the next patch. The instruction lies after the site's ``ret`` (a cold path of
  the same line), so the ``int3`` is never executed: the workload measures what inserting and
  removing it costs the code that keeps running. Were it executed, the worker would die of
  SIGTRAP and the result would carry that error (the CLI does not crash);
* ``link``: trace linking: a new block is emitted into a ring of slots, then the ``jmp rel32``
  at the end of the site is rewritten to reach it (the next call runs the new block).

``patch_into`` says where the patch's stores go: ``code`` (the experiment), ``data`` (the
control: the same stores at the same offsets of a data buffer; the code is never modified) or
``cell`` (the site loads its value, call or jump target from a data cell, which the patch
rewrites: the data-driven alternative to patching code). The patched 4-byte field sits at
``field_at`` in its 64-byte line; :func:`~smclab.workloads.patch.spec.splits_field` says when a
store to it crosses an 8-byte boundary (not atomic: a cross-modifying writer could leave a torn
instruction, which validation refuses).

Exec buffer (2 pages): the site in lines 0-2, the rel32 stubs at 1024 and 2048, the link
targets in page 1. Far buffer: a mirror of the exec buffer (the data control), then a page of
flags (cell, request, acknowledgement, the writer's stop flag), one line each.
"""

from __future__ import annotations

import dataclasses

from smclab.codegen.program import (
    GAP,
    MEMBARRIER_SYNC_CORE,
    PAGE,
    SYS_MEMBARRIER,
    Layout,
    Program,
    Section,
    assemble,
    timed_function,
)
from smclab.isa import vocabulary as vocab
from smclab.isa.asm import Asm, C, R, mem
from smclab.model.experiment import Experiment

LINE = 64
SITE_LINE = LINE  # the line that holds the patched field
STUB_A, STUB_B = 1024, 2048
TARGETS, LINK_SLOTS = PAGE, 16
EXEC_SIZE = 2 * PAGE
FLAGS = EXEC_SIZE  # far-buffer offset of the flag page
CELL, REQ, ACK, STOP = 0, LINE, 2 * LINE, 3 * LINE
V0, V1 = 0x11111111, 0x22222222
INT3 = 0xCC
#: bytes from the site's entry to its patched field (the int3 kind: its breakpoint byte)
FIELD = {"imm": 1, "cross": 1, "rel32": 1, "int3": 6, "link": 6}
#: the link kind's new block: add eax, 1; ret; nop x4 (one 8-byte store)
LINK_BLOCK = bytes.fromhex("83c001c390909090")
COLD = bytes.fromhex("83c001")  # add eax, 1: the instruction the breakpoint covers
FILL = 0xCC

# registers of the patch loop (callee-saved; cpuid clobbers rbx)
ACC, VAL, TOGGLE, NEXT = R.RBP, R.R12, R.R13, R.R14


def layout_for(exp: Experiment, base: int, code_size: int) -> Layout:
    return Layout(base, code_size, EXEC_SIZE, EXEC_SIZE + PAGE, GAP)


def entry_offset(exp: Experiment) -> int:
    """The site's offset in the exec buffer (its field lands at ``field_at`` of its line)."""
    return SITE_LINE + exp.field_at - FIELD[exp.patch_kind]


def field_addr(exp: Experiment, lay: Layout) -> int:
    """Where the patched bytes are in the code (before ``patch_into`` redirects them)."""
    return lay.exec_buf + SITE_LINE + exp.field_at


def patch_width(exp: Experiment) -> int:
    """Bytes one patch store writes into the patched field (or the cell)."""
    if exp.patch_kind == "int3":
        return 1
    if exp.patch_into == "cell" and exp.patch_kind in ("rel32", "link"):
        return 8  # an absolute target
    return 4


def store_target(exp: Experiment, lay: Layout) -> int:
    """Where the patch store goes: the field, its mirror in data memory, or the cell."""
    if exp.patch_into == "cell":
        return lay.far_buf + FLAGS + CELL
    if exp.patch_into == "data":
        return field_addr(exp, lay) - lay.exec_buf + lay.far_buf
    return field_addr(exp, lay)


def _site(exp: Experiment, lay: Layout) -> Asm:
    """The code the loop calls (encoded where it runs, in the exec buffer)."""
    kind, cell = exp.patch_kind, mem(R.RIP, lay.far_buf + FLAGS + CELL)
    a = Asm()
    if kind == "rel32":
        if exp.patch_into == "cell":
            a.m(C.CALL_RM64, cell)
        else:
            a.branch(C.CALL_REL32_64, lay.exec_buf + STUB_A)
        return a.op(C.RETNQ)
    if exp.patch_into == "cell" and kind in ("imm", "cross"):
        a.rm(C.MOV_R32_RM32, R.EAX, cell)
    else:
        a.ri(C.MOV_R32_IMM32, R.EAX, V0)
    if kind == "link":
        if exp.patch_into == "cell":
            return a.m(C.JMP_RM64, cell)
        return a.branch(C.JMP_REL32_64, lay.exec_buf + TARGETS)
    a.op(C.RETNQ)
    if kind == "int3":  # the cold instruction the breakpoint covers (never reached)
        a.data(COLD).op(C.RETNQ)
    return a


def _stub(value: int) -> Asm:
    return Asm().ri(C.MOV_R32_IMM32, R.EAX, value).op(C.RETNQ)


def exec_image(exp: Experiment, lay: Layout) -> tuple[bytes, list[tuple[str, int, int]]]:
    """The exec buffer's initial bytes (``int3`` elsewhere) and its listed pieces
    (label, offset, size)."""
    image = bytearray([FILL]) * EXEC_SIZE
    pieces = []

    def place(label: str, off: int, code: Asm | bytes, listed: bool = True) -> None:
        raw = code.encode(lay.exec_buf + off) if isinstance(code, Asm) else code
        image[off : off + len(raw)] = raw
        if listed:
            pieces.append((label, off, len(raw)))

    place("site", entry_offset(exp), _site(exp, lay))
    if exp.patch_kind == "rel32":
        place("stub-a", STUB_A, _stub(1))
        place("stub-b", STUB_B, _stub(2))
    if exp.patch_kind == "link":
        for i in range(LINK_SLOTS):
            place("link-target-0", TARGETS + i * LINE, LINK_BLOCK[:4], listed=i == 0)
    return bytes(image), pieces


def _values(exp: Experiment, lay: Layout) -> tuple[int, int]:
    """(the field's initial value, the xor that toggles it to the other one)."""
    kind, site_end = exp.patch_kind, lay.exec_buf + entry_offset(exp) + 5
    if kind == "int3":
        return COLD[0], COLD[0] ^ INT3
    if kind == "rel32":
        a, b = lay.exec_buf + STUB_A, lay.exec_buf + STUB_B
        if exp.patch_into == "cell":
            return a, a ^ b
        return a - site_end, (a - site_end) ^ (b - site_end)
    if kind == "link":
        target = lay.exec_buf + TARGETS
        return (target if exp.patch_into == "cell" else target - site_end - 5), 0
    return V0, V0 ^ V1


def _store(a: Asm, width: int, target: int, reg: int = VAL) -> None:
    """mov [target], reg (rip-relative; ``width`` bytes of ``reg``)."""
    narrow = {1: (C.MOV_RM8_R8, R.R12L), 4: (C.MOV_RM32_R32, R.R12D), 8: (C.MOV_RM64_R64, R.R12)}
    code, low = narrow[width]
    if reg != VAL:
        low = {4: R.EAX, 8: R.RAX}[width]
    a.mr(code, mem(R.RIP, target), low)


def _link(a: Asm, exp: Experiment, lay: Layout) -> None:
    """Emit the next block into the ring of targets, link the site's jmp to it, advance."""
    delta = lay.far_buf - lay.exec_buf if exp.patch_into == "data" else 0
    a.mr(C.MOV_RM64_R64, mem(NEXT, delta), TOGGLE)  # the new block (8 bytes)
    a.rr(C.MOV_R64_RM64, R.RAX, NEXT)
    if exp.patch_into != "cell":  # rel32 = target - the end of the jmp
        a.rm(C.LEA_R64_M, R.RCX, mem(R.RIP, lay.exec_buf + entry_offset(exp) + 10))
        a.rr(C.SUB_R32_RM32, R.EAX, R.ECX)
    _store(a, patch_width(exp), store_target(exp, lay), R.RAX)
    wrapped = a.new_label()
    a.ri(C.ADD_RM64_IMM32, NEXT, LINE)
    a.rm(C.LEA_R64_M, R.RAX, mem(R.RIP, lay.exec_buf + TARGETS + LINK_SLOTS * LINE))
    a.rr(C.CMP_R64_RM64, NEXT, R.RAX)
    a.branch(C.JB_REL32_64, wrapped)
    a.rm(C.LEA_R64_M, NEXT, mem(R.RIP, lay.exec_buf + TARGETS))
    a.bind(wrapped)


def _request(a: Asm, exp: Experiment, lay: Layout) -> None:
    """Cross: ask the writer for a patch; with the protocol, wait for it and serialize."""
    flags = lay.far_buf + FLAGS
    a.r(C.INC_RM64, VAL)
    a.mr(C.MOV_RM64_R64, mem(R.RIP, flags + REQ), VAL)
    if exp.xmc == "none":
        return
    wait, ok = a.new_label(), a.new_label()
    a.bind(wait)
    a.rm(C.CMP_R64_RM64, VAL, mem(R.RIP, flags + ACK))
    a.branch(C.JE_REL32_64, ok)
    a.op(C.PAUSE)
    a.branch(C.JMP_REL32_64, wait)
    a.bind(ok)
    if exp.xmc in vocab.BARRIERS:  # membarrier: the writer had this thread serialized
        vocab.BARRIERS[exp.xmc].emit(a)


def _patch(a: Asm, exp: Experiment, lay: Layout) -> None:
    if exp.patch_kind == "cross":
        _request(a, exp, lay)
    elif exp.patch_kind == "link":
        _link(a, exp, lay)
    else:
        a.rr(C.XOR_R64_RM64, VAL, TOGGLE)
        _store(a, patch_width(exp), store_target(exp, lay))


def _setup(a: Asm, exp: Experiment, lay: Layout) -> None:
    """Untimed: reset the patched field (or cell) to its initial value, load the registers."""
    a.rr(C.XOR_R32_RM32, R.EBP, R.EBP)
    if exp.patch_kind == "cross":
        a.rm(C.MOV_R64_RM64, VAL, mem(R.RIP, lay.far_buf + FLAGS + REQ))
        a.ri(C.MOV_R32_IMM32, R.EAX, V0)
        _store(a, patch_width(exp), store_target(exp, lay), R.RAX)
        return
    value, toggle = _values(exp, lay)
    a.ri(C.MOV_R64_IMM64, VAL, value)
    _store(a, patch_width(exp), store_target(exp, lay))
    if exp.patch_kind == "link":  # the new block's bytes, and the slot it goes to next
        a.ri(C.MOV_R64_IMM64, TOGGLE, int.from_bytes(LINK_BLOCK, "little"))
        a.ri(C.MOV_R64_IMM64, NEXT, lay.exec_buf + TARGETS + LINE)
    else:
        a.ri(C.MOV_R64_IMM64, TOGGLE, toggle)


def _writer(exp: Experiment, lay: Layout) -> Asm:
    """``void writer(void)``: on each new request, toggle the field and acknowledge it; stop
    when the stop flag is set. Caller-saved registers only (it is called through ctypes)."""
    flags = lay.far_buf + FLAGS
    a = Asm()
    loop, spin, done = a.new_label(), a.new_label(), a.new_label()
    a.ri(C.MOV_R64_IMM64, R.RDX, store_target(exp, lay))
    a.ri(C.MOV_R64_IMM64, R.RCX, flags + STOP)
    a.ri(C.MOV_R64_IMM64, R.RSI, flags + REQ)
    a.ri(C.MOV_R64_IMM64, R.RDI, flags + ACK)
    a.ri(C.MOV_R32_IMM32, R.R8D, V0)
    a.ri(C.MOV_R32_IMM32, R.R9D, V0 ^ V1)
    a.rr(C.XOR_R32_RM32, R.R10D, R.R10D)
    a.bind(loop)
    a.mi(C.CMP_RM8_IMM8, mem(R.RCX), 0)
    a.branch(C.JNE_REL32_64, done)
    a.rm(C.MOV_R64_RM64, R.RAX, mem(R.RSI))
    a.rr(C.CMP_R64_RM64, R.RAX, R.R10)
    a.branch(C.JE_REL32_64, spin)
    a.rr(C.MOV_R64_RM64, R.R10, R.RAX)
    a.rr(C.XOR_R32_RM32, R.R8D, R.R9D)
    a.mr(C.MOV_RM32_R32, mem(R.RDX), R.R8D)  # the patch
    if exp.xmc == "membarrier":  # registered by the worker; the syscall takes rcx and r11
        kept = (R.RAX, R.RDI, R.RSI, R.RDX)
        for reg in kept:
            a.r(C.PUSH_R64, reg)
        a.ri(C.MOV_R32_IMM32, R.EAX, SYS_MEMBARRIER)
        a.ri(C.MOV_R32_IMM32, R.EDI, MEMBARRIER_SYNC_CORE)
        a.rr(C.XOR_R32_RM32, R.ESI, R.ESI)
        a.rr(C.XOR_R32_RM32, R.EDX, R.EDX)
        a.op(C.SYSCALL)
        for reg in reversed(kept):
            a.r(C.POP_R64, reg)
        a.ri(C.MOV_R64_IMM64, R.RCX, flags + STOP)
    a.mr(C.MOV_RM64_R64, mem(R.RDI), R.RAX)  # acknowledged (x86 keeps the two stores in order)
    a.branch(C.JMP_REL32_64, loop)
    a.bind(spin)
    a.op(C.PAUSE)
    a.branch(C.JMP_REL32_64, loop)
    a.bind(done)
    a.op(C.RETNQ)
    return a


def build(exp: Experiment, lay: Layout) -> Program:
    image, pieces = exec_image(exp, lay)
    site = lay.exec_buf + entry_offset(exp)

    def body(a: Asm, done: int) -> None:
        skip = a.new_label()
        if exp.rate > 1:  # the iteration counter (r15) is a multiple of the rate
            a.ri(C.TEST_RM32_IMM32, R.R15D, exp.rate - 1)
            a.branch(C.JNE_REL32_64, skip)
        _patch(a, exp, lay)
        a.bind(skip)
        a.branch(C.CALL_REL32_64, site)
        a.rr(C.ADD_R64_RM64, ACC, R.RAX)

    fn = timed_function(lambda a: _setup(a, exp, lay), body)
    parts: list[tuple[str, bytes | Asm, bool]] = [("exec image", image, False)]
    extra: dict[str, int] = {}
    if exp.patch_kind == "cross":
        parts.append(("writer", _writer(exp, lay), True))
        extra["stop_flag_addr"] = lay.far_buf + FLAGS + STOP
    program = assemble(
        exp, lay, parts, fn, source_addr=lay.code, source=image, prefill=(0,), **extra
    )
    # list the pieces of the exec image where they run
    img = program.sections[0]
    listed = tuple(
        Section(
            f"{label} (runs at exec+{off:#x})", img.offset + off, size, runs_at=lay.exec_buf + off
        )
        for label, off, size in pieces
    )
    sections = (img, *listed, *program.sections[1:])
    writer = [s.offset for s in program.sections if s.label == "writer"]
    if writer:
        extra["writer_addr"] = lay.code + writer[0]
    return dataclasses.replace(program, sections=sections, writer_addr=extra.get("writer_addr", 0))
