"""Buffer size: 4K .. 16M at steps 64 and 4096; does the cost move with the buffer."""

from __future__ import annotations

from smclab.model.knobs import format_size
from smclab.model.stats import confidence, differs

from .base import Finding, Host, PlanPoint, Point, ProbeSpec, measured, pp
from .plot import Curve

ORDER = 60
K = 1024
BUFFERS = (4 * K, 16 * K, 64 * K, 256 * K, K * K, 4 * K * K, 16 * K * K)
QUICK_BUFFERS = (4 * K, 64 * K, K * K, 16 * K * K)
STEPS = (64, 4096)


def points(quick: bool) -> list[PlanPoint]:
    buffers = BUFFERS if not quick else QUICK_BUFFERS
    return [
        pp(f"{format_size(b)}/{s}", b, f"step {s}", buffer=b, step=s)
        for s in STEPS
        for b in buffers
        if s < b
    ]


def findings(points: list[Point], host: Host) -> list[Finding]:
    out = []
    for group in sorted({p.plan.group for p in points}):
        curve = sorted(
            (p.plan.x, p)
            for p in measured(points)
            if p.plan.group == group and p.plan.x is not None
        )
        if len(curve) < 2:
            continue
        (x0, small), (x1, big) = curve[0], curve[-1]
        if not differs(small.ticks, big.ticks):
            out.append(
                Finding(
                    "buffer",
                    (
                        f"At {group} the buffer size does not matter between"
                        f" {format_size(int(x0))} and"
                        f" {format_size(int(x1))} ({small.ticks.median:.0f} vs"
                        f" {big.ticks.median:.0f}"
                        f" ticks/iter)."
                    ),
                    "medium",
                    {"curve": {int(x): p.ticks.median for x, p in curve}},
                )
            )
            continue
        worst = max((p for _, p in curve), key=lambda p: p.ticks.median)
        out.append(
            Finding(
                "buffer",
                (
                    f"At {group} the cost moves with the buffer size: {small.ticks.median:.0f}"
                    " ticks/iter"
                    f" at {format_size(int(x0))}, {big.ticks.median:.0f} at {format_size(int(x1))}"
                    f" (worst {worst.ticks.median:.0f} at {worst.plan.label})."
                ),
                confidence((small.ticks, big.ticks)),
                {"curve": {int(x): p.ticks.median for x, p in curve}},
            )
        )
    return out


PROBE = ProbeSpec(
    "buffer",
    "Buffer size: 4K .. 16M at steps 64 and 4096",
    points,
    findings,
    Curve("Buffer size", "buffer (bytes)", ref=None, xscale="log"),
)
