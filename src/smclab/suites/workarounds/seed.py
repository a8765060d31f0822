"""The seed workload's workarounds: the knobs a JIT author controls.

naive = the seed's loop (4K, step 0); floor = the far-store control (the same copy into data
memory, calling code that is not modified: the cost of copying without executing what was
copied). Candidates: write-ahead distance, ring size, copy method, batching several payloads per
write, prefetching the next write, how fresh code is called, barriers.
"""

from __future__ import annotations

from typing import Any

from smclab.isa import vocabulary as vocab
from smclab.model.experiment import Experiment, field_default
from smclab.suites.workarounds.base import Candidate, CandidateSet

K = 1024
RING = {"buffer": 16 * K, "step": 64}
NEAR_DIRECT = {"call": "direct", "layout": "near"}

#: one line of advice per knob value a candidate changes (the how-to is composed from these)
HOW_TO = {
    "ahead": "write {ahead} B ahead of the executing slot",
    "buffer": "in a {buffer_k} KB ring of slots",
    "copy": "copy with {copy}",
    "batch": "{batch} payloads per copy",
    "call": "call each slot with call rel32, not call reg (no indirect mispredicts)",
    "layout": "code buffer within ±2 GiB of its caller",
    "prefetch": "{prefetch} the next destination",
    "barrier": "add {barrier} {placement}",
}


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


def seed_candidates(host: dict[str, Any]) -> list[Candidate]:
    out: list[Candidate] = []
    copies = copy_candidates()
    for ahead in (64, 256, 1024, 4 * K):
        out.append(Candidate(f"ahead-{ahead}", {**RING, "ahead": ahead}))
    for buf in (4 * K, 64 * K):
        out.append(
            Candidate(f"ring-{buf // K}k-ahead-1024", {"buffer": buf, "step": 64, "ahead": 1024})
        )
    for c in copies[1:]:
        out.append(Candidate(f"ahead-1024-{c}", {**RING, "ahead": 1024, "copy": c}))
    for c in copies:
        out.append(
            Candidate(f"ahead-1024-{c}-direct", {**RING, "ahead": 1024, "copy": c, **NEAR_DIRECT})
        )
    for k in (2, 4, 8):
        out.append(
            Candidate(
                f"ahead-1024-batch-{k}-direct", {**RING, "ahead": 1024, "batch": k, **NEAR_DIRECT}
            )
        )
        out.append(
            Candidate(
                f"ahead-1024-avx-batch-{k}-direct",
                {**RING, "ahead": 1024, "copy": "avx", "batch": k, **NEAR_DIRECT},
            )
        )
    for pf in prefetch_candidates():
        out.append(
            Candidate(
                f"ahead-1024-avx-{pf}-direct",
                {**RING, "ahead": 1024, "copy": "avx", "prefetch": pf, **NEAR_DIRECT},
            )
        )
    for b in BARRIER_CANDIDATES:
        out.append(Candidate(f"barrier-{b}", {"barrier": b}))
    out.append(Candidate("direct-step-0", NEAR_DIRECT))
    return out


def how_to(exp: Experiment, naive: Experiment) -> str:
    values = exp.to_dict()
    steps = []
    for knob, text in HOW_TO.items():
        if knob == "placement" or values[knob] == getattr(naive, knob):
            continue
        steps.append(text.format(buffer_k=values["buffer"] // K, **values))
    return "; ".join(steps) or "the naive loop"


SET = CandidateSet(
    "seed",
    Candidate("naive", {}),
    Candidate("floor: far-store", {"store": "far"}, fresh=False),
    seed_candidates,
    how_to,
    floor_note="the same copy into data memory",
)
