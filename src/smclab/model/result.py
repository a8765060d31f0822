"""Results: raw samples, their statistics, counter values, one experiment's outcome, and a
stored result as a store gives it back."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from smclab.model.experiment import Experiment
from smclab.model.noise import Noise
from smclab.model.rounds import Mode

NOISY_SPREAD = 0.05
#: the format of every JSON output (``run``, ``results``, ``sweep``, ``diagnose``, ``advise``,
#: ...): its top-level ``format`` key. Adding a key keeps it; renaming, removing or changing the
#: meaning of one moves it (``smclab-result/3``), with the change and the way to read the old
#: form in CHANGELOG.md. /1 was the unversioned form of smclab 0.1 (a list at the top of
#: ``results --json`` and ``catalog --json``; every knob of every workload in an experiment).
FORMAT = "smclab-result/2"


def versioned(data: dict[str, Any]) -> dict[str, Any]:
    """A JSON output: ``data`` under the :data:`FORMAT` key."""
    return {"format": FORMAT, **data}


class MeasurementError(RuntimeError):
    """A measurement a suite depends on failed (the CLI exits 1 with this message)."""


@dataclass
class Samples:
    """Raw output of one experiment's measurement (what the worker sends back)."""

    iterations: int
    ticks: list[int]
    counts: list[dict[str, float | None]]
    unavailable: dict[str, str]
    #: what an event really counts where it is a proxy or an unverified encoding
    notes: dict[str, str] = field(default_factory=dict)
    #: how many of ``ticks`` each interleaved round contributed (empty: one round)
    round_sizes: list[int] = field(default_factory=list)
    #: per repeat, the counter group's multiplexing scale (time enabled / time running; the
    #: counts are already multiplied by it; None: no group ran)
    scales: list[float | None] = field(default_factory=list)


@dataclass(frozen=True)
class Stats:
    """Median, minimum and spread (IQR/median) of per-iteration values. Measured in
    interleaved rounds, it also keeps one value per round and the id of the interleaved run
    (``series``): two Stats of one series are compared round by round (see model/stats)."""

    median: float
    min: float
    spread: float  # IQR / median
    rounds: tuple[float, ...] = field(default=(), compare=False)
    series: str | None = field(default=None, compare=False)

    @property
    def noisy(self) -> bool:
        return self.spread > NOISY_SPREAD

    def to_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.min, "spread": self.spread}

    @classmethod
    def of(
        cls, values: list[float], rounds: tuple[float, ...] = (), series: str | None = None
    ) -> Stats:
        med = statistics.median(values)
        if len(values) >= 2:
            q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        else:
            q1 = q3 = values[0]
        return cls(med, min(values), (q3 - q1) / med if med else 0.0, rounds, series)


@dataclass(frozen=True)
class CounterValue:
    per_iter: float | None
    reason: str | None = None  # why there is no value
    note: str | None = None  # what the value is, where the event is only a proxy
    #: the largest multiplexing scale of its repeats (1.0: counted all the time; 2.0: half of
    #: it, the count extrapolated); None: not recorded
    scale: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_iter": self.per_iter,
            "reason": self.reason,
            "note": self.note,
            "scale": self.scale,
        }


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
    #: ticks per iteration of every repeat, grouped by the round it ran in (a single
    #: measurement is one round; an interleaved comparison has one group per round)
    rounds: list[list[float]] = field(default_factory=list)
    #: clusters of the repeats (one entry when unimodal)
    modes: list[Mode] = field(default_factory=list)
    #: what the host did while this result was measured
    noise: Noise | None = None

    @property
    def multimodal(self) -> bool:
        return len(self.modes) > 1

    def round_values(self) -> list[float]:
        """One value per round (the median of its repeats): what comparisons pair up."""
        return [statistics.median(r) for r in self.rounds if r]

    @property
    def ticks_per_patch(self) -> float | None:
        """The patch workload: ticks per iteration x the iterations one patch is spread over
        (what one patch and the iterations it covers cost the executing side)."""
        every = self.experiment.iterations_per_patch()
        if every is None or self.ticks_per_iter is None:
            return None
        return self.ticks_per_iter.median * every

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of a result, fresh or stored (:meth:`StoredResult.to_dict`)."""
        return result_json(
            self.experiment.to_dict(),
            self.experiment,
            self.host,
            self.iterations,
            self.ticks_per_iter,
            self.ns_per_iter,
            self.counters,
            self.error,
            self.rounds,
            self.modes,
            self.noise,
        )


def result_json(
    experiment_data: dict[str, Any],
    experiment: Experiment | None,
    host: dict[str, Any],
    iterations: int | None,
    ticks: Stats | None,
    ns: Stats | None,
    counters: dict[str, CounterValue],
    error: str | None,
    rounds: Iterable[Iterable[float]],
    modes: Iterable[Mode],
    noise: Noise | None,
) -> dict[str, Any]:
    """The one JSON form of a measured result (``run --json``, a stored result's)."""
    every = experiment.iterations_per_patch() if experiment is not None else None
    per_patch = ticks.median * every if every is not None and ticks is not None else None
    return {
        "experiment": experiment_data,
        "host": host,
        "iterations": iterations,
        "ticks_per_iter": ticks.to_dict() if ticks else None,
        "ns_per_iter": ns.to_dict() if ns else None,
        "counters": {k: v.to_dict() for k, v in counters.items()},
        "error": error,
        **detail_to_json(rounds, modes, noise),
        **({"ticks_per_patch": per_patch} if per_patch is not None else {}),
    }


#: what a stored result's statistics are read by: ticks (the host's TSC) or ns per iteration
Metric = Literal["ticks", "ns"]


@dataclass(frozen=True)
class StoredResult:
    """One stored result as a store gives it back (the columns of a row, decoded).

    ``experiment`` is None when the stored experiment no longer parses (a row written by
    another smclab version); ``experiment_data`` always holds it as it was stored.
    """

    id: int
    created: float
    host_id: int
    host: dict[str, Any]  # the host's facts
    suite: str
    name: str | None
    sweep_id: str | None
    exp_key: str
    experiment: Experiment | None
    experiment_data: dict[str, Any]
    iterations: int | None
    raw_ticks: tuple[int, ...]
    ticks: Stats | None
    ns: Stats | None
    counters: dict[str, CounterValue]
    error: str | None
    version: str
    rounds: tuple[tuple[float, ...], ...] = ()  # as Result.rounds (empty before schema 2)
    modes: tuple[Mode, ...] = ()
    noise: Noise | None = None

    def round_values(self) -> list[float]:
        """One value per round (the median of its repeats), as :meth:`Result.round_values`."""
        return [statistics.median(r) for r in self.rounds if r]

    @property
    def label(self) -> str:
        if self.experiment is not None:
            return self.experiment.label()
        return self.name or self.exp_key

    def knob_key(self) -> str:
        """:meth:`Experiment.knob_key` (the exp_key if the experiment no longer parses)."""
        return self.experiment.knob_key() if self.experiment is not None else self.exp_key

    def knob(self, name: str) -> Any:
        """The stored value of Experiment field ``name`` (None if it was not stored)."""
        return self.experiment_data.get(name)

    def stats(self, metric: Metric) -> Stats | None:
        return self.ticks if metric == "ticks" else self.ns

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the result as it was measured: the same as :meth:`Result.to_dict`
        of the fresh result (the experiment as it was stored)."""
        return result_json(
            self.experiment.to_dict() if self.experiment is not None else self.experiment_data,
            self.experiment,
            self.host,
            self.iterations,
            self.ticks,
            self.ns,
            self.counters,
            self.error,
            self.rounds,
            self.modes,
            self.noise,
        )


def latest_results(
    results: Iterable[StoredResult], key: Callable[[StoredResult], Hashable], metric: Metric
) -> dict[Any, StoredResult]:
    """The latest (by ``created``) stored result per ``key(result)``, skipping errors and
    results without ``metric``; a key keeps the position of its first result."""
    latest: dict[Any, StoredResult] = {}
    for r in results:
        if r.error or r.stats(metric) is None:
            continue
        k = key(r)
        old = latest.get(k)
        if old is None or r.created >= old.created:
            latest[k] = r
    return latest


Detail = tuple[tuple[tuple[float, ...], ...], tuple[Mode, ...], Noise | None]


def detail_to_json(
    rounds: Iterable[Iterable[float]], modes: Iterable[Mode], noise: Noise | None
) -> dict[str, Any]:
    """The JSON form of what a result knows beyond its statistics (one place: ``run --json``
    and the store both use it)."""
    return {
        "rounds": [list(r) for r in rounds],
        "modes": [m.to_dict() for m in modes],
        "noise": noise.to_dict() if noise else None,
    }


def detail_from_json(data: dict[str, Any] | None) -> Detail:
    """Rounds, modes and noise from :func:`detail_to_json`'s form (empty when absent)."""
    data = data or {}
    noise = data.get("noise")
    return (
        tuple(tuple(float(x) for x in r) for r in data.get("rounds") or ()),
        tuple(Mode(float(m["value"]), int(m["count"])) for m in data.get("modes") or ()),
        Noise(**noise) if noise else None,
    )
