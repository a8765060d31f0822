"""Comparing two measurements: is a difference real, and how sure are we.

Points measured in one interleaved run (the same ``Stats.series``, one value per round) are
compared round by round: the per-round ratio, an exact sign test over the rounds and an
order-statistic interval (:func:`smclab.model.rounds.compare_rounds`). A slow phase of the host
that hits a whole round then cancels out. Points measured apart (no common series, or too few
rounds) fall back to the older rule: their medians differ beyond both spreads (IQR/median) and
:data:`MIN_EFFECT`.
"""

from __future__ import annotations

from smclab.model.result import Stats
from smclab.model.rounds import MIN_EFFECT, Comparison, compare_rounds

__all__ = ["MIN_EFFECT", "comparison", "confidence", "differs", "gap", "net", "no_difference"]

#: a conclusion is only "high" when every spread involved is below this (fallback rule)
SMALL_SPREAD = 0.05
#: fewest paired rounds a round-by-round comparison uses (5 unanimous rounds: p = 1/16)
MIN_ROUNDS = 5
_LEVELS = ("low", "medium", "high")


def gap(a: Stats, b: Stats) -> float:
    """The relative gap between the medians: (larger - smaller) / larger."""
    lo, hi = sorted((a.median, b.median))
    return (hi - lo) / hi


def comparison(a: Stats, b: Stats) -> Comparison | None:
    """``a`` against ``b`` round by round, when both come from one interleaved run."""
    if a.series is None or a.series != b.series:
        return None
    if len(a.rounds) != len(b.rounds) or len(a.rounds) < MIN_ROUNDS:
        return None
    return compare_rounds(a.rounds, b.rounds)


def differs(a: Stats, b: Stats) -> bool:
    """The rounds support a difference (sign test, and an effect of at least MIN_EFFECT); for
    points measured apart, the medians differ beyond both spreads and MIN_EFFECT."""
    c = comparison(a, b)
    if c is not None:
        return c.differs
    return gap(a, b) > max(MIN_EFFECT, a.spread + b.spread)


def _fallback(a: Stats, b: Stats) -> str:
    g, noise = gap(a, b), a.spread + b.spread
    if g <= max(MIN_EFFECT, noise):
        return "low"
    if g < 3 * noise or max(a.spread, b.spread) > SMALL_SPREAD:
        return "medium"
    return "high"


def confidence(*pairs: tuple[Stats, Stats]) -> str:
    """The weakest confidence of the differences ``pairs`` show: from the sign test over the
    rounds (high p <= 0.01, medium <= 0.05), else from how far the medians are apart."""
    level = "high"
    for a, b in pairs:
        c = comparison(a, b)
        one = (c.confidence if c.differs else "low") if c is not None else _fallback(a, b)
        level = min(level, one, key=_LEVELS.index)
    return level


def net(a: Stats, minus: Stats, plus: Stats) -> Stats:
    """``a - minus + plus``: a point with one effect taken out, e.g. a barrier's own cost
    (``minus``: the barrier on a loop storing into data, ``plus``: that loop without it), so
    that comparing the result with the loop without the barrier tests the *interaction*.

    From one interleaved run the difference is taken round by round and the result keeps the
    series (then :func:`differs` and :func:`confidence` still pair rounds); otherwise the
    medians are combined and the absolute spreads add up.
    """
    same = a.series is not None and a.series == minus.series == plus.series
    if same and a.rounds and len(a.rounds) == len(minus.rounds) == len(plus.rounds):
        values = [x - y + z for x, y, z in zip(a.rounds, minus.rounds, plus.rounds, strict=True)]
        if all(v > 0 for v in values):
            return Stats.of(values, tuple(values), a.series)
    median = a.median - minus.median + plus.median
    noise = a.spread * a.median + minus.spread * minus.median + plus.spread * plus.median
    floor = max(abs(median), 1e-9)
    return Stats(median, median, noise / floor)


def no_difference(*stats: Stats) -> str:
    """The confidence of a "no measurable difference" finding: medium when every spread is
    small (nothing hid a difference), low when noise could have."""
    return "medium" if all(s.spread <= SMALL_SPREAD for s in stats) else "low"
