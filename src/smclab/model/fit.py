"""How the cost of modifying code grows with the stores that modify it: one penalty per store,
per byte, per cache line written, or one per iteration whatever is stored (flat).

Each :class:`Observation` is one store pattern into the executed line with its *penalty*: its
ticks/iter over the same stores into data memory (its control), measured in the same
interleaved rounds. Every model says the penalty is ``C x n`` with ``n`` what it counts (stores,
bytes, lines, or 1); :func:`fit` fits ``C`` by least squares on the per-point penalties and
keeps the models whose residual lies within the noise the rounds show. A model is *chosen* only
when it is the one that fits; models that fit equally (or that the points cannot tell apart,
such as "per line" and "flat" when every point wrote one line) are reported as a tie.
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


def lines_touched(offset: int, nbytes: int) -> int:
    """Cache lines ``nbytes`` stored from ``offset`` (relative to a line start) touch."""
    return (offset + nbytes - 1) // LINE - offset // LINE + 1


def observe(
    label: str, stores: int, nbytes: int, lines: int, cost: Stats, control: Stats
) -> Observation:
    """The penalty of ``cost`` over ``control``. From one interleaved run it is paired round by
    round, as :func:`smclab.model.stats.comparison` pairs: the median per-round ratio (a slow
    phase of the host slows both points of a round alike and cancels) times the control's
    median, minus the control; its noise is half the ratio interval's width, in ticks. Else
    the difference of the medians, with their IQRs as the noise."""
    c = comparison(cost, control) if len(cost.rounds) >= 2 else None
    if c is not None:
        base = control.median
        return Observation(
            label, stores, nbytes, lines, base * (c.ratio - 1), base * (c.high - c.low) / 2
        )
    noise = (cost.median * cost.spread + control.median * control.spread) / 2
    return Observation(label, stores, nbytes, lines, cost.median - control.median, noise)


#: model name -> what it counts in an observation (the penalty is C x that count); simplest
#: first: of models that count the same on every point, the first is the one named
MODELS: dict[str, Callable[[Observation], int]] = {
    "flat": lambda o: 1,
    "per line": lambda o: o.lines,
    "per store": lambda o: o.stores,
    "per byte": lambda o: o.nbytes,
}
#: how a finding says what a model's unit is
UNITS = {"per store": "store", "per byte": "byte", "per line": "line", "flat": "iteration"}


@dataclass(frozen=True)
class ModelFit:
    model: str
    constant: float  # ticks per penalty: C
    residual: float  # RMS of (penalty - C x n), ticks/iter

    def count(self, o: Observation) -> int:
        """How many penalties the model says ``o`` pays."""
        return MODELS[self.model](o)

    def predict(self, o: Observation) -> float:
        return self.constant * self.count(o)


@dataclass(frozen=True)
class FitResult:
    """Every model fitted to the same observations, best (smallest residual) first."""

    observations: tuple[Observation, ...]
    fits: tuple[ModelFit, ...]
    scale: float  # mean penalty (ticks/iter)
    noise: float  # RMS noise of the points (ticks/iter)

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
        residual)."""
        fitting = self.fitting
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
        return all(MODELS[a](o) == MODELS[b](o) for o in self.observations)

    @property
    def usable(self) -> ModelFit | None:
        """A model to count penalties with: the chosen one, or the best of a tie whose models
        count the same on every point (they give the same constant and counts)."""
        if self.chosen is not None:
            return self.chosen
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
        """``per store 3.1, flat 40.2, ... ticks/iter`` (RMS residuals, best first)."""
        return ", ".join(f"{f.model} {f.residual:.3g}" for f in self.fits) + " ticks/iter"


def fit_one(model: str, observations: Sequence[Observation]) -> ModelFit:
    """Least squares of penalty = C x n through the origin."""
    xs = [MODELS[model](o) for o in observations]
    ys = [o.penalty for o in observations]
    c = sum(x * y for x, y in zip(xs, ys, strict=True)) / sum(x * x for x in xs)
    rms = math.sqrt(statistics.fmean((y - c * x) ** 2 for x, y in zip(xs, ys, strict=True)))
    return ModelFit(model, c, rms)


def fit(observations: Sequence[Observation]) -> FitResult | None:
    """Every model fitted to the observations (None with fewer than two)."""
    obs = tuple(observations)
    if len(obs) < 2:
        return None
    # sorted stably: models with the same residual keep MODELS' order (simplest first)
    fits = sorted((fit_one(m, obs) for m in MODELS), key=lambda f: round(f.residual, 9))
    scale = statistics.fmean(abs(o.penalty) for o in obs)
    noise = math.sqrt(statistics.fmean(o.noise**2 for o in obs))
    return FitResult(obs, tuple(fits), scale, noise)


def estimate(penalty: float, per_penalty: float) -> float | None:
    """Penalties per iteration a loop pays, estimated from its penalty over its control."""
    if per_penalty <= 0:
        return None
    return max(penalty, 0.0) / per_penalty
