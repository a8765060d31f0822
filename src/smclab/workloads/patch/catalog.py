"""The patch workload's catalog variants."""

from __future__ import annotations

from smclab.isa import vocabulary as vocab
from smclab.workloads.advice import Variant

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


def variants() -> list[Variant]:
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
            "patch-cross-xmc-membarrier",
            "patch",
            "cross: the writer calls membarrier(SYNC_CORE) after the patch, then sets the flag"
            " the executing thread waits for (it runs no serializing instruction itself)",
            {"patch_kind": "cross", "xmc": "membarrier"},
            ("pause", "syscall", "mov     [rdx],r8d"),
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
