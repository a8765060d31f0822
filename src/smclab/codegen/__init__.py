"""Code generation: an :class:`~smclab.spec.Experiment` becomes machine code (iced-x86).

The generated function has the C signature ``uint64_t run(uint64_t iterations)``: it runs the
experiment's loop ``iterations`` times between two ``lfence; rdtsc`` and returns the tick
delta, so everything outside the loop (the Python call) is outside the measured interval.

Memory layout of one experiment (one reservation, see :class:`Layout`)::

    code (RX)     payload (the seed's `ret` + nop padding), then the timed function
    gap           1 MiB, no access
    exec buffer   RWX: where the payload is copied to and called (the seed's mmap)
    gap           1 MiB, no access
    far buffer    RW data: the destination of the far-store control
"""

from __future__ import annotations

from dataclasses import dataclass

from ..spec import Experiment
from . import barriers, copy
from .asm import Asm, C, ListingLine, R, decode_listing, mem

PAGE = 4096
GAP = 1 << 20
CODE_RESERVE = 64 * 1024
#: where `smclab show` pretends the reservation starts (a worker uses the real address)
NOMINAL_BASE = 0x7F0000000000

NOP = 0x90
OP_BYTES = {"ret": b"\xc3", "ud2": b"\x0f\x0b"}
PAD_BYTES = {"nop": b"\x90", "int3": b"\xcc", "ud2": b"\x0f\x0b"}


def _align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


@dataclass(frozen=True)
class Layout:
    """Addresses of the regions of one experiment's reservation."""

    base: int
    code_size: int
    exec_size: int
    far_size: int

    @property
    def code(self) -> int:
        return self.base

    @property
    def exec_buf(self) -> int:
        return self.base + self.code_size + GAP

    @property
    def far_buf(self) -> int:
        return self.exec_buf + self.exec_size + GAP

    @property
    def total(self) -> int:
        return self.far_buf + self.far_size - self.base


def layout_for(exp: Experiment, base: int = NOMINAL_BASE) -> Layout:
    return Layout(base, CODE_RESERVE, exp.buffer, exp.buffer)


def payload_bytes(exp: Experiment) -> bytes:
    """The seed's payload: one instruction (``ret``) padded (``nop`` as the seed) to its size."""
    op = OP_BYTES[exp.op]
    pad = PAD_BYTES[exp.pad] * exp.payload
    return (op + pad)[: max(exp.payload, len(op))]


def slot_offsets(exp: Experiment) -> list[int]:
    """Offsets in the exec buffer the loop calls, in order (one lap)."""
    if exp.step == 0:
        return [exp.origin]
    return list(range(0, exp.buffer, exp.step))


@dataclass(frozen=True)
class Program:
    experiment: Experiment
    layout: Layout
    code: bytes  # placed at layout.code
    payload_addr: int
    entry_addr: int
    payload: bytes

    def listing(self) -> list[tuple[str | None, ListingLine]]:
        """(label, line) pairs for the payload and the function."""
        out: list[tuple[str | None, ListingLine]] = []
        plen = len(self.payload)
        for i, line in enumerate(decode_listing(self.payload, self.payload_addr)):
            out.append(("payload" if i == 0 else None, line))
        off = self.entry_addr - self.layout.code
        assert plen <= off
        for i, line in enumerate(decode_listing(self.code[off:], self.entry_addr)):
            out.append(("run" if i == 0 else None, line))
        return out

    def listing_text(self) -> str:
        rows = []
        for label, line in self.listing():
            if label:
                rows.append(f"{label}:")
            rows.append(f"  {line.address:016x}  {line.raw.hex(' '):<32} {line.text}")
        return "\n".join(rows)


# registers of the seed loop (callee-saved: they survive cpuid and the call)
ITER, BUF, POS, END, WPTR = R.R15, R.R12, R.R13, R.R14, R.RBP
SAVED = (R.RBX, R.RBP, R.R12, R.R13, R.R14, R.R15)


def _rdtsc(a: Asm) -> None:
    """lfence; rdtsc; rax = edx:eax"""
    a.op(C.LFENCE).op(C.RDTSC)
    a.ri(C.SHL_RM64_IMM8, R.RDX, 32).rr(C.OR_R64_RM64, R.RAX, R.RDX)


def _tracks_ahead(exp: Experiment) -> bool:
    """Write-ahead with a moving slot: the write pointer is its own register."""
    return exp.store == "exec" and exp.ahead != 0 and exp.step != 0


def _store(a: Asm, exp: Experiment, lay: Layout, payload_addr: int) -> None:
    """The seed's copy: rdi = destination, rsi = payload, then the copy method."""
    method = copy.METHODS[exp.copy]
    if method.load is None:  # the seed's order: mov rcx; mov rdi; lea rsi; rep movsb
        a.ri(C.MOV_RM64_IMM32, R.RCX, exp.payload // method.width)
    if exp.store == "far":  # the same offset in a data buffer far from any code
        a.rm(C.LEA_R64_M, R.RDI, mem(POS, lay.far_buf - lay.exec_buf))
    elif _tracks_ahead(exp):
        a.rr(C.MOV_R64_RM64, R.RDI, WPTR)
    elif exp.ahead:
        a.rm(C.LEA_R64_M, R.RDI, mem(POS, exp.ahead))
    else:
        a.rr(C.MOV_R64_RM64, R.RDI, POS)
    a.rm(C.LEA_R64_M, R.RSI, mem(R.RIP, payload_addr))
    if method.load is None:
        a.rep_movs(method.width)
    else:
        copy.emit_copy(a, exp.copy, exp.payload)


def _call(a: Asm, exp: Experiment, lay: Layout, payload_addr: int, thunk: int) -> None:
    """Transfer to the slot (or the source payload) so that its ``ret`` comes back here."""
    kind = exp.call
    if kind == "indirect":
        a.r(C.CALL_RM64, POS)
    elif kind == "direct":
        a.branch(C.CALL_REL32_64, lay.exec_buf + exp.origin)
    elif kind == "source":  # the original payload, never the copy (the seed's baseline)
        a.branch(C.CALL_REL32_64, payload_addr)
    elif kind == "retpoline":
        a.branch(C.CALL_REL32_64, thunk)
    else:  # jmp / push-ret: push the return address by hand, then jump or return to the slot
        back = a.new_label()
        a.rm(C.LEA_R64_M, R.RAX, mem(R.RIP, back))
        a.r(C.PUSH_R64, R.RAX)
        if kind == "jmp":
            a.r(C.JMP_RM64, POS)
        else:
            a.r(C.PUSH_R64, POS)
            a.op(C.RETNQ)
        a.bind(back)


def _retpoline_thunk(a: Asm, thunk: int) -> None:
    """The retpoline thunk for r13: speculation is captured in a pause/lfence loop."""
    capture, setup = a.new_label(), a.new_label()
    a.bind(thunk)
    a.branch(C.CALL_REL32_64, setup)
    a.bind(capture)
    a.op(C.PAUSE).op(C.LFENCE)
    a.branch(C.JMP_REL32_64, capture)
    a.bind(setup)
    a.mr(C.MOV_RM64_R64, mem(R.RSP), POS)
    a.op(C.RETNQ)


def _loop_body(a: Asm, exp: Experiment, lay: Layout, payload_addr: int, thunk: int) -> None:
    if exp.store == "none":
        barriers.emit(a, exp.barrier)
    else:
        if exp.placement in ("before-store", "both"):
            barriers.emit(a, exp.barrier)
        _store(a, exp, lay, payload_addr)
        if exp.placement in ("after-store", "both"):
            barriers.emit(a, exp.barrier)
    _call(a, exp, lay, payload_addr, thunk)


def build(exp: Experiment, lay: Layout | None = None) -> Program:
    """Generate the experiment's code for the reservation ``lay`` (nominal if omitted)."""
    lay = lay or layout_for(exp)
    payload = payload_bytes(exp)
    payload_addr = lay.code
    entry = lay.code + _align(len(payload), 64)

    a = Asm()
    for reg in SAVED:
        a.r(C.PUSH_R64, reg)
    a.rm(C.LEA_R64_M, ITER, mem(R.RDI, 1))  # the seed decrements first: N+1 -> N iterations
    a.ri(C.MOV_R64_IMM64, BUF, lay.exec_buf)
    a.rm(C.LEA_R64_M, POS, mem(BUF, exp.origin))
    a.ri(C.MOV_R64_IMM64, END, lay.exec_buf + exp.buffer)
    if _tracks_ahead(exp):
        a.rm(C.LEA_R64_M, WPTR, mem(BUF, exp.ahead))
    _rdtsc(a)
    a.r(C.PUSH_R64, R.RAX)

    loop, nxt, done, thunk = a.new_label(), a.new_label(), a.new_label(), a.new_label()
    # the seed's loop, instruction for instruction (registers renamed)
    a.bind(loop)
    a.r(C.DEC_RM64, ITER)
    a.branch(C.JE_REL32_64, done)
    _loop_body(a, exp, lay, payload_addr, thunk)
    a.rm(C.LEA_R64_M, POS, mem(POS, exp.step))
    a.rr(C.CMP_R64_RM64, POS, END)
    a.branch(C.JB_REL32_64, nxt)
    a.rr(C.MOV_R64_RM64, POS, BUF)
    a.bind(nxt)
    if _tracks_ahead(exp):  # the write pointer runs A bytes ahead, modulo the buffer
        wrapped = a.new_label()
        a.rm(C.LEA_R64_M, WPTR, mem(WPTR, exp.step))
        a.rr(C.CMP_R64_RM64, WPTR, END)
        a.branch(C.JB_REL32_64, wrapped)
        a.ri(C.SUB_RM64_IMM32, WPTR, exp.buffer)
        a.bind(wrapped)
    a.branch(C.JMP_REL32_64, loop)

    a.bind(done)
    _rdtsc(a)
    a.r(C.POP_R64, R.RCX)
    a.rr(C.SUB_R64_RM64, R.RAX, R.RCX)
    for reg in reversed(SAVED):
        a.r(C.POP_R64, reg)
    if copy.uses_wide_vectors(exp.copy):
        a.op(C.VEX_VZEROUPPER)
    a.op(C.RETNQ)
    if exp.call == "retpoline":
        _retpoline_thunk(a, thunk)

    body = a.encode(entry)
    pad = bytes([NOP]) * (entry - payload_addr - len(payload))
    code = payload + pad + body
    if len(code) > lay.code_size:
        raise ValueError(f"generated code ({len(code)} bytes) exceeds its reservation")
    return Program(exp, lay, code, payload_addr, entry, payload)


def build_rdtsc(address: int) -> bytes:
    """``uint64_t rdtsc(void)``: ``lfence; rdtsc``, returned as one 64-bit value."""
    a = Asm()
    _rdtsc(a)
    a.op(C.RETNQ)
    return a.encode(address)
