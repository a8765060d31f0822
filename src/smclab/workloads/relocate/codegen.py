"""The relocate workload: a chain of basic blocks, each copied into a common region, then run.

This is the seed's research use ("copy all executed code to a common location"). The chain is
:data:`SIZES` blocks of 16 to 512 bytes of real ALU and load instructions (loads from a data
page that ``rbx`` points at); even blocks end with ``ret``, odd ones with ``jmp rel32`` to a
shared ``ret`` stub, which a copy must relocate (one 4-byte store after the copy). One
iteration runs one block; the loop is unrolled over the chain, so every address is static.

Schemes (``scheme``), in the exec buffer, each block copied with 8-byte moves:

* ``slot``: every block into one slot, then run it (the naive relocator);
* ``double``: alternate between two slots;
* ``ring``: a ring of :data:`RING_SLOTS` slots written ``lead`` blocks ahead of the one run;
* ``trace``: at the start of each pass, copy the whole next pass into the other of two trace
  buffers (write-ahead by a whole trace);
* ``inplace`` (the floor): the chain runs where it lies, never copied.
"""

from __future__ import annotations

from collections.abc import Callable

from smclab.codegen.program import GAP, ITER, PAGE, Layout, Program, assemble, timed_function
from smclab.isa import vocabulary as vocab
from smclab.isa.asm import Asm, C, R, mem
from smclab.model.experiment import Experiment
from smclab.workloads.relocate.spec import RING_SLOTS

#: block sizes (bytes, multiples of the 8-byte copy)
SIZES = (16, 48, 512, 96, 256, 32, 384, 64, 128, 200, 448, 24, 160, 320, 80, 496)
SLOT = 512
TRACE = 4096  # one trace buffer (the chain is 3264 bytes)
COPY = "mov64"
DATA = R.RBX
JMP = 5  # jmp rel32

#: the instructions a block is made of, cycled (k: the position, for the load's offset)
_OPS: tuple[Callable[[Asm, int], object], ...] = (
    lambda a, k: a.rm(C.MOV_R64_RM64, R.RCX, mem(DATA, 8 * (k % 16))),
    lambda a, k: a.rr(C.ADD_R64_RM64, R.RAX, R.RCX),
    lambda a, k: a.rr(C.XOR_R64_RM64, R.RDX, R.RAX),
    lambda a, k: a.rr(C.IMUL_R64_RM64, R.R8, R.RDX),
    lambda a, k: a.rm(C.LEA_R64_M, R.R9, mem(R.R8, 0, R.RAX, 2)),
    lambda a, k: a.rr(C.SUB_R64_RM64, R.RAX, R.R9),
)


def offsets() -> list[int]:
    out = [0]
    for size in SIZES[:-1]:
        out.append(out[-1] + size)
    return out


def ends_in_jmp(b: int) -> bool:
    return b % 2 == 1


def block(b: int, address: int, stub: int) -> bytes:
    """Block ``b`` as it runs at ``address``: ALU and load instructions, nop padding, then
    ``ret`` or ``jmp rel32`` to ``stub``."""
    size = SIZES[b]
    tail = JMP if ends_in_jmp(b) else 1
    body = b""
    k = 0
    while True:
        one = Asm()
        _OPS[k % len(_OPS)](one, k)
        raw = one.encode(0)
        if len(body) + len(raw) > size - tail:
            break
        body += raw
        k += 1
    body += b"\x90" * (size - tail - len(body))
    if ends_in_jmp(b):
        return body + b"\xe9" + rel32(stub, address + size)
    return body + b"\xc3"


def rel32(target: int, end: int) -> bytes:
    return (target - end).to_bytes(4, "little", signed=True)


def layout_for(exp: Experiment, base: int, code_size: int) -> Layout:
    return Layout(base, code_size, 2 * PAGE, PAGE, GAP)


def build(exp: Experiment, lay: Layout) -> Program:
    n = len(SIZES)
    stub = lay.code  # the first part: one ret
    chain_addr = lay.code + 64
    offs = offsets()
    chain = b"".join(block(b, chain_addr + offs[b], stub) for b in range(n))
    exec_buf = lay.exec_buf

    def copy(a: Asm, b: int, dest: int) -> None:
        """Copy block ``b`` to ``dest``; relocate its jmp."""
        a.rm(C.LEA_R64_M, R.RSI, mem(R.RIP, chain_addr + offs[b]))
        a.rm(C.LEA_R64_M, R.RDI, mem(R.RIP, dest))
        vocab.COPIES[COPY].emit(a, SIZES[b])
        if ends_in_jmp(b):
            end = dest + SIZES[b]
            fix = int.from_bytes(rel32(stub, end), "little", signed=True)
            a.mi(C.MOV_RM32_IMM32, mem(R.RIP, end - 4), fix)

    def trace(a: Asm, buf: int) -> None:
        for b in range(n):
            copy(a, b, exec_buf + buf * TRACE + offs[b])

    def step(a: Asm, i: int) -> None:
        b, scheme = i % n, exp.scheme
        if scheme == "inplace":
            target = chain_addr + offs[b]
        elif scheme == "slot":
            target = exec_buf
            copy(a, b, target)
        elif scheme == "double":
            target = exec_buf + (i % 2) * SLOT
            copy(a, b, target)
        elif scheme == "ring":
            ahead = i + exp.lead
            copy(a, ahead % n, exec_buf + ahead % RING_SLOTS * SLOT)
            target = exec_buf + i % RING_SLOTS * SLOT
        else:  # trace: the next pass into the other buffer, then this pass's block
            lap = i // n
            if b == 0:
                trace(a, (lap + 1) % 2)
            target = exec_buf + lap % 2 * TRACE + offs[b]
        a.branch(C.CALL_REL32_64, target)

    def setup(a: Asm) -> None:
        a.ri(C.MOV_R64_IMM64, DATA, lay.far_buf)
        if exp.scheme == "ring":
            for b in range(exp.lead):
                copy(a, b, exec_buf + b * SLOT)
        elif exp.scheme == "trace":
            trace(a, 0)

    def body(a: Asm, done: int) -> None:
        steps = 2 * n if exp.scheme == "trace" else n
        for i in range(steps):
            if i:
                a.r(C.DEC_RM64, ITER)
                a.branch(C.JE_REL32_64, done)
            step(a, i)

    fn = timed_function(setup, body)
    parts: list[tuple[str, bytes | Asm, bool]] = [("stub", b"\xc3", True), ("chain", chain, True)]
    return assemble(exp, lay, parts, fn, source_addr=chain_addr, source=chain, prefill=())
