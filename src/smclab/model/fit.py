"""How the cost of modifying code grows with the stores that modify it: one penalty per store,
per byte, per cache line written, or one per iteration whatever is stored (flat); or
*saturating*: the first store costs P and more stores add a fraction of it, up to a limit.

Each :class:`Observation` is one store pattern into the executed line with its *penalty*: its
ticks/iter over the same stores into data memory (its control), measured in the same
interleaved rounds. Every model says the penalty is ``C x n`` with ``n`` what it counts (stores,
bytes, lines, or 1); :func:`fit` fits ``C`` by least squares on the per-point penalties and
keeps the models whose residual lies within the noise the rounds show. A model is *chosen* only
when it is the one that fits; models that fit equally (or that the points cannot tell apart,
such as "per line" and "flat" when every point wrote one line) are reported as a tie.

The saturating model, ``P + S (1 - exp(-(n - 1) / tau))`` in the store count n, has three
parameters (P and S by least squares for each tau of :data:`TAUS`, the best tau kept): it is
chosen only where no one-constant model fits, or where it fits CLEAR x better than the best of
them, and only with a rising, positive shape (P > 0, S > 0); it counts no whole penalties, so
the penalty estimates use the counting models only.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from smclab.model.result import Stats
from smclab.model.stats import comparison

LINE = 64
#: a model fits when its RMS residual is at most this share of the mean penalty (or, on a noisy
#: host, at most NOISE_FACTOR x the RMS noise of the points)
FIT_TOL = 0.15
NOISE_FACTOR = 1.0
#: the best model is chosen only when every other model that fits has a residual this many
#: times larger; models closer than that fit equally (a tie)
CLEAR = 2.0


@dataclass(frozen=True)
class Observation:
    """A store pattern into the executed line and the penalty it costs (ticks/iter)."""

    label: str
    stores: int  # store instructions (a rep string: its units)
    nbytes: int
    lines: int  # cache lines the stores touch
    penalty: float  # ticks/iter over the control: the median of the per-round differences
    noise: float  # half the width of that median's interval (ticks/iter)
    #: the stores that land in the executed line (None: all of them); a pattern running past
    #: the line stores the rest into the next one
    in_line: int | None = None

    @property
    def line_stores(self) -> int:
        return self.stores if self.in_line is None else self.in_line


def lines_touched(offset: int, nbytes: int) -> int:
    """Cache lines ``nbytes`` stored from ``offset`` (relative to a line start) touch."""
    return (offset + nbytes - 1) // LINE - offset // LINE + 1


def observe(
    label: str,
    stores: int,
    nbytes: int,
    lines: int,
    cost: Stats,
    control: Stats,
    in_line: int | None = None,
) -> Observation:
    """The penalty of ``cost`` over ``control``. From one interleaved run it is paired round by
    round, as :func:`smclab.model.stats.comparison` pairs: the median per-round ratio (a slow
    phase of the host slows both points of a round alike and cancels) times the control's
    median, minus the control; its noise is half the ratio interval's width, in ticks. Else
    the difference of the medians, with their IQRs as the noise."""
    c = comparison(cost, control) if len(cost.rounds) >= 2 else None
    if c is not None:
        base = control.median
        half = base * (c.high - c.low) / 2
        return Observation(label, stores, nbytes, lines, base * (c.ratio - 1), half, in_line)
    noise = (cost.median * cost.spread + control.median * control.spread) / 2
    return Observation(label, stores, nbytes, lines, cost.median - control.median, noise, in_line)


#: the model that charges only the stores landing in the executed line
IN_LINE = "per store in the line"
#: model name -> what it counts in an observation (the penalty is C x that count); simplest
#: first: of models that count the same on every point, the first is the one named
MODELS: dict[str, Callable[[Observation], int]] = {
    "flat": lambda o: 1,
    "per line": lambda o: o.lines,
    "per store": lambda o: o.stores,
    "per byte": lambda o: o.nbytes,
    # the stores past the executed line free (the granularity probe: no host measured so far
    # pays for the line after it)
    IN_LINE: lambda o: o.line_stores,
}
#: how a finding says what a model's unit is
UNITS = {
    "per store": "store",
    "per byte": "byte",
    "per line": "line",
    "flat": "iteration",
    IN_LINE: "store into the executed line",
}
SATURATING = "saturating"
#: the saturation scales (in stores) tried: 0.25 is a step at the second store
TAUS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
#: the share of its rise the saturating model must reach within the measured store counts
SEEN = 0.9


def _rise(n: int, tau: float) -> float:
    """The saturating model's shape: 0 for the first store, towards 1 for many."""
    return 1 - math.exp(-(n - 1) / tau)


@dataclass(frozen=True)
class ModelFit:
    model: str
    constant: float  # ticks per penalty: C (saturating: P, what the first store costs)
    residual: float  # RMS of (penalty - prediction), ticks/iter
    added: float = 0.0  # saturating: S, what many stores add on top of P
    tau: float = 0.0  # saturating: the scale (stores) of the rise

    @property
    def counts(self) -> bool:
        """The model counts whole penalties (the saturating one does not)."""
        return self.model in MODELS

    def count(self, o: Observation) -> int:
        """How many penalties the model says ``o`` pays (counting models only)."""
        return MODELS[self.model](o)

    def predict(self, o: Observation) -> float:
        if self.model == SATURATING:
            return self.constant + self.added * _rise(o.stores, self.tau)
        return self.constant * self.count(o)

    def at(self, stores: int) -> float:
        """The saturating model's penalty for ``stores`` stores (ticks/iter)."""
        return self.constant + self.added * _rise(stores, self.tau)


@dataclass(frozen=True)
class FitResult:
    """Every model fitted to the same observations, best (smallest residual) first."""

    observations: tuple[Observation, ...]
    fits: tuple[ModelFit, ...]
    scale: float  # mean penalty (ticks/iter)
    noise: float  # RMS noise of the points (ticks/iter)
    saturating: ModelFit | None = None  # the three-parameter model, where it can be fitted

    @property
    def tolerance(self) -> float:
        """The largest residual a model that fits may have."""
        return max(FIT_TOL * self.scale, NOISE_FACTOR * self.noise)

    @property
    def fitting(self) -> list[ModelFit]:
        """The models whose residual is within the tolerance, best first."""
        return [f for f in self.fits if f.residual <= self.tolerance]

    @property
    def contenders(self) -> list[ModelFit]:
        """The models that fit about as well as the best that fits (within CLEAR x its
        residual). The saturating model (three parameters) contends alone, and only where no
        one-constant model fits or it fits CLEAR x better than the best of them."""
        fitting = self.fitting
        sat = self.saturating
        if sat is not None and sat.residual > self.tolerance:
            sat = None
        if sat is not None and (not fitting or CLEAR * sat.residual < fitting[0].residual):
            return [sat]
        if not fitting:
            return []
        best = fitting[0].residual
        return [f for f in fitting if f.residual <= CLEAR * best or f.residual <= 1e-9 * self.scale]

    @property
    def chosen(self) -> ModelFit | None:
        """The model that fits clearly best (None: none fits, or a tie)."""
        c = self.contenders
        return c[0] if len(c) == 1 else None

    @property
    def tied(self) -> list[ModelFit]:
        """The models that fit equally well (empty unless two or more do)."""
        c = self.contenders
        return c if len(c) > 1 else []

    def same_counts(self, a: str, b: str) -> bool:
        """The two models count the same on every observation: the points cannot tell them
        apart (e.g. "per line" and "flat" when every point wrote one line)."""
        if a not in MODELS or b not in MODELS:
            return a == b
        return all(MODELS[a](o) == MODELS[b](o) for o in self.observations)

    @property
    def usable(self) -> ModelFit | None:
        """A model to count penalties with: the chosen one, or the best of a tie whose models
        count the same on every point (they give the same constant and counts). The
        saturating model counts no whole penalties: None when it is chosen."""
        if self.chosen is not None:
            return self.chosen if self.chosen.counts else None
        tied = self.tied
        if tied and all(self.same_counts(tied[0].model, f.model) for f in tied[1:]):
            return tied[0]
        return None

    def counting(self, o: Observation) -> ModelFit | None:
        """A model to count ``o``'s penalties with: :attr:`usable`, else, when the tied models
        all count ``o`` the same, the best of them (its constant is then one of the tied
        models' constants: :meth:`constants` gives their range)."""
        if self.usable is not None:
            return self.usable
        if self.chosen is not None:
            return None
        tied = self.tied
        if tied and len({m.count(o) for m in tied}) == 1:
            return tied[0]
        return None

    def constants(self) -> tuple[float, float]:
        """The range of the constants of the models that fit equally (or of the chosen one)."""
        ms = self.tied or ([self.chosen] if self.chosen else [])
        cs = [m.constant for m in ms]
        return (min(cs), max(cs)) if cs else (0.0, 0.0)

    def twins(self, m: ModelFit) -> list[str]:
        """The other models that count as ``m`` does on every point (the points cannot tell
        them apart)."""
        return [
            f.model for f in self.fits if f.model != m.model and self.same_counts(m.model, f.model)
        ]

    def residuals_text(self) -> str:
        """``per store 3.1, flat 40.2, ... ticks/iter`` (RMS residuals, best first; the
        saturating model's last)."""
        fits = [*self.fits, *([self.saturating] if self.saturating else [])]
        return ", ".join(f"{f.model} {f.residual:.3g}" for f in fits) + " ticks/iter"


def fit_one(model: str, observations: Sequence[Observation]) -> ModelFit:
    """Least squares of penalty = C x n through the origin."""
    xs = [MODELS[model](o) for o in observations]
    ys = [o.penalty for o in observations]
    c = sum(x * y for x, y in zip(xs, ys, strict=True)) / sum(x * x for x in xs)
    rms = math.sqrt(statistics.fmean((y - c * x) ** 2 for x, y in zip(xs, ys, strict=True)))
    return ModelFit(model, c, rms)


def fit_saturating(observations: Sequence[Observation]) -> ModelFit | None:
    """penalty = P + S (1 - exp(-(n - 1) / tau)) in the store count n: P and S by least squares
    for each tau of TAUS, the tau with the least residual kept. None unless the points hold at
    least three store counts and more points than parameters, and the best fit rises (P > 0,
    S > 0)."""
    counts = {o.stores for o in observations}
    if len(counts) < 3 or len(observations) < 4:
        return None
    ys = [o.penalty for o in observations]
    best: ModelFit | None = None
    top = max(counts)
    # only scales whose rise is seen to level off within the points (90% of it by the most
    # stores measured): a straight line is not called saturating
    for tau in (t for t in TAUS if _rise(top, t) >= SEEN):
        xs = [_rise(o.stores, tau) for o in observations]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        if sxx <= 0:
            continue
        s = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
        p = my - s * mx
        rms = math.sqrt(statistics.fmean((y - p - s * x) ** 2 for x, y in zip(xs, ys, strict=True)))
        if best is None or rms < best.residual:
            best = ModelFit(SATURATING, p, rms, s, tau)
    if best is None or best.constant <= 0 or best.added <= 0:
        return None
    return best


def fit(observations: Sequence[Observation]) -> FitResult | None:
    """Every model fitted to the observations (None with fewer than two)."""
    obs = tuple(observations)
    if len(obs) < 2:
        return None
    # "per store in the line" is "per store" itself unless some pattern ran past the line
    past = any(o.line_stores != o.stores for o in obs)
    models = [m for m in MODELS if past or m != IN_LINE]
    # sorted stably: models with the same residual keep MODELS' order (simplest first)
    fits = sorted((fit_one(m, obs) for m in models), key=lambda f: round(f.residual, 9))
    scale = statistics.fmean(abs(o.penalty) for o in obs)
    noise = math.sqrt(statistics.fmean(o.noise**2 for o in obs))
    return FitResult(obs, tuple(fits), scale, noise, fit_saturating(obs))


def estimate(penalty: float, per_penalty: float) -> float | None:
    """Penalties per iteration a loop pays, estimated from its penalty over its control."""
    if per_penalty <= 0:
        return None
    return max(penalty, 0.0) / per_penalty
