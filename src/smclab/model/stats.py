"""Comparing two measurements: is a difference real, and how sure are we.

Two medians are only called different when their gap exceeds both spreads (IQR/median) and
:data:`MIN_EFFECT`; :func:`confidence` grades a conclusion resting on one or more such gaps.
"""

from __future__ import annotations

from smclab.model.result import Stats

#: two medians closer than this (relative) are never called different
MIN_EFFECT = 0.05
#: a conclusion is only "high" when every spread involved is below this
SMALL_SPREAD = 0.05


def gap(a: Stats, b: Stats) -> float:
    """The relative gap between the medians: (larger - smaller) / larger."""
    lo, hi = sorted((a.median, b.median))
    return (hi - lo) / hi


def differs(a: Stats, b: Stats) -> bool:
    """The medians differ beyond both spreads (IQR/median) and beyond MIN_EFFECT."""
    return gap(a, b) > max(MIN_EFFECT, a.spread + b.spread)


def confidence(*pairs: tuple[Stats, Stats]) -> str:
    """high: every gap is 3x the spreads and spreads are small; medium: separated; low."""
    level = "high"
    for a, b in pairs:
        g, noise = gap(a, b), a.spread + b.spread
        if g <= max(MIN_EFFECT, noise):
            return "low"
        if g < 3 * noise or max(a.spread, b.spread) > SMALL_SPREAD:
            level = "medium"
    return level
