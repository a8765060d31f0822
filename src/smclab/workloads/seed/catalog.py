"""The seed workload's catalog variants."""

from __future__ import annotations

from typing import TypeVar

from smclab.isa import vocabulary as vocab
from smclab.model.experiment import field_default
from smclab.workloads.advice import Variant
from smclab.workloads.seed.spec import PLACEMENTS

_R = TypeVar("_R", bound=vocab.Term)


def _others(knob: str, registry: dict[str, _R]) -> list[_R]:
    """The records of a knob's registry other than the knob's default (the seed's choice)."""
    return [r for name, r in registry.items() if name != field_default(knob)]


def variants() -> list[Variant]:
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
