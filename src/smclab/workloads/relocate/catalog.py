"""The relocate workload's catalog variants."""

from __future__ import annotations

from smclab.workloads.advice import Variant

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


def variants() -> list[Variant]:
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
