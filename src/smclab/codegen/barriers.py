"""Barriers as data: each name maps to the instruction sequence it emits."""

from __future__ import annotations

from collections.abc import Callable

from smclab.isa.asm import Asm, C, R, mem

BARRIER_CODE: dict[str, Callable[[Asm], object]] = {
    "none": lambda a: None,
    "mfence": lambda a: a.op(C.MFENCE),
    "lfence": lambda a: a.op(C.LFENCE),
    "sfence": lambda a: a.op(C.SFENCE),
    "lock-or": lambda a: a.mi(C.OR_RM32_IMM8, mem(R.RSP), 0, lock=True),
    # cpuid leaf 0 (clobbers eax, ebx, ecx, edx: the loop keeps nothing there)
    "cpuid": lambda a: a.rr(C.XOR_R32_RM32, R.EAX, R.EAX).op(C.CPUID),
    "serialize": lambda a: a.op(C.SERIALIZE),
    "mfence+lfence": lambda a: a.op(C.MFENCE).op(C.LFENCE),
}


def emit(a: Asm, name: str) -> None:
    BARRIER_CODE[name](a)
