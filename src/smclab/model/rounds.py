"""Statistics for interleaved rounds: modes of a sample, and paired comparisons over rounds.

A comparison of two points measured in the same rounds (each round runs every point once, in a
fresh random order) works on the per-round *ratio* A_r / B_r: a slow phase of the host that
lands on one round slows both points of that round alike, so it cancels in the ratio. The
decision "A differs from B" is an exact two-sided sign test on those ratios (how many rounds
have A < B), and the interval of the median ratio is the distribution-free order-statistic
interval. Points measured in *different* runs (two stored hosts) have no rounds in common:
:func:`compare_samples` compares their repeats with an exact Mann-Whitney U test. Nothing here
assumes a distribution of timings.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: two clusters of repeats are separate modes when one is this factor above the other
MODE_GAP = 1.5
#: a cluster is a mode only if it holds at least this share of the values (and 2 of them)
MODE_MIN_SHARE = 0.15
#: a median ratio closer to 1 than this is never called a difference
MIN_EFFECT = 0.05
#: sign-test p-values for the confidence a difference is printed with (5 unanimous rounds
#: give p = 0.0625, the least a 5-round comparison can show)
CONFIDENCE_P = (("high", 0.01), ("medium", 0.05), ("low", 0.07))
#: interleaved rounds of a quick and of a full run; 7 unanimous rounds give p = 1/64, so only
#: "medium": 8 are the fewest that can reach "high"; a rigorous run's 15 still do with two
#: rounds against (p = 0.007)
QUICK_ROUNDS, FULL_ROUNDS, RIGOROUS_ROUNDS = 5, 7, 15
#: the fewest rounds a run may ask for (a sign test over fewer can show nothing)
MIN_ROUNDS = 5


@dataclass(frozen=True)
class Mode:
    value: float  # the median of the cluster
    count: int

    def to_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "count": self.count}


def modes(values: Sequence[float], gap: float = MODE_GAP) -> list[Mode]:
    """Clusters of ``values`` separated by more than a factor ``gap``, as (median, count).

    One entry when the values are unimodal. A cluster smaller than MODE_MIN_SHARE of the values
    (or a single value) is an outlier, not a mode: it joins the nearest cluster's count.
    """
    if not values:
        return []
    xs = sorted(values)
    clusters: list[list[float]] = [[xs[0]]]
    for x in xs[1:]:
        prev = clusters[-1][-1]
        if prev > 0 and x / prev > gap:
            clusters.append([x])
        else:
            clusters[-1].append(x)
    need = max(2, math.ceil(MODE_MIN_SHARE * len(xs)))
    big = [c for c in clusters if len(c) >= need]
    if len(big) <= 1:
        return [Mode(statistics.median(xs), len(xs))]
    counts = [len(c) for c in big]
    for c in clusters:
        if len(c) < need:  # an outlier: count it with the nearest mode (in log distance)
            x = statistics.median(c)
            i = min(range(len(big)), key=lambda j: abs(math.log(statistics.median(big[j]) / x)))
            counts[i] += len(c)
    return [Mode(statistics.median(c), n) for c, n in zip(big, counts, strict=True)]


def sign_test(below: int, above: int) -> float:
    """Exact two-sided sign-test p-value for ``below`` vs ``above`` (ties left out)."""
    n = below + above
    if n == 0:
        return 1.0
    k = min(below, above)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / float(1 << n)
    return min(1.0, 2 * tail)


def median_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Distribution-free interval of the median from order statistics.

    The widest choice, (min, max), covers the median with probability 1 - 2/2^n; with fewer
    values than the level needs, that is what is returned.
    """
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        raise ValueError("no values")
    # largest k with P(B <= k-1) <= (1-level)/2, B ~ Binomial(n, 1/2): interval [x_k, x_{n-k+1}]
    alpha = (1 - level) / 2
    k, cum = 0, 0.0
    while k < n // 2:
        cum += math.comb(n, k) / float(1 << n)
        if cum > alpha:
            break
        k += 1
    k = max(k, 1)
    return xs[k - 1], xs[n - k]


@dataclass(frozen=True)
class Comparison:
    """A versus B over paired rounds (ratio = A / B, so < 1 means A is cheaper)."""

    rounds: int
    ratio: float  # median of the per-round ratios
    low: float  # interval of the median ratio
    high: float
    below: int  # rounds where A < B
    above: int  # rounds where A > B
    p: float  # sign test

    @property
    def differs(self) -> bool:
        return self.confidence != "none"

    @property
    def confidence(self) -> str:
        """'high' / 'medium' / 'low' for a difference the rounds support, else 'none'."""
        if abs(self.ratio - 1) < MIN_EFFECT:
            return "none"
        for name, limit in CONFIDENCE_P:
            if self.p <= limit:
                return name
        return "none"

    @property
    def same(self) -> bool:
        """The rounds show no effect: the whole interval lies within MIN_EFFECT of 1."""
        return self.low >= 1 - MIN_EFFECT and self.high <= 1 + MIN_EFFECT

    @property
    def verdict(self) -> str:
        if self.differs:
            return "lower" if self.ratio < 1 else "higher"
        return "same" if self.same else "unclear"

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "rounds": self.rounds,
            "ratio": self.ratio,
            "low": self.low,
            "high": self.high,
            "p": self.p,
            "verdict": self.verdict,
            "confidence": self.confidence,
        }


def compare_rounds(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Compare A and B from values measured in the same rounds (``a[r]``, ``b[r]`` paired)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired rounds needed, got {len(a)} and {len(b)} values")
    ratios = [x / y for x, y in zip(a, b, strict=True) if y > 0]
    if not ratios:
        raise ValueError("no round has a positive reference value")
    below = sum(r < 1 for r in ratios)
    above = sum(r > 1 for r in ratios)
    low, high = median_interval(ratios)
    return Comparison(
        len(ratios), statistics.median(ratios), low, high, below, above, sign_test(below, above)
    )


#: the most pairs (m * n) the exact U distribution is computed for; beyond, the normal
#: approximation (with that many repeats it is accurate)
EXACT_PAIRS = 2500


@functools.lru_cache(maxsize=64)
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many of the C(m+n, m) orderings of two samples give each U = 0..m*n (the
    coefficients of the Gaussian binomial; built up one sample size at a time)."""
    # f[j] = counts for sizes (i, j); adding one value to the first sample (i -> i + 1):
    # f(i, j)(u) = f(i-1, j)(u - j) + f(i, j-1)(u)
    f = [[1] for _ in range(n + 1)]  # i = 0: U = 0 whatever j
    for i in range(1, m + 1):
        g: list[list[int]] = [[1]]  # j = 0: U = 0
        for j in range(1, n + 1):
            size = i * j + 1
            row = [0] * size
            for u, c in enumerate(f[j]):  # (i-1, j) shifted by j
                row[u + j] += c
            for u, c in enumerate(g[j - 1]):  # (i, j-1)
                row[u] += c
            g.append(row)
        f = g
    return tuple(f[n])


def mann_whitney_p(u: float, m: int, n: int) -> float:
    """Exact two-sided p-value of Mann-Whitney's U (normal approximation past EXACT_PAIRS)."""
    pairs = m * n
    if pairs == 0:
        return 1.0
    k = min(u, pairs - u)  # the smaller tail
    if pairs > EXACT_PAIRS:
        sd = math.sqrt(pairs * (m + n + 1) / 12)
        z = (pairs / 2 - k - 0.5) / sd
        return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))
    counts = _u_counts(m, n)
    tail = sum(counts[: math.floor(k) + 1])
    return min(1.0, 2 * tail / math.comb(m + n, m))


def _hl_rank(m: int, n: int, level: float) -> int:
    """k of the Moses interval [d_(k), d_(mn-k+1)] of the pairwise differences: the largest
    k with P(U <= k - 1) <= (1 - level) / 2 (0 when even the extremes do not reach it)."""
    alpha = (1 - level) / 2
    pairs = m * n
    if pairs > EXACT_PAIRS:
        sd = math.sqrt(pairs * (m + n + 1) / 12)
        return max(0, math.floor(pairs / 2 - 1.959964 * sd))
    counts, total = _u_counts(m, n), math.comb(m + n, m)
    k, cum = 0, 0
    while k < pairs // 2 and (cum + counts[k]) / total <= alpha:
        cum += counts[k]
        k += 1
    return k


def compare_samples(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Comparison:
    """A against B from *unpaired* samples (the repeats of two separate runs; ratio = A / B).

    Few repeats, and timings are skewed and multi-modal, so no normal theory: an exact
    Mann-Whitney U test (two-sided p), and the ratio as the Hodges-Lehmann estimate on logs
    (the median of every pairwise log ratio) with its distribution-free (Moses) interval, the
    one that goes with the U test. With fewer repeats than ``level`` needs, the interval is the
    range of the pairwise ratios. ``rounds`` is the number of pairs, ``below`` / ``above``
    the pairs with A < B and A > B (U counts a tie as half).
    """
    xs = [math.log(x) for x in a if x > 0]
    ys = [math.log(y) for y in b if y > 0]
    if not xs or not ys:
        raise ValueError(f"positive values needed on both sides, got {len(xs)} and {len(ys)}")
    diffs = sorted(x - y for x in xs for y in ys)
    below = sum(d < 0 for d in diffs)
    above = sum(d > 0 for d in diffs)
    u = below + (len(diffs) - below - above) / 2
    k = max(_hl_rank(len(xs), len(ys), level), 1)
    return Comparison(
        len(diffs),
        math.exp(statistics.median(diffs)),
        math.exp(diffs[k - 1]),
        math.exp(diffs[len(diffs) - k]),
        below,
        above,
        mann_whitney_p(u, len(xs), len(ys)),
    )
