"""The seed workload's workarounds: the knobs a JIT author controls.

naive = the seed's loop (4K, step 0); floor = the far-store control (the same copy into data
memory, calling code that is not modified: the cost of copying without executing what was
copied). Candidates: write-ahead distance, ring size, copy method, batching several payloads per
write, prefetching the next write, how fresh code is called, barriers.
"""

from __future__ import annotations

from typing import Any

from smclab.isa import vocabulary as vocab
from smclab.model.caches import CacheSizes, pages
from smclab.model.experiment import Experiment, field_default
from smclab.model.knobs import format_size
from smclab.workloads.advice import Candidate, CandidateSet

K = 1024
NEAR_DIRECT = {"call": "direct", "layout": "near"}

#: one line of advice per knob value a candidate changes (the how-to is composed from these)
HOW_TO = {
    "ahead": "write {ahead} B ahead of the executing slot",
    "buffer": "in a {buffer} B ({ring}) ring of slots",
    "copy": "copy with {copy}",
    "batch": "{batch} payloads per copy",
    "call": "{call_how}",
    "layout": "code buffer within ±2 GiB of its caller",
    "prefetch": "{prefetch} the next destination",
    "evict": "{evict} each written line right after the copy",
    "barrier": "add {barrier} {placement}",
}

#: the call kinds whose how-to says more than their vocabulary description
CALL_HOW_TO = {"direct": "call each slot with call rel32, not call reg (no indirect mispredicts)"}

#: the barriers tried (names of vocabulary.BARRIERS): the fences and serializing instructions;
#: not sfence (orders stores only) nor lock-or (a full barrier, as mfence)
BARRIER_CANDIDATES = ("mfence", "lfence", "cpuid", "serialize", "mfence+lfence")


def copy_candidates() -> list[str]:
    """The naive loop's copy, then every unrolled copy method with temporal stores."""
    default = field_default("copy")
    return [default] + [
        m.name for m in vocab.COPIES.values() if not (m.rep or m.nontemporal or m.name == default)
    ]


def prefetch_candidates() -> list[str]:
    """Every prefetch hint of the seed's prefetch knob."""
    return [name for name in vocab.PREFETCHES if name != field_default("prefetch")]


#: the write-ahead distances tried at every ring (and a quarter and half of the ring)
AHEADS = (256, 1024, 4 * K)
#: most slots a direct-call candidate unrolls over (the seed's MAX_UNROLL at step 64)
DIRECT_MAX_RING = 32 * K


def rings(sizes: CacheSizes) -> list[int]:
    """The ring sizes tried: 16K (the old fixed ring), 2x L1I, then L2 up to 4x L2 (at most
    64M): what the code-age probe asks, so a written line can have left L1I, then L2."""
    wanted = (16 * K, 2 * sizes.l1i, sizes.l2, 2 * sizes.l2, 4 * sizes.l2)
    return sorted({min(pages(r), 64 * K * K) for r in wanted})


def evict_candidates(host: dict[str, Any]) -> list[str]:
    """The evict instructions this CPU has (cldemote, clwb, clflushopt)."""
    flags = set(host.get("flags") or ())
    return [n for n, op in vocab.EVICTS.items() if n != "none" and set(op.flags) <= flags]


def seed_candidates(host: dict[str, Any]) -> list[Candidate]:
    """The candidates for this host, planned from its cache sizes (host facts ``caches``).

    Chosen rather than read from stored probe results, so advise stands alone and measures
    every candidate in one interleaved run: the grid follows what the code-age probe varies.
    (1) every ring x write-ahead distance (256 B, 1K, 4K, a quarter and half the ring) with the
    seed's copy and call r13; (2) at each ring, half the ring ahead (the written line is the
    oldest and runs the latest), every temporal unrolled copy, batches of 4 and 8 with avx,
    a retpoline, each prefetch hint and each evict instruction the CPU has; (3) where the ring
    fits an unrolled loop, call rel32 to each slot; (4) the barriers and a direct call at step 0.
    """
    sizes = CacheSizes.of(host)
    out: list[Candidate] = []
    copies = copy_candidates()
    for r in rings(sizes):
        ring = {"buffer": r, "step": 64}
        for a in sorted({a for a in (*AHEADS, r // 4, r // 2) if 0 < a < r}):
            out.append(Candidate(f"ring-{format_size(r)}-ahead-{a}", {**ring, "ahead": a}))
    for r in rings(sizes):
        half = {"buffer": r, "step": 64, "ahead": r // 2}
        name = f"ring-{format_size(r)}-ahead-{r // 2}"
        out += [Candidate(f"{name}-{c}", {**half, "copy": c}) for c in copies[1:]]
        out += [
            Candidate(f"{name}-avx-batch-{k}", {**half, "copy": "avx", "batch": k}) for k in (4, 8)
        ]
        out.append(Candidate(f"{name}-avx-retpoline", {**half, "copy": "avx", "call": "retpoline"}))
        out += [
            Candidate(f"{name}-avx-{pf}", {**half, "copy": "avx", "prefetch": pf})
            for pf in prefetch_candidates()
        ]
        out += [
            Candidate(f"{name}-avx-{ev}", {**half, "copy": "avx", "evict": ev})
            for ev in evict_candidates(host)
        ]
        if r <= DIRECT_MAX_RING:
            for c, k in ((field_default("copy"), 1), ("avx", 1), ("avx", 4)):
                batch = {"batch": k} if k > 1 else {}
                out.append(
                    Candidate(
                        f"{name}-{c}{f'-batch-{k}' if k > 1 else ''}-direct",
                        {**half, "copy": c, **batch, **NEAR_DIRECT},
                    )
                )
    for b in BARRIER_CANDIDATES:
        out.append(Candidate(f"barrier-{b}", {"barrier": b}))
    out.append(Candidate("direct-step-0", NEAR_DIRECT))
    return out


def _why(exp: Experiment, sizes: CacheSizes) -> str:
    """Why the ring and distance: which cache level the written line has left."""
    age = exp.buffer - exp.ahead
    where = (
        "more than L2 holds"
        if age >= sizes.l2
        else "more than L1I holds"
        if age >= sizes.l1i
        else "within L1I"
    )
    return (
        f"the written line runs {exp.ahead // exp.step} iterations ({exp.ahead} B of code)"
        f" after it is written and was last executed {format_size(age)} of code before"
        f" ({where}: L1I {format_size(sizes.l1i)}, L2 {format_size(sizes.l2)})"
    )


def how_to(exp: Experiment, naive: Experiment, host: dict[str, Any] | None = None) -> str:
    values = exp.to_dict()
    steps = []
    for knob, text in HOW_TO.items():
        if knob == "placement" or values[knob] == getattr(naive, knob):
            continue
        how = CALL_HOW_TO.get(exp.call) or f"reach each slot: {vocab.CALLS[exp.call].description}"
        steps.append(text.format(ring=format_size(values["buffer"]), call_how=how, **values))
    if exp.ahead and exp.step:
        steps.append(_why(exp, CacheSizes.of(host or {})))
    return "; ".join(steps) or "the naive loop"


SET = CandidateSet(
    "seed",
    Candidate("naive", {}),
    Candidate("floor: far-store", {"store": "far"}, fresh=False),
    seed_candidates,
    how_to,
    floor_note="the same copy into data memory",
)
