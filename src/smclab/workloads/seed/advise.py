"""The seed workload's workarounds: the knobs a JIT author controls.

naive = the seed's loop (4K, step 0); floor = the far-store control (the same copy into data
memory, calling code that is not modified: the cost of copying without executing what was
copied). The space advise searches (:func:`seed_space`): write-ahead distance, ring size, copy
method, batching several payloads per write, prefetching the next write, evicting what was
written, how fresh code is called, barriers.
"""

from __future__ import annotations

from typing import Any

from smclab.isa import vocabulary as vocab
from smclab.model.caches import CacheSizes, pages
from smclab.model.experiment import Experiment
from smclab.model.knobs import format_size
from smclab.model.search import Knob, Space
from smclab.workloads.advice import Candidate, CandidateSet, experiment_ok

K = 1024

#: one line of advice per knob value a candidate changes (the how-to is composed from these)
HOW_TO = {
    "ahead": "write {ahead} B ahead of the executing slot",
    "buffer": "in a {buffer} B ({ring}) ring of slots",
    "copy": "copy with {copy} ({copy_how})",
    "batch": "{batch} payloads per copy",
    "call": "{call_how}",
    "layout": "code buffer within ±2 GiB of its caller",
    "prefetch": "{prefetch} the next destination",
    "evict": "{evict} each written line right after the copy",
    "barrier": "add {barrier} {placement}",
}

#: the barriers tried (names of vocabulary.BARRIERS): the fences and serializing instructions;
#: not sfence (orders stores only) nor lock-or (a full barrier, as mfence)
BARRIER_CANDIDATES = ("mfence", "lfence", "cpuid", "serialize", "mfence+lfence")


def evict_candidates(host: dict[str, Any]) -> list[str]:
    """The evict instructions this CPU has (cldemote, clwb, clflushopt)."""
    flags = set(host.get("flags") or ())
    return [n for n, op in vocab.EVICTS.items() if n != "none" and set(op.flags) <= flags]


# --- the space advise searches ---------------------------------------------------------------

#: every knob of the space except these is fixed at the naive loop's value
SPACE_FIXED = {"step": 64, "layout": "near", "store": "exec"}
#: the call kinds that call the fresh copy (not 'source', which calls the original)
SPACE_CALLS = ("indirect", "direct", "jmp", "push-ret", "retpoline")
#: how many of a ring's cache sizes apart the rings of the space are at most (4x L2)
RING_TOP_IN_L2 = 4


def _geometric(lo: int, hi: int) -> list[int]:
    """lo x 1, 1.5, 2, 3, 4, 6, 8, ... (two per doubling) up to hi."""
    out, x = [], lo
    while x <= hi:
        out += [v for v in (x, x * 3 // 2) if v <= hi]
        x *= 2
    return out


def space_rings(sizes: CacheSizes) -> tuple[int, ...]:
    """Ring sizes from 4K to 4x L2, two per doubling, plus L1D, L1I and L2 themselves."""
    top = pages(RING_TOP_IN_L2 * sizes.l2)
    ring = {pages(r) for r in _geometric(4 * K, top)} | {
        pages(s) for s in (sizes.l1d, sizes.l1i, sizes.l2)
    }
    return tuple(sorted(r for r in ring if r <= top))


def space_aheads(sizes: CacheSizes) -> tuple[int, ...]:
    """Write-ahead distances from one slot (64 B) to the biggest ring, two per doubling, plus
    L1D, L1I and L2 and one slot either side of each (the neighbourhood of every cache size)."""
    top = pages(RING_TOP_IN_L2 * sizes.l2)
    near = {c + d for c in (sizes.l1d, sizes.l1i, sizes.l2) for d in (-64, 0, 64)}
    return tuple(
        sorted({a // 64 * 64 for a in _geometric(64, top)} | {a for a in near if 0 < a < top})
    )


def seed_space(host: dict[str, Any]) -> Space:
    """The seed workload's space on this host: ring size and write-ahead distance (from the
    host's caches), call kind, copy method (those the CPU has; temporal and non-temporal),
    batch, prefetch hint, evict instruction (those the CPU has) and barrier. Valid = what the
    experiment accepts and the CPU can run."""
    sizes = CacheSizes.of(host)
    flags = set(host.get("flags") or ())
    copies = tuple(
        m.name
        for m in vocab.COPIES.values()
        if not m.fill and m.width >= 8 and set(m.flags) <= flags
    )
    knobs = (
        Knob("buffer", space_rings(sizes)),
        Knob("ahead", space_aheads(sizes)),
        Knob("call", SPACE_CALLS, ordered=False),
        Knob("copy", copies, ordered=False),
        Knob("batch", (1, 2, 4, 8), default=1),
        Knob(
            "prefetch",
            tuple(n for n, op in vocab.PREFETCHES.items() if set(op.flags) <= flags),
            ordered=False,
            default="none",
        ),
        Knob("evict", ("none", *evict_candidates(host)), ordered=False, default="none"),
        Knob("barrier", ("none", *BARRIER_CANDIDATES), ordered=False, default="none"),
        # jitauthor (issue 23): a W^X flip knob of the seed goes here, as one more Knob
    )
    return Space("seed", knobs, dict(SPACE_FIXED), _valid)


#: most slots of a direct-call ring in the space: the ring is generated for each measurement
#: (~20 us a slot), so 16384 slots (a 1M ring at step 64) keep a point under a second; the
#: experiment itself takes any size (``smclab run``)
SPACE_DIRECT_SLOTS = 16384


def _valid(values: dict[str, Any]) -> bool:
    if values["call"] == "direct" and values["buffer"] // values["step"] > SPACE_DIRECT_SLOTS:
        return False
    return experiment_ok(values)


def seed_controls(knobs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A fresh-code point's controls: ``data``, the same loop storing into data (the far
    buffer, at the executed slot's offset: the same stores, batches, hints and barriers, so
    the ratio is what freshness alone costs; the far store has no write-ahead distance) and
    ``limit``, the same call pattern calling code that is never modified (no store)."""
    none = {"store": "none", "ahead": 0, "batch": 1, "prefetch": "none", "evict": "none"}
    return {"data": {**knobs, "store": "far", "ahead": 0}, "limit": {**knobs, **none}}


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
        f" ({where}: L1I {format_size(sizes.l1i)}, L2 {format_size(sizes.l2)});"
        f" in cache terms: {format_size(exp.ahead)} ahead ({sizes.relate(exp.ahead)},"
        f" {exp.ahead / sizes.l1d:.3g}x L1D) in a {format_size(exp.buffer)} ring"
        f" ({sizes.relate(exp.buffer)})"
    )


#: what to do in a JIT for each call kind (the slot's address known when the call is written)
CALL_HOW = {
    "direct": "call each slot with call rel32 (a call site per slot, patched or generated"
    " with the slot: no indirect branch to mispredict)",
    "indirect": "call each slot through a register (call reg)",
    "jmp": "push the return address and jmp through a register",
    "push-ret": "push the return address and the slot, then ret",
    "retpoline": "call through a retpoline thunk",
    "source": "call the original, not the copy",
}


def how_to(exp: Experiment, naive: Experiment, host: dict[str, Any] | None = None) -> str:
    values = exp.to_dict()
    method = vocab.COPIES[exp.copy]
    extra = {
        "ring": format_size(values["buffer"]),
        "call_how": CALL_HOW.get(exp.call)
        or f"reach each slot: {vocab.CALLS[exp.call].description}",
        "copy_how": f"{method.width}-byte stores" if not method.rep else "a rep string",
    }
    steps = []
    for knob, text in HOW_TO.items():
        if knob == "placement" or values[knob] == getattr(naive, knob):
            continue
        steps.append(text.format(**extra, **values))
    if exp.ahead and exp.step:
        steps.append(_why(exp, CacheSizes.of(host or {})))
    return "; ".join(steps) or "the naive loop"


SET = CandidateSet(
    "seed",
    Candidate("naive", {}),
    Candidate("floor: far-store", {"store": "far"}, fresh=False),
    None,
    how_to,
    floor_note="the same copy into data memory",
    space=seed_space,
    controls=seed_controls,
)
