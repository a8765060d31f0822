"""The variant catalog: every named way to write code and run it, across both workloads.

A :class:`Variant` is an id, a one-line summary, the knobs of its :class:`Experiment`, and the
instructions its generated code must contain (checked by the tests against the listing).
Seed variants change one knob of the seed's loop; jit-block variants are the write strategies
of :mod:`smclab.isa.strategies`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smclab.codegen.copy import METHODS
from smclab.isa.strategies import STRATEGIES, Strategy
from smclab.model.experiment import BARRIERS, CALL_KINDS, COPY_METHODS, PADS, PLACEMENTS, Experiment

#: a mnemonic (or operand text) a copy method's listing shows
COPY_MNEMONIC = {
    "rep-movsb": "rep movsb",
    "rep-movsq": "rep movsq",
    "mov64": "mov     [rdi",
    "mov64-nt": "movnti",
    "sse2": "movdqu",
    "sse2-nt": "movntdq",
    "avx": "vmovdqu",
    "avx-nt": "vmovntdq",
    "avx512": "vmovdqu64",
    "avx512-nt": "vmovntdq",
}
BARRIER_MNEMONICS = {
    "none": (),
    "mfence": ("mfence",),
    "lfence": ("lfence",),
    "sfence": ("sfence",),
    "lock-or": ("lock or",),
    "cpuid": ("cpuid",),
    "serialize": ("serialize",),
    "mfence+lfence": ("mfence", "lfence"),
}
CALL_MNEMONICS = {
    "indirect": ("call    r13",),
    "direct": ("call    0x",),
    "source": ("call    0x",),
    "jmp": ("jmp     r13",),
    "push-ret": ("push    r13",),
    "retpoline": ("pause", "mov     [rsp],r13"),
}
CLEAR_MNEMONICS = {
    "byte-per-line": ("mov     byte ptr [rdi",),
    "two-bytes-per-line": ("mov     byte ptr [rdi+0x3f]",),
    "rep-stosb": ("rep stosb",),
    "scattered": ("mov     byte ptr [rdi",),
    "nt": ("movnti",),
    "clzero": ("clzero",),
}


@dataclass(frozen=True)
class Variant:
    id: str
    workload: str
    summary: str
    knobs: dict[str, Any] = field(default_factory=dict)
    expects: tuple[str, ...] = ()

    def experiment(self, **settings: Any) -> Experiment:
        return Experiment(workload=self.workload, **self.knobs, **settings)

    @property
    def features(self) -> tuple[str, ...]:
        return self.experiment().required_flags()

    def missing(self, cpu_flags: frozenset[str] | set[str]) -> list[str]:
        return [f for f in self.features if f not in cpu_flags]


def _seed_variants() -> list[Variant]:
    out = [
        Variant(
            "seed",
            "seed",
            "the seed's loop: rep movsb a ret payload, call it (4K, step 0)",
            expects=("rep movsb", "call    r13"),
        ),
        Variant(
            "seed-no-store",
            "seed",
            "control: no copy, call the pre-filled slot",
            {"store": "none"},
            ("call    r13",),
        ),
        Variant(
            "seed-far-store",
            "seed",
            "control: copy into data memory far from any code",
            {"store": "far"},
            ("lea     rdi,[r13+",),
        ),
    ]
    for m in COPY_METHODS[1:]:
        out.append(
            Variant(
                f"seed-copy-{m}",
                "seed",
                f"copy the payload with {m}",
                {"copy": m},
                (COPY_MNEMONIC[m],),
            )
        )
    for b in BARRIERS[1:]:
        for p in PLACEMENTS:
            out.append(
                Variant(
                    f"seed-{b}-{p}",
                    "seed",
                    f"{b} {p.replace('-', ' ')}",
                    {"barrier": b, "placement": p},
                    BARRIER_MNEMONICS[b],
                )
            )
    for k in CALL_KINDS[1:]:
        out.append(
            Variant(
                f"seed-call-{k}",
                "seed",
                f"reach the copy with call kind '{k}'",
                {"call": k, **({"layout": "near"} if k == "direct" else {})},
                CALL_MNEMONICS[k],
            )
        )
    for pad in PADS[1:]:
        out.append(
            Variant(
                f"seed-pad-{pad}",
                "seed",
                f"pad the payload after its ret with {pad}",
                {"pad": pad},
                ("rep movsb",),
            )
        )
    for ahead in (64, 128, 256, 1024):
        out.append(
            Variant(
                f"seed-ahead-{ahead}",
                "seed",
                f"4K ring, step 64: write {ahead} bytes ahead of execution",
                {"step": 64, "ahead": ahead},
                ("mov     rdi,rbp",),
            )
        )
    return out


def strategy_expects(s: Strategy) -> tuple[str, ...]:
    """What a strategy's listing must show."""
    out: list[str] = ["call    r13"]
    if s.write:
        out.append(COPY_MNEMONIC[s.write])
        if s.reverse and METHODS[s.write].load is None:
            out.append("std")
    if s.clear:
        out += CLEAR_MNEMONICS[s.clear]
    if s.flush:
        out.append(s.flush)
    if s.prefetch:
        out.append(s.prefetch)
    out += BARRIER_MNEMONICS[s.barrier]
    if s.mapping == "remap":
        out.append("syscall")
    if s.evict:
        out.append("call    0x")
    return tuple(out)


def _jit_variants() -> list[Variant]:
    return [
        Variant(s.id, "jit-block", s.summary, {"strategy": s.id}, strategy_expects(s))
        for s in STRATEGIES.values()
    ]


VARIANTS: dict[str, Variant] = {v.id: v for v in _seed_variants() + _jit_variants()}
