"""Measurement protocol and statistics.

:func:`sample` runs inside the worker: warm-up, calibrate the iteration count so one repeat
lasts at least ``min_ms``, then R repeats, each with the counter group around it.
:func:`summarize` turns the raw samples into a :class:`Result` (median, min, IQR/median spread).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any, Protocol

from smclab.model.experiment import Experiment
from smclab.model.result import CounterValue, Result, Samples, Stats
from smclab.model.rounds import modes

WARMUP_ITERATIONS = 1000
#: calibration probes from one iteration up (a 100 us/iter loop must not start at 1000)
CALIBRATE_START = 1
MAX_ITERATIONS = 10**9
#: a noisy measurement may take up to this many times the asked-for repeats
MAX_REPEAT_FACTOR = 3


class Counters(Protocol):
    def start(self) -> None: ...
    def stop(self) -> dict[str, float | None]: ...


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
    plan: Callable[[int, float], None] | None = None,
) -> Samples:
    """Warm up, choose iterations, then ``exp.repeats`` timed runs with counters around each.

    ``plan(iterations, ticks_per_iteration)`` is told, before the timed runs, the iterations
    chosen and what one cost in the warm-up (the caller's time limit follows it).

    A noisy set (IQR/median above NOISY_SPREAD: a VM steal, an interrupt) gets more repeats,
    up to MAX_REPEAT_FACTOR times as many, until the spread settles; every repeat is kept.
    """
    last = (1, 1)  # the latest (iterations, ticks) a warm-up or calibration run took

    def probe(k: int) -> int:
        nonlocal last
        last = (k, max(run(k), 1))
        return last[1]

    if exp.iterations:
        probe(min(WARMUP_ITERATIONS, exp.iterations))
        n = exp.iterations
    else:  # the calibration probes, growing to about the target, are the warm-up
        n = calibrate(probe, exp.min_ms * 1e-3 * tsc_hz)
    if plan is not None:
        plan(n, last[1] / last[0])
    ticks: list[int] = []
    counts: list[dict[str, float | None]] = []
    scales: list[float | None] = []

    def once() -> None:
        counters.start()
        ticks.append(run(n))
        counts.append(counters.stop())
        scales.append(getattr(counters, "scale", None))

    for _ in range(exp.repeats):
        once()
    while (
        len(ticks) < exp.repeats * MAX_REPEAT_FACTOR
        and len(ticks) >= 2
        and Stats.of([float(t) for t in ticks]).noisy
    ):
        once()
    return Samples(n, ticks, counts, unavailable, scales=scales)


def summarize(
    exp: Experiment, host: dict[str, Any], tsc_hz: float, s: Samples, series: str | None = None
) -> Result:
    """Statistics of the samples; ``series`` names the interleaved run they were part of (their
    per-round values are then kept, to be compared round by round with its other points)."""
    per_iter = [t / s.iterations for t in s.ticks]
    counters: dict[str, CounterValue] = {}
    for name in exp.events:
        if name in s.unavailable:
            counters[name] = CounterValue(None, s.unavailable[name])
            continue
        values = [v for c in s.counts if (v := c.get(name)) is not None]
        if len(values) < len(s.counts) or not values:
            counters[name] = CounterValue(None, "unavailable: no value was read")
        else:
            scales = [x for x in s.scales if x is not None]
            counters[name] = CounterValue(
                statistics.median(values) / s.iterations,
                note=s.notes.get(name),
                scale=max(scales) if scales else None,
            )
    sizes = s.round_sizes or [len(per_iter)]
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    rounds = [per_iter[a : a + n] for a, n in zip(starts, sizes, strict=True)]
    ticks_rounds = tuple(statistics.median(r) for r in rounds) if series else ()
    ns = 1e9 / tsc_hz
    return Result(
        experiment=exp,
        host=host,
        iterations=s.iterations,
        ticks_per_iter=Stats.of(per_iter, ticks_rounds, series),
        ns_per_iter=Stats.of(
            [t * ns for t in per_iter], tuple(t * ns for t in ticks_rounds), series
        ),
        counters=counters,
        raw_ticks=list(s.ticks),
        rounds=rounds,
        modes=modes(per_iter),
    )
