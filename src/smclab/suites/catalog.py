"""The variant catalog: every named way to write code and run it, across the workloads.

A :class:`Variant` is an id, a one-line summary, the knobs of its :class:`Experiment`, and the
instructions its generated code must contain (checked by the tests against the listing).
Seed variants change one knob of the seed's loop to each record of that knob's registry in
:mod:`smclab.isa.vocabulary` (their listing checks are the records' mnemonics); jit-block
variants are the write strategies of :mod:`smclab.isa.strategies`; patch variants (``patch-``)
are each patch kind, its controls and rates; relocate variants (``reloc-``) the schemes;
jit-emit variants are ``emit-<strategy>`` (and ``emit-rotate-N-paged``: the regions on separate
pages at the same page offset, as jit_smc_test's).
"""

from __future__ import annotations

import difflib
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass, field
from typing import Any, TypeVar

from smclab.errors import SpecError
from smclab.isa import vocabulary as vocab
from smclab.isa.strategies import EMIT_STRATEGIES, STRATEGIES, WRITES, Strategy
from smclab.model.experiment import PLACEMENTS, Experiment, field_default


@dataclass(frozen=True)
class Variant:
    id: str
    workload: str
    summary: str
    knobs: dict[str, Any] = field(default_factory=dict)
    expects: tuple[str, ...] = ()  # text the listing of its generated code shows
    #: mnemonics the listing of its source bytes (payload / block template) shows
    source_expects: tuple[str, ...] = ()

    def experiment(self, **settings: Any) -> Experiment:
        return Experiment(workload=self.workload, **self.knobs, **settings)

    @property
    def features(self) -> tuple[str, ...]:
        return self.experiment().required_flags()

    def missing(self, cpu_flags: frozenset[str] | set[str]) -> list[str]:
        return [f for f in self.features if f not in cpu_flags]

    def reason(self, cpu_flags: frozenset[str] | set[str]) -> str | None:
        """Why a CPU with ``cpu_flags`` cannot run this variant (None: it can)."""
        return missing_reason(self.missing(cpu_flags))

    def to_dict(self, cpu_flags: frozenset[str] | set[str]) -> dict[str, Any]:
        """The ``smclab catalog --json`` entry, for a CPU with ``cpu_flags``."""
        return {
            "id": self.id,
            "workload": self.workload,
            "summary": self.summary,
            "knobs": self.knobs,
            "features": list(self.features),
            "runnable": not self.missing(cpu_flags),
            "reason": self.reason(cpu_flags),
        }


def missing_reason(missing: list[str]) -> str | None:
    return f"cpu lacks {', '.join(missing)}" if missing else None


_R = TypeVar("_R", bound=vocab.Term)


def _others(knob: str, registry: dict[str, _R]) -> list[_R]:
    """The records of a knob's registry other than the knob's default (the seed's choice)."""
    return [r for name, r in registry.items() if name != field_default(knob)]


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
    for m in _others("copy", vocab.COPIES):
        out.append(
            Variant(
                f"seed-copy-{m.name}",
                "seed",
                f"copy the payload with {m.name}",
                {"copy": m.name},
                m.mnemonics,
            )
        )
    for b in _others("barrier", vocab.BARRIERS):
        for p in PLACEMENTS:
            out.append(
                Variant(
                    f"seed-{b.name}-{p}",
                    "seed",
                    f"{b.name} {p.replace('-', ' ')}",
                    {"barrier": b.name, "placement": p},
                    b.mnemonics,
                )
            )
    for k in _others("call", vocab.CALLS):
        out.append(
            Variant(
                f"seed-call-{k.name}",
                "seed",
                f"reach the copy with call kind '{k.name}'",
                {"call": k.name, **({"layout": "near"} if k.near else {})},
                k.mnemonics,
            )
        )
    for pad in _others("pad", vocab.PADS):
        out.append(
            Variant(
                f"seed-pad-{pad.name}",
                "seed",
                f"pad the payload after its ret with {pad.name}",
                {"pad": pad.name},
                source_expects=pad.mnemonics,
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
        method = vocab.COPIES[s.write]
        out += method.mnemonics
        if s.reverse and method.rep:
            out.append("std")
    return tuple(out) + _around_the_write(s)


def _around_the_write(s: Strategy) -> tuple[str, ...]:
    """What a jit strategy's listing shows besides the write: clears, per-line instructions,
    the barrier, the remap's syscall, the I-cache eviction's call."""
    out: list[str] = []
    if s.clear:
        out += vocab.clear(s.clear).mnemonics
    for op in (s.flush, s.prefetch):
        if op:
            out += vocab.line_op(op).mnemonics
    out += vocab.BARRIERS[s.barrier].mnemonics
    if s.mapping in ("remap", "flip"):
        out.append("syscall")
    if s.evict:
        out.append("call    0x")
    return tuple(out)


def _jit_variants() -> list[Variant]:
    return [
        Variant(s.id, "jit-block", s.summary, {"strategy": s.id}, strategy_expects(s))
        for s in STRATEGIES.values()
    ]


#: patch kinds: (summary, what the listing of the patch store shows)
PATCH_KINDS = {
    "imm": ("rewrite the imm32 of mov eax,imm32 in code that keeps running", "],r12d"),
    "rel32": ("rewrite the rel32 of a call between two stubs (a call-target cache)", "],r12d"),
    "cross": ("a writer thread on another CPU rewrites the imm32 on request", "mov     [rdx],r8d"),
    "int3": ("insert int3 over a cold instruction of the running line, remove it", "],r12b"),
    "link": ("emit a block, rewrite the jmp rel32 that ends the site to reach it", "],r13"),
}
#: where the patch goes: (id suffix, summary suffix)
PATCH_INTO_TEXT = {
    "data": ("data", "control: the same stores into data memory"),
    "cell": ("cell", "no code patch: the code loads it from the data cell the store writes"),
}
#: what each patch_into shows in the site's listing, per kind (cell: the load or the branch)
CELL_EXPECTS = {
    "imm": "mov     eax,[0x",
    "cross": "mov     eax,[0x",
    "rel32": "call    qword ptr [0x",
    "link": "jmp     qword ptr [0x",
}


def _patch_variants() -> list[Variant]:
    out = []
    for kind, (summary, store) in PATCH_KINDS.items():
        base = {"patch_kind": kind}
        out.append(Variant(f"patch-{kind}", "patch", f"{summary}, every iteration", base, (store,)))
        for into, (suffix, text) in PATCH_INTO_TEXT.items():
            if into == "cell" and kind not in CELL_EXPECTS:
                continue
            expects: tuple[str, ...]
            if into == "cell":  # an absolute target is an 8-byte store
                expects = ("],r12" if kind == "rel32" else store, CELL_EXPECTS[kind])
            else:
                expects = (store,)
            out.append(
                Variant(
                    f"patch-{kind}-{suffix}",
                    "patch",
                    f"{kind}: {text}",
                    {**base, "patch_into": into},
                    expects,
                )
            )
    for rate in (16, 256, 4096):
        for kind in ("imm", "link"):
            out.append(
                Variant(
                    f"patch-{kind}-every-{rate}",
                    "patch",
                    f"{kind}: one patch every {rate} iterations",
                    {"patch_kind": kind, "rate": rate},
                    ("test    r15d,", PATCH_KINDS[kind][1]),
                )
            )
    for xmc in ("cpuid", "serialize"):
        for into in ("code", "data"):
            out.append(
                Variant(
                    f"patch-cross-xmc-{xmc}" + ("-data" if into == "data" else ""),
                    "patch",
                    f"cross: wait for the writer's flag, then {xmc} before running the new code"
                    + (" (control: the writer stores into data)" if into == "data" else ""),
                    {"patch_kind": "cross", "xmc": xmc, "patch_into": into},
                    ("pause", vocab.BARRIERS[xmc].mnemonics[0], "mov     [rdx],r8d"),
                )
            )
    out.append(
        Variant(
            "patch-imm-split",
            "patch",
            "imm: the 4-byte field straddles a cache line (measured; refused for cross)",
            {"patch_kind": "imm", "field_at": 62},
            ("],r12d",),
        )
    )
    return out


#: relocation schemes: (id, knobs, summary)
RELOCATE_SCHEMES = (
    ("reloc-slot", {"scheme": "slot"}, "copy each block into one slot, then run it (naive)"),
    ("reloc-double", {"scheme": "double"}, "copy each block into one of two slots, alternating"),
    ("reloc-ring", {"scheme": "ring"}, "a ring of 8 slots written 2 blocks ahead"),
    ("reloc-ring-lead-1", {"scheme": "ring", "lead": 1}, "a ring of 8 slots, 1 block ahead"),
    ("reloc-ring-lead-4", {"scheme": "ring", "lead": 4}, "a ring of 8 slots, 4 blocks ahead"),
    ("reloc-trace", {"scheme": "trace"}, "copy the whole next pass ahead (two trace buffers)"),
    ("reloc-inplace", {"scheme": "inplace"}, "floor: run the chain in place, never copied"),
)


def _relocate_variants() -> list[Variant]:
    return [
        Variant(
            vid,
            "relocate",
            summary,
            knobs,
            ("call    0x",)
            if knobs["scheme"] == "inplace"
            else ("mov     [rdi],rax", "mov     dword ptr [0x", "call    0x"),
        )
        for vid, knobs, summary in RELOCATE_SCHEMES
    ]


def emit_expects(s: Strategy) -> tuple[str, ...]:
    """What a jit-emit strategy's listing must show: the generator's stores, then the rest."""
    out: list[str] = ["call    r13", "mov     [rdi"]
    if s.write and s.copies:
        out += WRITES[s.write].mnemonics
        if s.reverse and s.write in vocab.COPIES and vocab.COPIES[s.write].rep:
            out.append("std")
    if s.ud2_first:
        out.append("mov     word ptr [rdi],0xb0f")
    return tuple(out) + _around_the_write(s)


def _emit_variants() -> list[Variant]:
    out = []
    for s in EMIT_STRATEGIES.values():
        knobs: dict[str, Any] = {"strategy": s.id}
        out.append(Variant(f"emit-{s.id}", "jit-emit", s.summary, knobs, emit_expects(s)))
        if s.regions > 1:
            out.append(
                Variant(
                    f"emit-{s.id}-paged",
                    "jit-emit",
                    f"{s.summary}; each region on its own page at the same page offset",
                    {**knobs, "region_layout": "paged"},
                    emit_expects(s),
                )
            )
    return out


def variants() -> dict[str, Variant]:
    """Every variant, built now from the vocabulary registries and the strategies."""
    every = (
        _seed_variants()
        + _jit_variants()
        + _emit_variants()
        + _patch_variants()
        + _relocate_variants()
    )
    return {v.id: v for v in every}


class _Catalog(Mapping[str, Variant]):
    """The catalog as a read-only mapping built when read, never a copy taken at import: a
    record added to a vocabulary registry is in it (with its listing checks)."""

    def __getitem__(self, key: str) -> Variant:
        return variants()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(variants())

    def __len__(self) -> int:
        return len(variants())

    def keys(self) -> KeysView[str]:
        return variants().keys()

    def values(self) -> ValuesView[Variant]:
        return variants().values()

    def items(self) -> ItemsView[str, Variant]:
        return variants().items()


VARIANTS: Mapping[str, Variant] = _Catalog()


def listed(workload: str | None = None) -> list[Variant]:
    """The variants of ``workload`` (None: all), in catalog order."""
    return [v for v in VARIANTS.values() if workload in (None, v.workload)]


def variant(variant_id: str) -> Variant:
    """The variant ``variant_id``; SpecError (with the closest ids) if there is none."""
    found = variants()
    if variant_id in found:
        return found[variant_id]
    close = difflib.get_close_matches(variant_id, list(found), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}?" if close else "see `smclab catalog`"
    raise SpecError(f"unknown variant '{variant_id}' ({hint})")


def variant_experiment(variant_id: str, **knobs: Any) -> Experiment:
    """The experiment of variant ``variant_id``, with ``knobs`` changing it."""
    v = variant(variant_id)
    return Experiment(**{"workload": v.workload, **v.knobs, **knobs})
