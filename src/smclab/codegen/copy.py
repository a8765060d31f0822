"""Copy methods as data: how ``n`` bytes move from ``[rsi]`` to ``[rdi]``.

Each method names a load and a store instruction of one width (unrolled), or a ``rep movs``.
Clobbers rax, rcx, rsi, rdi and xmm0/ymm0/zmm0; ``rep movs`` leaves rsi/rdi past the data.
"""

from __future__ import annotations

from dataclasses import dataclass

from smclab.isa.asm import Asm, C, R, mem
from smclab.model.experiment import COPY_WIDTH


@dataclass(frozen=True)
class CopyMethod:
    width: int
    load: int | None  # None: a rep movs
    store: int | None  # None: a rep movs
    reg: int = R.RAX

    @property
    def wide(self) -> bool:  # needs vzeroupper before returning to SSE code
        return self.reg in (R.YMM0, R.ZMM0)


def _method(name: str, load: int | None, store: int | None, reg: int = R.RAX) -> CopyMethod:
    return CopyMethod(COPY_WIDTH[name], load, store, reg)


#: the instructions of each copy method (its width comes from model.experiment.COPY_WIDTH)
METHODS: dict[str, CopyMethod] = {
    "rep-movsb": _method("rep-movsb", None, None),
    "rep-movsq": _method("rep-movsq", None, None),
    "mov64": _method("mov64", C.MOV_R64_RM64, C.MOV_RM64_R64),
    "mov64-nt": _method("mov64-nt", C.MOV_R64_RM64, C.MOVNTI_M64_R64),
    "sse2": _method("sse2", C.MOVDQU_XMM_XMMM128, C.MOVDQU_XMMM128_XMM, R.XMM0),
    "sse2-nt": _method("sse2-nt", C.MOVDQU_XMM_XMMM128, C.MOVNTDQ_M128_XMM, R.XMM0),
    "avx": _method("avx", C.VEX_VMOVDQU_YMM_YMMM256, C.VEX_VMOVDQU_YMMM256_YMM, R.YMM0),
    "avx-nt": _method("avx-nt", C.VEX_VMOVDQU_YMM_YMMM256, C.VEX_VMOVNTDQ_M256_YMM, R.YMM0),
    "avx512": _method(
        "avx512", C.EVEX_VMOVDQU64_ZMM_K1Z_ZMMM512, C.EVEX_VMOVDQU64_ZMMM512_K1Z_ZMM, R.ZMM0
    ),
    "avx512-nt": _method(
        "avx512-nt", C.EVEX_VMOVDQU64_ZMM_K1Z_ZMMM512, C.EVEX_VMOVNTDQ_M512_ZMM, R.ZMM0
    ),
}


def emit_copy(a: Asm, method: str, nbytes: int, reverse: bool = False) -> None:
    """Copy ``nbytes`` (a multiple of the method's width) from [rsi] to [rdi]."""
    m = METHODS[method]
    if m.load is None:
        count = nbytes // m.width
        a.ri(C.MOV_RM64_IMM32, R.RCX, count)
        if reverse:  # std; point at the last unit; rep movs backwards; cld
            a.rm(C.LEA_R64_M, R.RSI, mem(R.RSI, nbytes - m.width))
            a.rm(C.LEA_R64_M, R.RDI, mem(R.RDI, nbytes - m.width))
            a.op(C.STD)
        a.rep_movs(m.width)
        if reverse:
            a.op(C.CLD)
        return
    offsets = range(0, nbytes, m.width)
    for off in reversed(offsets) if reverse else offsets:
        a.rm(m.load, m.reg, mem(R.RSI, off))
        a.mr(m.store, mem(R.RDI, off), m.reg)


def uses_wide_vectors(method: str) -> bool:
    return METHODS[method].wide
