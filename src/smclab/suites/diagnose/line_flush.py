"""clflushopt after the store: the seed loop (64-byte rep movsb onto the code it calls, 4K/0)
with ``clflushopt`` of the written line after each copy (the seed's ``evict`` knob) against the
same loop without it, each into the executed line and into data.

Into data its extra is the flush's own cost (a dirty line written back and invalidated, no code
modified); net of it, the executed line says whether flushing the line just written changes
the SMC penalty (:mod:`.sided`). Skipped on a CPU without clflushopt.
"""

from __future__ import annotations

from smclab.isa import vocabulary as vocab
from smclab.run import machine

from . import sided
from .base import Finding, Host, PlanPoint, Point, ProbeSpec, labelled, pp
from .plot import Bars
from .sided import FAR

ORDER = 45
#: the line instruction, a value of the seed's ``evict`` knob
FLUSH = "clflushopt"
NONE = "no flush"


def points(quick: bool) -> list[PlanPoint]:
    """Four points, quick or not (the question needs each of them)."""
    return [
        pp(NONE, None, "executed line"),
        pp(NONE + FAR, None, "data", store="far"),
        pp(FLUSH, None, "executed line", evict=FLUSH),
        pp(FLUSH + FAR, None, "data", store="far", evict=FLUSH),
    ]


def needs(cpus: int) -> str | None:
    """Why the probe cannot run here: the CPU lacks the flush instruction's flag."""
    missing = [f for f in vocab.EVICTS[FLUSH].flags if f not in machine.cpu_flags()]
    return f"needs {FLUSH} (this CPU has no '{missing[0]}' flag)" if missing else None


def findings(points: list[Point], host: Host) -> list[Finding]:
    s = sided.sided(labelled(points), FLUSH, NONE)
    if s is None:
        return []
    what = f"{FLUSH} of the written line after each copy (the seed's 64-byte rep movsb, 4K/0)"
    return [sided.finding("line-flush", s, what, "the same loop without it", FLUSH)]


PROBE = ProbeSpec(
    "line-flush",
    f"{FLUSH} after the store: into the executed line and into data (4K, step 0)",
    points,
    findings,
    Bars(ref=NONE + FAR),
    needs=needs,
    facts=sided.facts("clflushopt_ticks"),
)
