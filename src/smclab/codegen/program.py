"""What the workloads share: the reservation :class:`Layout`, the generated :class:`Program`
and its listing, the timed function frame (``lfence; rdtsc`` around the loop) and
:func:`assemble`, which lays the parts and the function out in the code region.

Memory layout of one experiment (one reservation, see :class:`Layout`)::

    code (RX)     the source bytes (seed payload / jit block template), then the timed function
    gap           no access: 4 TiB (layout 'far', as a C program's .text and its mmap) or 1 MiB
    exec buffer   RWX: where code is written and called (the seed's mmap)
    gap           1 MiB, no access
    far buffer    RW data: the far-store destination (seed) or the RW view of a dual mapping
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from smclab.isa.asm import Asm, C, ListingLine, R, decode_listing, mem
from smclab.model.experiment import Experiment

PAGE = 4096
GAP = 1 << 20
FAR_GAP = 1 << 42
#: where `smclab show` pretends the reservation starts (a worker uses the real address)
NOMINAL_BASE = 0x100000000000
#: the code reservation is sized from the encoded code: first built against this much room
MAX_CODE = 64 << 20
CODE_ALIGN = 64 * 1024
NOP = 0x90
#: membarrier(2) on x86-64: its number, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE (every
#: running thread of the process serializes its core) and the registration that command needs
SYS_MEMBARRIER = 324
MEMBARRIER_SYNC_CORE, MEMBARRIER_REGISTER_SYNC_CORE = 1 << 5, 1 << 6


def align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


@dataclass(frozen=True)
class Layout:
    """Addresses of the regions of one experiment's reservation."""

    base: int
    code_size: int
    exec_size: int
    far_size: int
    gap: int = GAP  # between the code and the exec buffer

    @property
    def code(self) -> int:
        return self.base

    @property
    def exec_buf(self) -> int:
        return self.base + self.code_size + self.gap

    @property
    def far_buf(self) -> int:
        return self.exec_buf + self.exec_size + GAP

    @property
    def total(self) -> int:
        return self.far_buf + self.far_size - self.base

    def at(self, base: int) -> Layout:
        return Layout(base, self.code_size, self.exec_size, self.far_size, self.gap)


@dataclass(frozen=True)
class Section:
    label: str
    offset: int  # in Program.code
    size: int
    code: bool = True  # decode it in the listing (False: summarise as data)
    #: where these bytes run when not where they lie (code copied into the exec buffer)
    runs_at: int | None = None

    def address(self, lay: Layout) -> int:
        return self.runs_at if self.runs_at is not None else lay.code + self.offset


@dataclass(frozen=True)
class Ring:
    """A loop unrolled over a ring of slots: ``slots`` calls in groups of ``batch`` (one write
    per group), each group ``group_bytes`` long, from ``start`` (an address)."""

    start: int
    group_bytes: int
    slots: int
    batch: int = 1

    @property
    def groups(self) -> int:
        return self.slots // self.batch

    @property
    def bytes(self) -> int:
        return self.groups * self.group_bytes

    @property
    def bytes_per_slot(self) -> float:
        return self.group_bytes / self.batch

    def slot_call(self, i: int, write_bytes: int) -> int:
        """The address of slot ``i``'s ``call``."""
        g, j = divmod(i, self.batch)
        return self.start + g * self.group_bytes + write_bytes + 5 * j

    def summary(self) -> str:
        return (
            f"{self.slots} slots unrolled, {self.bytes_per_slot:g} bytes per slot"
            f" ({self.bytes} bytes of loop)"
        )


#: a listing shows this many groups of a ring at its start (and one at its end)
RING_SHOWN = 2


@dataclass(frozen=True)
class Program:
    experiment: Experiment
    layout: Layout
    code: bytes  # placed at layout.code
    entry_addr: int
    source_addr: int  # the bytes copied into the exec buffer (payload / block template)
    source: bytes
    prefill: tuple[int, ...]  # exec-buffer offsets pre-filled with ``source``
    sections: tuple[Section, ...]
    mapping: str = "rwx"  # rwx | dual | remap | flip (see smclab.isa.strategies)
    #: ``void writer(void)``: a cross-modifying store loop for another thread (or 0)
    writer_addr: int = 0
    #: the byte that stops the writer when set (in the far buffer)
    stop_flag_addr: int = 0
    #: (address, note): a comment the listing prints before the line at that address
    marks: tuple[tuple[int, str], ...] = ()
    #: (label, address, bytes): code that also runs outside the code region, listed after it
    elsewhere: tuple[tuple[str, int, bytes], ...] = ()
    #: the loop unrolled over the ring (a direct-call ring), or None
    ring: Ring | None = None

    def symbols(self) -> list[tuple[int, int, str]]:
        """(address, size, name) of the code as it lies in the reservation, for a perf map:
        every section of the code region (``run`` is the timed loop) and the exec buffer,
        where the written payload or block runs (sections copied there are part of it)."""
        tag = f"[{self.experiment.label()}]"
        out = [
            (
                sec.address(self.layout),
                sec.size,
                f"smclab {_SYMBOL.get(sec.label, sec.label)} {tag}",
            )
            for sec in self.sections
            if sec.runs_at is None
        ]
        lay = self.layout
        out.append((lay.exec_buf, lay.exec_size, f"smclab exec-buffer (written code) {tag}"))
        return out

    def to_dict(self) -> dict[str, Any]:
        """What ``smclab show --json`` prints: the experiment, where each region lies, the
        sections and every listed instruction."""
        lay = self.layout
        return {
            "experiment": self.experiment.to_dict(),
            "label": self.experiment.label(),
            "layout": {
                "code": lay.code,
                "code_size": lay.code_size,
                "exec_buf": lay.exec_buf,
                "exec_size": lay.exec_size,
                "far_buf": lay.far_buf,
                "far_size": lay.far_size,
            },
            "entry": self.entry_addr,
            "mapping": self.mapping,
            "sections": [
                {"label": s.label, "address": s.address(lay), "size": s.size, "listed": s.code}
                for s in self.sections
            ],
            "listing": [
                {"section": label, "address": ln.address, "bytes": ln.raw.hex(), "text": ln.text}
                for label, ln in self.listing()
            ],
        }

    def listing(self) -> list[tuple[str | None, ListingLine]]:
        """(label, line) pairs: every code section, decoded."""
        out: list[tuple[str | None, ListingLine]] = []
        for sec in self.sections:
            if not sec.code:
                continue
            raw = self.code[sec.offset : sec.offset + sec.size]
            for i, line in enumerate(decode_listing(raw, sec.address(self.layout))):
                out.append((sec.label if i == 0 else None, line))
        return out

    def listing_text(self) -> str:
        rows = []
        marks: dict[int, list[str]] = {}
        for addr, note in self.marks:
            marks.setdefault(addr, []).append(note)
        lines = iter(self.listing())
        hidden = self._hidden()
        for sec in self.sections:
            addr = sec.address(self.layout)
            if not sec.code:
                rows.append(f"{sec.label}:  ; {sec.size} bytes at {addr:#x} (not listed)")
                continue
            for label, line in lines:
                if label:
                    rows.append(f"{label}:")
                rows += [f"  ; {note}" for note in marks.get(line.address, ())]
                if hidden and hidden[0] <= line.address < hidden[1]:
                    if line.address == hidden[0]:
                        rows.append(f"  ; ... {hidden[2]}")
                else:
                    rows.append(_row(line))
                if line.address + len(line.raw) >= addr + sec.size:
                    break
        for label, addr, raw in self.elsewhere:
            rows.append(f"{label}:")
            rows += [_row(line) for line in decode_listing(raw, addr)]
        return "\n".join(rows)

    def _hidden(self) -> tuple[int, int, str] | None:
        """The middle of a long ring, left out of the listing: (from, to, what it holds)."""
        ring = self.ring
        if ring is None or ring.groups <= RING_SHOWN + 2:
            return None
        lo = ring.start + RING_SHOWN * ring.group_bytes
        hi = ring.start + (ring.groups - 1) * ring.group_bytes
        n = ring.groups - RING_SHOWN - 1
        what = f"{n} more groups of {ring.batch} slot(s)" if ring.batch > 1 else f"{n} more slots"
        return lo, hi, f"{what} like these, {ring.group_bytes} bytes each, to {hi:#x}"


#: section label -> its perf symbol's name
_SYMBOL = {"run": "loop"}


def _row(line: ListingLine) -> str:
    return f"  {line.address:016x}  {line.raw.hex(' '):<32} {line.text}"


# --- the timed function frame shared by the workloads -------------------------------------

ITER = R.R15
SAVED = (R.RBX, R.RBP, R.R12, R.R13, R.R14, R.R15)


def rdtsc(a: Asm) -> None:
    """lfence; rdtsc; rax = edx:eax"""
    a.op(C.LFENCE).op(C.RDTSC)
    a.ri(C.SHL_RM64_IMM8, R.RDX, 32).rr(C.OR_R64_RM64, R.RAX, R.RDX)


def timed_function(
    setup: Callable[[Asm], None],
    body: Callable[[Asm, int], None],
    trailer: Callable[[Asm], None] | None = None,
    vzeroupper: bool = False,
    frame: int = 0,
) -> Asm:
    """``run(iterations)``: save registers, ``setup``, time ``iterations`` rounds of ``body``
    with the seed's loop shape (``dec; je`` at the top, ``jmp`` at the bottom). ``body`` gets
    the exit label, so an unrolled body can count its own iterations. ``frame`` (a multiple of
    16) reserves that many bytes of stack at [rsp] for ``setup`` and ``body`` (the body runs
    with rsp 16-byte aligned, so it may call C functions)."""
    a = Asm()
    for reg in SAVED:
        a.r(C.PUSH_R64, reg)
    if frame:
        a.ri(C.SUB_RM64_IMM32, R.RSP, frame)
    a.rm(C.LEA_R64_M, ITER, mem(R.RDI, 1))  # the seed decrements first: N+1 -> N iterations
    setup(a)
    rdtsc(a)
    a.r(C.PUSH_R64, R.RAX)
    loop, done = a.new_label(), a.new_label()
    a.bind(loop)
    a.r(C.DEC_RM64, ITER)
    a.branch(C.JE_REL32_64, done)
    body(a, done)
    a.branch(C.JMP_REL32_64, loop)
    a.bind(done)
    rdtsc(a)
    a.r(C.POP_R64, R.RCX)
    a.rr(C.SUB_R64_RM64, R.RAX, R.RCX)
    if frame:
        a.ri(C.ADD_RM64_IMM32, R.RSP, frame)
    for reg in reversed(SAVED):
        a.r(C.POP_R64, reg)
    if vzeroupper:
        a.op(C.VEX_VZEROUPPER)
    a.op(C.RETNQ)
    if trailer:
        trailer(a)
    return a


def assemble(
    exp: Experiment,
    lay: Layout,
    parts: Sequence[tuple[str, bytes | Asm, bool]],
    fn: Asm,
    **program: object,
) -> Program:
    """Lay out ``parts`` (label, bytes, listed) at 64-byte aligned offsets, then the function
    (encoded for the address it lands at); check it fits the code reservation. A part whose
    bytes are an :class:`Asm` is encoded where it lands."""
    code = b""
    sections = []
    for label, raw, listed in parts:
        code += bytes([NOP]) * (align(len(code), 64) - len(code))
        raw = raw.encode(lay.code + len(code)) if isinstance(raw, Asm) else raw
        sections.append(Section(label, len(code), len(raw), listed))
        code += raw
    code += bytes([NOP]) * (align(len(code), 64) - len(code))
    entry = lay.code + len(code)
    body = fn.encode(entry)
    sections.append(Section("run", len(code), len(body)))
    code += body
    if len(code) > lay.code_size:
        raise ValueError(f"generated code ({len(code)} bytes) exceeds its reservation")
    return Program(exp, lay, code, entry, sections=tuple(sections), **program)  # type: ignore[arg-type]


def build_rdtsc(address: int) -> bytes:
    """``uint64_t rdtsc(void)``: ``lfence; rdtsc``, returned as one 64-bit value."""
    a = Asm()
    rdtsc(a)
    a.op(C.RETNQ)
    return a.encode(address)
