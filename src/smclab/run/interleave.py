"""Interleaved rounds: the protocol for points whose results will be compared.

A shared host shifts: on one Intel KVM guest the same loop cost 11 us/iter for minutes, then 23,
then 11 again. Measured one after another, such a shift lands on some points and not on others.
:func:`measure_interleaved` therefore calibrates every point once, then runs R rounds; each round
runs every point once (one timed repeat of its calibrated iteration count), in a freshly shuffled
order, so a slow phase hits all points of a round alike. Each result keeps its repeats grouped by
round (``Result.rounds``), which is what :func:`smclab.model.rounds.compare_rounds` pairs up.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from typing import Any

from smclab.model.experiment import Experiment
from smclab.model.noise import Noise
from smclab.model.result import Result, Samples
from smclab.run.interrupt import Interrupted
from smclab.run.measure import summarize
from smclab.run.worker import Runner


def measure_interleaved(
    runner: Runner,
    exps: Sequence[Experiment],
    host: dict[str, Any],
    rounds: int | None = None,
    rng: random.Random | None = None,
    progress: Callable[[int, int], None] | None = None,
    stop: Callable[[], int | None] | None = None,
) -> list[Result]:
    """Measure ``exps`` in interleaved rounds; one Result per experiment, in their order.

    ``rounds`` defaults to the largest ``repeats`` asked for. A point whose worker dies (or that
    errs) becomes an error Result and leaves the later rounds; the others go on. ``progress``
    gets (measurements done, measurements planned); ``stop`` is polled between measurements and
    a signal number it returns raises :class:`~smclab.run.interrupt.Interrupted`.
    """
    rng = rng or random.Random()
    series = f"{rng.getrandbits(48):012x}"
    n_rounds = rounds or max((e.repeats for e in exps), default=1)
    tsc_hz = host["tsc_hz"]
    total = len(exps) * (n_rounds + 1)
    done = 0
    errors: dict[int, str] = {}
    iterations: dict[int, int] = {}
    parts: dict[int, list[Samples]] = {i: [] for i in range(len(exps))}
    noise: dict[int, list[Noise]] = {i: [] for i in range(len(exps))}

    def one(i: int, exp: Experiment) -> Samples | None:
        nonlocal done
        if stop is not None and (signum := stop()) is not None:
            raise Interrupted(signum)
        got = runner.samples(exp, tsc_hz)
        done += 1
        if progress:
            progress(done, total)
        if isinstance(got, str):
            errors[i] = got
            return None
        noise[i].append(got[1])
        return got[0]

    # calibration (and warm-up): one repeat each, in a shuffled order; not part of any round
    for i in rng.sample(range(len(exps)), len(exps)):
        s = one(i, dataclasses.replace(exps[i], repeats=1))
        if s is not None:
            iterations[i] = s.iterations
    for _ in range(n_rounds):
        live = [i for i in iterations if i not in errors]
        for i in rng.sample(live, len(live)):
            fixed = dataclasses.replace(exps[i], iterations=iterations[i], repeats=1)
            s = one(i, fixed)
            if s is not None:
                parts[i].append(s)
    out = []
    for i, exp in enumerate(exps):
        if i in errors:
            out.append(Result(exp, host, error=errors[i]))
            continue
        ps = parts[i]
        merged = Samples(
            iterations[i],
            [t for p in ps for t in p.ticks],
            [c for p in ps for c in p.counts],
            ps[0].unavailable,
            ps[0].notes,
            round_sizes=[len(p.ticks) for p in ps],
            scales=[x for p in ps for x in p.scales],
        )
        result = summarize(exp, host, tsc_hz, merged, series)
        result.noise = Noise.combine(noise[i])
        out.append(result)
    return out
