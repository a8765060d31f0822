"""A small assembler on top of iced-x86: an instruction list with labels, encoded by
``BlockEncoder`` for the address the code will run at, and an Intel-syntax listing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iced_x86 import (
    BlockEncoder,
    Decoder,
    Formatter,
    FormatterSyntax,
    Instruction,
    MemoryOperand,
    RepPrefixKind,
)
from iced_x86 import Code as C
from iced_x86 import Register as R

if TYPE_CHECKING:  # the types of C.* and R.* (iced-x86 declares them so; at run time: int)
    from iced_x86._iced_x86_py import Code, Register
else:
    Code = Register = int

__all__ = ["Asm", "C", "Code", "R", "Register", "mem", "decode_listing", "iter_listing"]


def mem(base: Register, displ: int = 0, index: Register = R.NONE, scale: int = 1) -> MemoryOperand:
    """``[base + index*scale + displ]``; with ``base=R.RIP`` ``displ`` is the absolute target."""
    size = 0 if displ == 0 else 8 if base == R.RIP else 1
    return MemoryOperand(base=base, index=index, scale=scale, displ=displ, displ_size=size)


#: the string instructions by unit width (``rep`` prefixed by :meth:`Asm.rep_movs`/``rep_stos``)
_STRINGS: dict[str, dict[int, Callable[..., Instruction]]] = {
    "movs": {
        1: Instruction.create_movsb,
        2: Instruction.create_movsw,
        4: Instruction.create_movsd,
        8: Instruction.create_movsq,
    },
    "stos": {
        1: Instruction.create_stosb,
        2: Instruction.create_stosw,
        4: Instruction.create_stosd,
        8: Instruction.create_stosq,
    },
}


class Asm:
    """Collects instructions; ``label()`` marks the next emitted instruction as a target."""

    _LABEL_BASE = 1  # fake ips for labels, far below any real address

    def __init__(self) -> None:
        self.instructions: list[Instruction] = []
        self._pending: int | None = None
        self._next = self._LABEL_BASE

    # labels ---------------------------------------------------------------------------
    def new_label(self) -> int:
        self._next += 1
        return self._next

    def bind(self, label: int) -> None:
        if self._pending is not None:  # two labels on one spot: emit a 1-byte anchor
            self.emit(Instruction.create(C.NOPD))
        self._pending = label

    # emission -------------------------------------------------------------------------
    def emit(self, ins: Instruction) -> Asm:
        if self._pending is not None:
            ins.ip = self._pending
            self._pending = None
        self.instructions.append(ins)
        return self

    def op(self, code: Code) -> Asm:
        return self.emit(Instruction.create(code))

    def rr(self, code: Code, a: Register, b: Register) -> Asm:
        return self.emit(Instruction.create_reg_reg(code, a, b))

    def ri(self, code: Code, reg: Register, imm: int) -> Asm:
        if code == C.MOV_R64_IMM64:
            return self.emit(Instruction.create_reg_u64(code, reg, imm))
        return self.emit(Instruction.create_reg_i32(code, reg, imm))

    def rri(self, code: Code, a: Register, b: Register, imm: int) -> Asm:
        return self.emit(Instruction.create_reg_reg_i32(code, a, b, imm))

    def rm(self, code: Code, reg: Register, m: MemoryOperand) -> Asm:
        return self.emit(Instruction.create_reg_mem(code, reg, m))

    def mr(self, code: Code, m: MemoryOperand, reg: Register) -> Asm:
        return self.emit(Instruction.create_mem_reg(code, m, reg))

    def mi(self, code: Code, m: MemoryOperand, imm: int, lock: bool = False) -> Asm:
        ins = Instruction.create_mem_i32(code, m, imm)
        ins.has_lock_prefix = lock
        return self.emit(ins)

    def r(self, code: Code, reg: Register) -> Asm:
        return self.emit(Instruction.create_reg(code, reg))

    def m(self, code: Code, m: MemoryOperand) -> Asm:
        return self.emit(Instruction.create_mem(code, m))

    def branch(self, code: Code, target: int) -> Asm:
        return self.emit(Instruction.create_branch(code, target))

    def rep_movs(self, width: int) -> Asm:
        return self.emit(_STRINGS["movs"][width](64, rep_prefix=RepPrefixKind.REPE))

    def rep_stos(self, width: int) -> Asm:
        return self.emit(_STRINGS["stos"][width](64, rep_prefix=RepPrefixKind.REPE))

    def data(self, raw: bytes) -> Asm:
        for i in range(0, len(raw), 16):
            self.emit(Instruction.create_declare_byte(raw[i : i + 16]))
        return self

    def encode(self, address: int) -> bytes:
        if self._pending is not None:
            raise ValueError("a label is bound after the last instruction")
        enc = BlockEncoder(64)
        enc.add_many(self.instructions)
        return bytes(enc.encode(address))


@dataclass(frozen=True)
class ListingLine:
    address: int
    raw: bytes
    text: str


def iter_listing(code: bytes, address: int) -> Iterator[ListingLine]:
    """Decode ``code`` (laid out at ``address``) into Intel-syntax lines, one at a time."""
    fmt = Formatter(FormatterSyntax.INTEL)
    fmt.first_operand_char_index = 8
    fmt.hex_prefix = "0x"
    fmt.hex_suffix = ""
    fmt.uppercase_hex = False
    for ins in Decoder(64, code, ip=address):
        off = ins.ip - address
        yield ListingLine(ins.ip, code[off : off + ins.len], fmt.format(ins))


def decode_listing(code: bytes, address: int) -> list[ListingLine]:
    """Decode ``code`` (laid out at ``address``) into Intel-syntax lines."""
    return list(iter_listing(code, address))
