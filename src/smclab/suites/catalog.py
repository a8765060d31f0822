"""The variant catalog: every named way to write code and run it, across both workloads.

A :class:`Variant` is an id, a one-line summary, the knobs of its :class:`Experiment`, and the
instructions its generated code must contain (checked by the tests against the listing).
Seed variants change one knob of the seed's loop to each record of that knob's registry in
:mod:`smclab.isa.vocabulary` (their listing checks are the records' mnemonics); jit-block
variants are the write strategies of :mod:`smclab.isa.strategies`.
"""

from __future__ import annotations

import difflib
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass, field
from typing import Any, TypeVar

from smclab.isa import vocabulary as vocab
from smclab.isa.strategies import STRATEGIES, Strategy
from smclab.model.experiment import PLACEMENTS, Experiment, field_default
from smclab.model.knobs import SpecError


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
    if s.clear:
        out += vocab.CLEARS[s.clear].mnemonics
    if s.flush:
        out += vocab.FLUSHES[s.flush].mnemonics
    if s.prefetch:
        out += vocab.JIT_PREFETCHES[s.prefetch].mnemonics
    out += vocab.BARRIERS[s.barrier].mnemonics
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


def variants() -> dict[str, Variant]:
    """Every variant, built now from the vocabulary registries and the strategies."""
    return {v.id: v for v in _seed_variants() + _jit_variants()}


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
