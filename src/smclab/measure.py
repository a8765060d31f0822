"""Measurement protocol and statistics.

:func:`sample` runs inside the worker: warm-up, calibrate the iteration count so one repeat
lasts at least ``min_ms``, then R repeats, each with the counter group around it.
:func:`summarize` turns the raw samples into a :class:`Result` (median, min, IQR/median spread).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .spec import Experiment

NOISY_SPREAD = 0.05
WARMUP_ITERATIONS = 1000
CALIBRATE_START = 1000
MAX_ITERATIONS = 10**9
#: a noisy measurement may take up to this many times the asked-for repeats
MAX_REPEAT_FACTOR = 3


class MeasurementError(RuntimeError):
    """A measurement a suite depends on failed (the CLI exits 1 with this message)."""


class Counters(Protocol):
    def start(self) -> None: ...
    def stop(self) -> dict[str, float | None]: ...


@dataclass
class Samples:
    """Raw output of one experiment's measurement (what the worker sends back)."""

    iterations: int
    ticks: list[int]
    counts: list[dict[str, float | None]]
    unavailable: dict[str, str]
    #: what an event really counts where it is a proxy or an unverified encoding
    notes: dict[str, str] = field(default_factory=dict)


def calibrate(run: Callable[[int], int], target_ticks: float, start: int = CALIBRATE_START) -> int:
    """An iteration count whose run lasts at least ``target_ticks``.

    Probes grow the count (at most 100x at a time); once a probe lasted a tenth of the target
    the count is scaled from it with a 20% margin instead of being probed again.
    """
    n = start
    while n < MAX_ITERATIONS:
        ticks = max(run(n), 1)
        if ticks >= target_ticks:
            return n
        scale = target_ticks / ticks * 1.2
        n = min(MAX_ITERATIONS, int(n * min(scale, 100.0)) + 1)
        if ticks * 10 >= target_ticks:
            return n
    return MAX_ITERATIONS


def sample(
    exp: Experiment,
    run: Callable[[int], int],
    tsc_hz: float,
    counters: Counters,
    unavailable: dict[str, str],
) -> Samples:
    """Warm up, choose iterations, then ``exp.repeats`` timed runs with counters around each.

    A noisy set (IQR/median above NOISY_SPREAD: a VM steal, an interrupt) gets more repeats,
    up to MAX_REPEAT_FACTOR times as many, until the spread settles; every repeat is kept.
    """
    run(min(WARMUP_ITERATIONS, exp.iterations or WARMUP_ITERATIONS))
    n = exp.iterations or calibrate(run, exp.min_ms * 1e-3 * tsc_hz)
    ticks: list[int] = []
    counts: list[dict[str, float | None]] = []

    def once() -> None:
        counters.start()
        ticks.append(run(n))
        counts.append(counters.stop())

    for _ in range(exp.repeats):
        once()
    while (
        len(ticks) < exp.repeats * MAX_REPEAT_FACTOR
        and len(ticks) >= 2
        and Stats.of([float(t) for t in ticks]).noisy
    ):
        once()
    return Samples(n, ticks, counts, unavailable)


@dataclass(frozen=True)
class Stats:
    median: float
    min: float
    spread: float  # IQR / median

    @property
    def noisy(self) -> bool:
        return self.spread > NOISY_SPREAD

    def to_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.min, "spread": self.spread}

    @classmethod
    def of(cls, values: list[float]) -> Stats:
        med = statistics.median(values)
        if len(values) >= 2:
            q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        else:
            q1 = q3 = values[0]
        return cls(med, min(values), (q3 - q1) / med if med else 0.0)


@dataclass(frozen=True)
class CounterValue:
    per_iter: float | None
    reason: str | None = None  # why there is no value
    note: str | None = None  # what the value is, where the event is only a proxy

    def to_dict(self) -> dict[str, Any]:
        return {"per_iter": self.per_iter, "reason": self.reason, "note": self.note}


@dataclass
class Result:
    """One experiment's outcome: statistics per iteration, counters, or an error."""

    experiment: Experiment
    host: dict[str, Any]
    iterations: int = 0
    ticks_per_iter: Stats | None = None
    ns_per_iter: Stats | None = None
    counters: dict[str, CounterValue] = field(default_factory=dict)
    error: str | None = None
    raw_ticks: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment.to_dict(),
            "host": self.host,
            "iterations": self.iterations,
            "ticks_per_iter": self.ticks_per_iter.to_dict() if self.ticks_per_iter else None,
            "ns_per_iter": self.ns_per_iter.to_dict() if self.ns_per_iter else None,
            "counters": {k: v.to_dict() for k, v in self.counters.items()},
            "error": self.error,
        }


def summarize(exp: Experiment, host: dict[str, Any], tsc_hz: float, s: Samples) -> Result:
    per_iter = [t / s.iterations for t in s.ticks]
    counters: dict[str, CounterValue] = {}
    for name in exp.events:
        if name in s.unavailable:
            counters[name] = CounterValue(None, s.unavailable[name])
            continue
        values = [c.get(name) for c in s.counts]
        if any(v is None for v in values):
            counters[name] = CounterValue(None, "unavailable: no value was read")
        else:
            counters[name] = CounterValue(
                statistics.median(values) / s.iterations, note=s.notes.get(name)
            )
    return Result(
        experiment=exp,
        host=host,
        iterations=s.iterations,
        ticks_per_iter=Stats.of(per_iter),
        ns_per_iter=Stats.of([t * 1e9 / tsc_hz for t in per_iter]),
        counters=counters,
        raw_ticks=list(s.ticks),
    )
