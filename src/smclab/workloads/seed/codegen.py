"""The seed workload: copy a payload into an executable buffer, call it, move on."""

from __future__ import annotations

import dataclasses
from typing import Any

from smclab.codegen.program import (
    FAR_GAP,
    GAP,
    ITER,
    PAGE,
    Layout,
    Program,
    Ring,
    Section,
    assemble,
    timed_function,
)
from smclab.errors import SpecError
from smclab.isa import gas
from smclab.isa import vocabulary as vocab
from smclab.isa.asm import Asm, C, R, Register, decode_listing, iter_listing, mem
from smclab.model.experiment import Experiment
from smclab.workloads.seed.spec import CROSS_OFFSET

OP_BYTES = {"ret": b"\xc3", "ud2": b"\x0f\x0b"}

# registers of the seed loop (callee-saved: they survive cpuid and the call)
BUF, POS, END, WPTR = R.R12, R.R13, R.R14, R.RBP
#: the iteration number handed to a user's write section (in rdx)
COUNT = R.RBX


def layout_for(exp: Experiment, base: int, code_size: int) -> Layout:
    """The far buffer has one extra page: the cross-modifying writer's stop flag lives there,
    out of reach of any store the loop makes."""
    gap = FAR_GAP if exp.layout == "far" else GAP
    return Layout(base, code_size, exp.buffer, exp.buffer + PAGE, gap)


def user_code(exp: Experiment) -> gas.Assembled | None:
    """An assembly experiment's sections, assembled and checked (SpecError if refused)."""
    if not exp.asm:
        return None
    code = gas.assemble(exp.asm, exp.asm_name, exp.step, exp.buffer, exp.payload)
    n = len(code.payload)
    if n > exp.payload:
        raise SpecError(
            f"{code.name}: the payload assembles to {n} bytes, more than the payload knob"
            f" ({exp.payload}): give --payload {n} or more"
        )
    return code


def payload_bytes(exp: Experiment, user: gas.Assembled | None = None) -> bytes:
    """The seed's payload: one instruction (``ret``) padded (``nop`` as the seed) to its size;
    an assembly experiment's payload section padded the same way."""
    op = user.payload if user else OP_BYTES[exp.op]
    pad = vocab.PADS[exp.pad].raw * exp.payload
    return (op + pad)[: max(exp.payload, len(op))]


def slot_offsets(exp: Experiment) -> list[int]:
    """Offsets in the exec buffer the loop calls, in order (one lap)."""
    if exp.step == 0:
        return [exp.origin]
    return list(range(0, exp.buffer, exp.step))


def _tracks_ahead(exp: Experiment) -> bool:
    """Write-ahead with a moving slot: the write pointer is its own register."""
    return exp.store == "exec" and exp.ahead != 0 and exp.step != 0


def _store(
    a: Asm,
    exp: Experiment,
    lay: Layout,
    payload_addr: int,
    user: gas.Assembled | None,
    dest: int | None = None,
) -> None:
    """The seed's copy: rdi = destination, rsi = payload, then the copy method (or the user's
    write section, with rdx = the iteration number). ``dest``: the destination's address
    when it is static (the unrolled ring: ``lea rdi,[rip+dest]``)."""
    method = vocab.COPIES[exp.copy]
    size = exp.payload * exp.batch
    own = user is not None and user.has_write
    if dest is not None and (regs := held_registers(exp, user)):
        _store_held(a, exp, dest, regs)
        return
    if method.rep and not own:  # the seed's order: mov rcx; mov rdi; lea rsi; rep movsb
        a.ri(C.MOV_RM64_IMM32, R.RCX, size // method.width)
    if dest is not None:
        a.rm(C.LEA_R64_M, R.RDI, mem(R.RIP, dest))
    elif exp.store == "far":  # the same offset in a data buffer far from any code
        a.rm(C.LEA_R64_M, R.RDI, mem(POS, lay.far_buf - lay.exec_buf))
    elif _tracks_ahead(exp):
        a.rr(C.MOV_R64_RM64, R.RDI, WPTR)
    elif exp.ahead:
        a.rm(C.LEA_R64_M, R.RDI, mem(POS, exp.ahead))
    else:
        a.rr(C.MOV_R64_RM64, R.RDI, POS)
    # where the next write will start
    vocab.PREFETCHES[exp.prefetch].emit(a, mem(R.RDI, exp.step * exp.batch))
    a.rm(C.LEA_R64_M, R.RSI, mem(R.RIP, payload_addr))
    if user is not None and user.has_write:
        if user.counts:  # rdx = the iteration number (only for a writer that reads it)
            a.rr(C.MOV_R64_RM64, R.RDX, COUNT)
            a.r(C.INC_RM64, COUNT)
        a.data(user.write)
    elif method.rep:
        method.emit_string(a)
    else:
        method.emit(a, size)


#: most vector registers that hold the payload for a whole run (ymm0-ymm7 need no REX/EVEX
#: extension bits: every store of the ring has the same length)
HELD_MAX = 8


def held_registers(exp: Experiment, user: gas.Assembled | None = None) -> list[Register]:
    """The registers an unrolled ring keeps the payload in (loaded once before the timed loop,
    so each slot's copy is its stores alone), or [] when the copy reloads it every time
    (``rep`` strings, 1- and 8-byte moves, a user's write section, a payload of more than
    :data:`HELD_MAX` registers)."""
    method = vocab.COPIES[exp.copy]
    if (user is not None and user.has_write) or method.rep or method.width < 16:
        return []
    n = exp.payload // method.width
    if n > HELD_MAX or exp.payload % method.width:
        return []
    return [method.reg + i for i in range(n)]  # type: ignore[misc]


def _store_held(a: Asm, exp: Experiment, dest: int, regs: list[Register]) -> None:
    """The copy of a ring slot from the held registers: ``batch`` payloads, stores only."""
    method = vocab.COPIES[exp.copy]
    assert method.store is not None
    vocab.PREFETCHES[exp.prefetch].emit(a, mem(R.RIP, dest + exp.step * exp.batch))
    for k in range(exp.batch):
        for i, reg in enumerate(regs):
            a.mr(method.store, mem(R.RIP, dest + k * exp.payload + i * method.width), reg)


def _call(a: Asm, exp: Experiment, lay: Layout, payload_addr: int, thunk: int, slot: int) -> None:
    """Transfer to the slot (or the source payload) so that its ``ret`` comes back here (the
    call kinds: :data:`smclab.isa.vocabulary.CALLS`)."""
    kind = exp.call
    if kind == "indirect":
        a.r(C.CALL_RM64, POS)
    elif kind == "direct":  # the slot's address is known: the loop is unrolled over the ring
        a.branch(C.CALL_REL32_64, lay.exec_buf + exp.origin + slot)
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


def _loop_body(
    a: Asm,
    exp: Experiment,
    lay: Layout,
    payload_addr: int,
    thunk: int,
    slot: int,
    write: bool,
    user: gas.Assembled | None,
    dest: int | None = None,
) -> None:
    barrier = vocab.BARRIERS[exp.barrier]
    if write:  # (a batched write placed this slot's payload already when not)
        if exp.store == "none":
            barrier.emit(a)
        else:
            if exp.placement in ("before-store", "both"):
                barrier.emit(a)
            _store(a, exp, lay, payload_addr, user, dest)
            _evict(a, exp, dest if held_registers(exp, user) else None)
            if exp.placement in ("after-store", "both"):
                barrier.emit(a)
        _chain(a, exp)
    _call(a, exp, lay, payload_addr, thunk, slot)


def _evict(a: Asm, exp: Experiment, dest: int | None = None) -> None:
    """The ``evict`` knob: one line instruction per written line (rep copies leave rdi past
    the end of what they wrote, the unrolled ones at its start; ``dest``: the static address
    written, when no register holds it)."""
    op = vocab.EVICTS[exp.evict]
    if op.code is None:
        return
    size = exp.payload * exp.batch
    start = -size if vocab.COPIES[exp.copy].rep else 0
    for off in range(0, size, 64):
        op.emit(a, mem(R.RIP, dest + off) if dest is not None else mem(R.RDI, start + off))


def _chain(a: Asm, exp: Experiment) -> None:
    """The ``chain`` knob: ``chain`` dependent ``imul rax, rax``, then ``and eax, 0`` (no zero
    idiom: it depends on the chain) added to the call target register, so a call through it
    cannot execute before the chain has (a direct call still has to retire after it)."""
    if not exp.chain:
        return
    for _ in range(exp.chain):
        a.rr(C.IMUL_R64_RM64, R.RAX, R.RAX)
    a.ri(C.AND_RM32_IMM8, R.EAX, 0)
    a.rr(C.ADD_R64_RM64, POS, R.RAX)


def _user_setup(a: Asm, exp: Experiment, payload_addr: int, user: gas.Assembled) -> None:
    """Before the first rdtsc: the iteration number, then the user's init section (rdi = the
    exec buffer, rsi = the source payload, rdx = the buffer size)."""
    if user.counts:
        a.rr(C.XOR_R32_RM32, R.EBX, R.EBX)
    if user.init:
        a.rr(C.MOV_R64_RM64, R.RDI, BUF)
        a.rm(C.LEA_R64_M, R.RSI, mem(R.RIP, payload_addr))
        a.ri(C.MOV_RM64_IMM32, R.RDX, exp.buffer)
        a.data(user.init)


def _user_marks(code: bytes, base: int, run: Section, user: gas.Assembled) -> list[tuple[int, str]]:
    """Listing notes: where the user's inlined sections start and end in the function."""
    raw = code[run.offset : run.offset + run.size]
    starts = {line.address - base - run.offset for line in decode_listing(raw, base + run.offset)}
    marks = []
    for name, part in (("init", user.init), ("write", user.write)):
        at = raw.find(part) if part else -1
        while at >= 0:
            if at in starts:
                addr = base + run.offset + at
                marks += [(addr, f"{name} ({user.name})"), (addr + len(part), f"end of {name}")]
            at = raw.find(part, at + 1)
    return marks


def ring_of(exp: Experiment) -> bool:
    """Whether the loop is unrolled over the ring (direct calls name each slot)."""
    return vocab.CALLS[exp.call].unrolled and exp.step != 0


def _ring_dest(exp: Experiment, lay: Layout, slot: int) -> int:
    """Where the write made before calling ``slot`` goes: ``ahead`` bytes on (mod the ring), or
    the same offset in the far buffer."""
    if exp.store == "far":
        return lay.far_buf + slot
    return lay.exec_buf + (slot + exp.ahead) % exp.buffer


#: bytes of ``call rel32``
CALL_BYTES = 5


def _imul(a: Asm, reg: Register, n: int) -> None:
    """reg *= n"""
    a.rri(C.IMUL_R64_RM64_IMM32, reg, reg, n)


class _Ring:
    """The loop unrolled over the ring as a hand-written JIT loop would be: per slot only the
    write (every ``batch`` slots) and ``call rel32``; every address is static (rip-relative),
    the payload stays in registers where it fits (:func:`held_registers`). One pass runs the
    ring once; a run of N iterations enters the first pass at slot ``n - N % n`` (a computed
    jump, as Duff's device), so it counts exactly N calls with no check per slot."""

    def __init__(self, exp: Experiment, lay: Layout, payload_addr: int, user: gas.Assembled | None):
        self.exp, self.lay, self.payload_addr, self.user = exp, lay, payload_addr, user
        self.slots = slot_offsets(exp)
        self.start = 0  # the label of the first slot (set by body)
        probe = Asm()  # every group has the same length (rip-relative disp32, call rel32)
        self.write(probe, 0)
        self.write_bytes = len(probe.encode(lay.code)) if probe.instructions else 0
        self.group_bytes = self.write_bytes + exp.batch * CALL_BYTES
        self.template = self._template(probe)

    def _template(self, first: Asm) -> list[tuple[Any, bool]] | None:
        """Slot 0's write as a template for every slot: (instruction, moves with the
        destination), found by comparing it with the write of a slot whose destination moves
        differently from the slot (it wraps); None where they differ otherwise (then every
        slot's write is generated in full)."""
        exp = self.exp
        wraps = exp.store == "exec" and exp.ahead
        other = exp.buffer - exp.ahead if wraps else self.slots[min(1, len(self.slots) - 1)]
        second = Asm()
        self.write(second, other)
        moved = _ring_dest(exp, self.lay, other) - _ring_dest(exp, self.lay, 0)
        out = []
        for a, b in zip(first.instructions, second.instructions, strict=False):
            if a.code != b.code or len(first.instructions) != len(second.instructions):
                return None
            if not a.is_ip_rel_memory_operand:
                if a != b:
                    return None
                out.append((a, False))
                continue
            d = b.memory_displacement - a.memory_displacement
            if d not in (0, moved) or (moved == 0 and wraps):
                return None
            out.append((a, d != 0))
        return out

    def _write_fast(self, a: Asm, slot: int) -> None:
        """The write of ``slot`` from the template (what :meth:`write` would emit)."""
        assert self.template is not None
        moved = _ring_dest(self.exp, self.lay, slot) - _ring_dest(self.exp, self.lay, 0)
        for ins, moves in self.template:
            c = ins.copy()
            if moves:
                c.memory_displacement = (ins.memory_displacement + moved) % (1 << 64)
            a.emit(c)

    def write(self, a: Asm, slot: int) -> None:
        _loop_body(
            a,
            self.exp,
            self.lay,
            self.payload_addr,
            0,
            slot,
            True,
            self.user,
            _ring_dest(self.exp, self.lay, slot),
        )
        a.instructions.pop()  # the call (emitted by body, one per slot)

    def setup(self, a: Asm) -> None:
        """r15 = passes + 1 (the frame decrements first), r14 = where the first pass enters;
        the payload loaded into its registers. Reads the iteration count from rdi."""
        exp, n, k = self.exp, len(self.slots), self.exp.batch
        self.start = a.new_label()
        aligned = a.new_label()
        a.rr(C.MOV_R64_RM64, R.RAX, R.RDI)
        a.rr(C.XOR_R32_RM32, R.EDX, R.EDX)
        a.ri(C.MOV_RM64_IMM32, R.RCX, n)
        a.r(C.DIV_RM64, R.RCX)  # rax = whole passes, rdx = the rest
        a.rm(C.LEA_R64_M, R.R15, mem(R.RAX, 1))
        a.rm(C.LEA_R64_M, R.R14, mem(R.RIP, self.start))
        a.rr(C.TEST_RM64_R64, R.RDX, R.RDX)
        a.branch(C.JE_REL32_64, aligned)
        a.r(C.INC_RM64, R.R15)  # a first, partial pass from slot s = n - rest
        a.rr(C.SUB_R64_RM64, R.RCX, R.RDX)
        if k > 1:
            a.rr(C.MOV_R64_RM64, R.RAX, R.RCX)
            a.rr(C.XOR_R32_RM32, R.EDX, R.EDX)
            a.ri(C.MOV_RM64_IMM32, R.RCX, k)
            a.r(C.DIV_RM64, R.RCX)  # rcx = s // batch (its group), rdx = s % batch
            a.rr(C.MOV_R64_RM64, R.RCX, R.RAX)
        _imul(a, R.RCX, self.group_bytes)
        a.rr(C.ADD_R64_RM64, R.R14, R.RCX)
        if k > 1:  # mid-group: past the group's write, to the call of slot s
            a.rr(C.TEST_RM64_R64, R.RDX, R.RDX)
            a.branch(C.JE_REL32_64, aligned)
            _imul(a, R.RDX, CALL_BYTES)
            a.rm(C.LEA_R64_M, R.R14, mem(R.R14, self.write_bytes, R.RDX))
        a.bind(aligned)
        method = vocab.COPIES[exp.copy]
        for i, reg in enumerate(held_registers(exp, self.user)):
            assert method.load is not None
            a.rm(method.load, reg, mem(R.RIP, self.payload_addr + i * method.width))

    def body(self, a: Asm) -> None:
        a.r(C.JMP_RM64, R.R14)
        a.bind(self.start)
        for i, off in enumerate(self.slots):
            if i % self.exp.batch == 0:
                (self.write if self.template is None else self._write_fast)(a, off)
            a.branch(C.CALL_REL32_64, self.lay.exec_buf + off)
        a.rm(C.LEA_R64_M, R.R14, mem(R.RIP, self.start))  # later passes enter at slot 0

    def laid_out(self, program: Program) -> Ring:
        """Where the ring landed in ``program`` (just after the ``jmp r14``), checked: at each
        group's start + the write + 5 bytes per call before it, a call rel32 to its slot."""
        run = program.sections[-1]
        code, base = program.code, program.layout.code
        start = next(
            ln.address + len(ln.raw)
            for ln in iter_listing(code[run.offset : run.offset + run.size], base + run.offset)
            if ln.text == "jmp     r14"
        )
        ring = Ring(start, self.group_bytes, len(self.slots), self.exp.batch)
        for i, off in enumerate(self.slots):
            at = ring.slot_call(i, self.write_bytes)
            rel = int.from_bytes(code[at - base + 1 : at - base + 5], "little", signed=True)
            if code[at - base] != 0xE8 or at + 5 + rel != self.lay.exec_buf + off:
                raise AssertionError(f"the unrolled ring's slot {i} is not where it belongs")
        return ring


def build(exp: Experiment, lay: Layout) -> Program:
    user = user_code(exp)
    payload = payload_bytes(exp, user)
    payload_addr = lay.code  # the first part laid out by assemble()
    thunk = 0
    ring = _Ring(exp, lay, payload_addr, user) if ring_of(exp) else None

    def setup(a: Asm) -> None:
        a.ri(C.MOV_R64_IMM64, BUF, lay.exec_buf)
        if ring is not None:
            ring.setup(a)
        else:
            a.rm(C.LEA_R64_M, POS, mem(BUF, exp.origin))
            a.ri(C.MOV_R64_IMM64, END, lay.exec_buf + exp.buffer)
            if _tracks_ahead(exp):
                a.rm(C.LEA_R64_M, WPTR, mem(BUF, exp.ahead))
        if user is not None:
            _user_setup(a, exp, payload_addr, user)

    def one(a: Asm, slot: int, write: bool) -> None:  # the seed's body (registers renamed)
        nonlocal thunk
        thunk = thunk or a.new_label()
        _loop_body(a, exp, lay, payload_addr, thunk, slot, write, user)
        nxt = a.new_label()
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

    def body(a: Asm, done: int) -> None:
        if ring is not None:
            ring.body(a)
            return
        for i in range(exp.batch):  # unrolled over a batch of writes
            if i:  # one copy of the body per slot, each with its own exit check
                a.r(C.DEC_RM64, ITER)
                a.branch(C.JE_REL32_64, done)
            one(a, 0, i == 0)

    def trailer(a: Asm) -> None:
        if exp.call == "retpoline":
            _retpoline_thunk(a, thunk)

    wide = vocab.COPIES[exp.copy].wide or bool(user and user.wide)
    fn = timed_function(setup, body, trailer, wide)
    label = f"payload ({user.name})" if user else "payload"
    parts: list[tuple[str, bytes | Asm, bool]] = [(label, payload * exp.batch, True)]
    extra: dict[str, object] = {}
    if exp.cross != "none":
        stop_flag = lay.far_buf + exp.buffer  # the extra page, beyond every store
        target = lay.exec_buf + exp.origin + CROSS_OFFSET[exp.cross]
        parts.append(("writer", _writer(target, stop_flag, exp.cross_period), True))
        extra = {"stop_flag_addr": stop_flag}
    program = assemble(
        exp,
        lay,
        parts,
        fn,
        source_addr=payload_addr,
        source=payload,
        prefill=tuple(slot_offsets(exp)),
        **extra,
    )
    if ring is not None:
        program = dataclasses.replace(program, ring=ring.laid_out(program))
    writer = [sec for sec in program.sections if sec.label == "writer"]
    if writer:
        program = dataclasses.replace(program, writer_addr=lay.code + writer[0].offset)
    if user is not None:
        slot = lay.exec_buf + exp.origin
        program = dataclasses.replace(
            program,
            marks=tuple(_user_marks(program.code, lay.code, program.sections[-1], user)),
            elsewhere=((f"payload ({user.name}) as called, in the exec buffer", slot, payload),),
        )
    return program


def _writer(target: int, stop_flag: int, period: int = 0) -> Asm:
    """``void writer(void)``: store a nop byte at ``target`` until ``*stop_flag`` != 0; with a
    ``period``, one store every ``period`` TSC ticks (spinning on rdtsc in between)."""
    if period:
        return _paced_writer(target, stop_flag, period)
    a = Asm()
    loop = a.new_label()
    a.ri(C.MOV_R64_IMM64, R.RDX, target)
    a.ri(C.MOV_R64_IMM64, R.RCX, stop_flag)
    a.bind(loop)
    a.mi(C.MOV_RM8_IMM8, mem(R.RDX), 0x90 - 256)
    a.mi(C.CMP_RM8_IMM8, mem(R.RCX), 0)
    a.branch(C.JE_REL32_64, loop)
    a.op(C.RETNQ)
    return a


def _paced_writer(target: int, stop_flag: int, period: int) -> Asm:
    """The writer storing once every ``period`` TSC ticks: r9 holds the next store's time."""
    a = Asm()
    store, wait, done = a.new_label(), a.new_label(), a.new_label()
    a.ri(C.MOV_R64_IMM64, R.RSI, target)
    a.ri(C.MOV_R64_IMM64, R.RCX, stop_flag)
    a.ri(C.MOV_R64_IMM64, R.R8, period)
    _rdtsc_rax(a)
    a.rr(C.MOV_R64_RM64, R.R9, R.RAX)
    a.bind(store)
    a.mi(C.MOV_RM8_IMM8, mem(R.RSI), 0x90 - 256)
    a.rr(C.ADD_R64_RM64, R.R9, R.R8)
    a.bind(wait)
    a.mi(C.CMP_RM8_IMM8, mem(R.RCX), 0)
    a.branch(C.JNE_REL32_64, done)
    a.op(C.PAUSE)
    _rdtsc_rax(a)
    a.rr(C.CMP_R64_RM64, R.RAX, R.R9)
    a.branch(C.JB_REL32_64, wait)
    a.branch(C.JMP_REL32_64, store)
    a.bind(done)
    a.op(C.RETNQ)
    return a


def _rdtsc_rax(a: Asm) -> None:
    """rax = the 64-bit TSC (clobbers rdx)."""
    a.op(C.RDTSC)
    a.ri(C.SHL_RM64_IMM8, R.RDX, 32)
    a.rr(C.OR_R64_RM64, R.RAX, R.RDX)
