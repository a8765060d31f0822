"""What every probe module and the runner share: planned points, measured points, findings,
results, and the declarative description of a probe (:class:`ProbeSpec`; its plot kinds are in
:mod:`.plot`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeGuard

from smclab.model.experiment import Experiment
from smclab.model.result import Result, Stats
from smclab.model.rounds import MIN_EFFECT
from smclab.model.stats import comparison, differs
from smclab.suites.diagnose.plot import Plot

Host = dict[str, Any]


@dataclass(frozen=True)
class PlanPoint:
    label: str
    x: float | None
    group: str
    knobs: dict[str, Any]


def pp(label: str, x: float | None, group: str, **knobs: Any) -> PlanPoint:
    """A planned point: ``knobs`` are Experiment fields (the run's settings are added)."""
    return PlanPoint(label, x, group, knobs)


@dataclass(frozen=True)
class Probe:
    """A probe as planned for one run: its points, and why it cannot run here (if so)."""

    name: str
    title: str
    points: tuple[PlanPoint, ...]
    needs: str | None = None  # a reason it cannot run on this host (then it is skipped)


@dataclass
class Point:
    """A planned point and its measurement."""

    plan: PlanPoint
    experiment: Experiment
    ticks: Stats | None
    ns: Stats | None
    per_iter: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None
    notes: dict[str, str] = field(default_factory=dict)  # counters that are only proxies

    @classmethod
    def of(cls, plan: PlanPoint, r: Result) -> Point:
        counts = {k: v.per_iter for k, v in r.counters.items()}
        notes = {k: v.note for k, v in r.counters.items() if v.note}
        return cls(plan, r.experiment, r.ticks_per_iter, r.ns_per_iter, counts, r.error, notes)


class Measured(Protocol):
    """A :class:`Point` measured without error (:func:`ok` tells): its statistics are set."""

    @property
    def plan(self) -> PlanPoint: ...
    @property
    def experiment(self) -> Experiment: ...
    @property
    def ticks(self) -> Stats: ...
    @property
    def ns(self) -> Stats: ...
    @property
    def per_iter(self) -> dict[str, float | None]: ...
    @property
    def notes(self) -> dict[str, str]: ...


def ok(p: Point | None) -> TypeGuard[Measured]:
    """The point exists and was measured without error."""
    return p is not None and p.ticks is not None and p.ns is not None and p.error is None


def measured(points: Iterable[Point]) -> list[Measured]:
    """The points measured without error, in order."""
    return [p for p in points if ok(p)]


def by_label(points: Iterable[Point]) -> dict[str, Point]:
    return {p.plan.label: p for p in points}


def labelled(points: Iterable[Point]) -> dict[str, Measured]:
    """Label -> point (the last of a label), for the points measured without error."""
    return {label: p for label, p in by_label(points).items() if ok(p)}


def settled(a: Stats, b: Stats) -> bool:
    """The rounds settle how ``a`` compares with ``b``: the interval of the median per-round
    ratio lies wholly beyond MIN_EFFECT on one side, or wholly within it (no difference). A
    conclusion drawn from an unsettled comparison may flip between runs."""
    c = comparison(a, b)
    if c is None:
        return False
    return c.low > 1 + MIN_EFFECT or c.high < 1 - MIN_EFFECT or c.same


def verdict(a: Stats, b: Stats) -> str:
    """How ``a`` compares with ``b`` as a finding may state it: "more" or "less" where the
    rounds settle a difference, "same" where they settle that there is none, "unsettled" where
    they settle neither (a conclusion either way could flip between runs: say so instead).
    Points without paired rounds are decided by the medians-and-spreads rule."""
    c = comparison(a, b)
    if c is None:
        return ("more" if a.median > b.median else "less") if differs(a, b) else "same"
    if c.differs and settled(a, b):
        return "more" if c.ratio > 1 else "less"
    return "same" if c.same else "unsettled"


def in_words(names: Sequence[str], last: str = "and") -> str:
    """``names`` as a finding says them: "a", "a and b", "a, b and c" (``last``: and/or)."""
    return names[-1] if len(names) < 2 else f"{', '.join(names[:-1])} {last} {names[-1]}"


def unsettled(pairs: Iterable[tuple[str, Stats, Stats]]) -> str | None:
    """Why a finding deciding on ``pairs`` (name, a, b) is unstable, or None."""
    names = [name for name, a, b in pairs if not settled(a, b)]
    if not names:
        return None
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"the rounds do not settle {shown}: the conclusion may change between runs"


@dataclass
class Finding:
    probe: str
    text: str
    confidence: str  # high | medium | low
    numbers: dict[str, Any]
    #: why the conclusion may change between runs (None: the effect sizes settle it)
    unstable: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "text": self.text,
            "confidence": self.confidence,
            "numbers": self.numbers,
            "unstable": self.unstable,
        }


@dataclass(frozen=True)
class Fact:
    """One typed fact a probe's findings state (the atlas's cells): ``value`` is taken from a
    finding's numbers (the values its text is rendered from), so a fact and the printed finding
    cannot disagree; ``evidence`` names the probe's points behind it (their labels)."""

    name: str  # a key of the atlas's catalogue, e.g. "ticks_per_penalty"
    value: Any  # float | int | str | bool | list, as the finding states it
    unit: str  # "ticks", "ns", "bytes", "x", "" (a category)
    confidence: str  # the finding's: high | medium | low
    probe: str
    evidence: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "unit": self.unit,
            "confidence": self.confidence,
            "probe": self.probe,
            "evidence": list(self.evidence),
        }


def from_numbers(
    f: Finding, keys: dict[str, tuple[str, str]], evidence: Iterable[str] = ()
) -> list[Fact]:
    """Facts from finding ``f``: fact name -> (key of its numbers, unit); a key the finding
    has no value for gives no fact."""
    ev = tuple(evidence)
    return [
        Fact(name, f.numbers[key], unit, f.confidence, f.probe, ev)
        for name, (key, unit) in keys.items()
        if f.numbers.get(key) is not None
    ]


def ns_fact(name: str, ticks: Fact, host: Host) -> list[Fact]:
    """A ticks fact in ns at the host's TSC rate (none without the rate)."""
    hz = host.get("tsc_hz")
    if not hz or not isinstance(ticks.value, int | float):
        return []
    ns = ticks.value / hz * 1e9
    return [Fact(name, ns, "ns", ticks.confidence, ticks.probe, ticks.evidence)]


def labels(
    points: Iterable[Point], keep: Callable[[str], bool] = lambda _: True
) -> tuple[str, ...]:
    """The labels of the measured points ``keep`` accepts (a fact's evidence)."""
    return tuple(p.plan.label for p in measured(points) if keep(p.plan.label))


# --- what a probe module declares ------------------------------------------------------------

FindingsFn = Callable[[list[Point], Host], list[Finding]]
#: a probe's facts, read from its findings (never recomputed from the points)
FactsFn = Callable[[list[Finding], list[Point], Host], list[Fact]]


def runs_anywhere(cpus: int) -> str | None:
    return None


def no_facts(found: list[Finding], points: list[Point], host: Host) -> list[Fact]:
    return []


@dataclass(frozen=True)
class RowsProbe:
    """A probe that measures something other than experiments (counts: ``stale_code``).

    ``measure(session, quick, budget, sweep_id, observer)`` runs it and stores it under
    ``sweep_id``, returning (its rows, interrupted); ``findings(rows, host)`` reads the rows.
    """

    measure: Callable[..., tuple[list[dict[str, Any]], bool]]
    findings: Callable[[list[dict[str, Any]], Host], list[Finding]]
    #: a stored run's (rows, host facts) from its sweep's grid (None: it cannot be read back)
    stored: Callable[[dict[str, list[Any]]], tuple[list[dict[str, Any]], Host]] | None = None


@dataclass(frozen=True)
class ProbeSpec:
    """One probe, as its module declares it in ``PROBE`` (its place in ``ORDER``).

    ``points(quick)`` plans the points (``quick`` trims grids, not questions); ``findings``
    turns measured points into findings (pure: same points, same findings); ``plot`` says
    how the HTML report draws it; ``needs(cpus)`` a reason it cannot run on this host.
    """

    name: str
    title: str
    points: Callable[[bool], Sequence[PlanPoint]]
    findings: FindingsFn
    plot: Plot
    needs: Callable[[int], str | None] = runs_anywhere
    rows: RowsProbe | None = None  # set: the probe measures itself (no points)
    #: the typed facts its findings state (the atlas): read from the findings' numbers
    facts: FactsFn = no_facts
    #: the points as planned on the host whose facts are given (None: ``points(quick)``, the
    #: same on every host); used to read a stored run of another host back
    planned_for: Callable[[Host, bool], Sequence[PlanPoint]] | None = None

    def plan(self, quick: bool, cpus: int) -> Probe:
        return Probe(self.name, self.title, tuple(self.points(quick)), self.needs(cpus))

    def planned(self, host: Host, quick: bool) -> Sequence[PlanPoint]:
        """The points as planned on ``host`` (whose facts are given)."""
        return self.planned_for(host, quick) if self.planned_for else self.points(quick)


# --- results -----------------------------------------------------------------------------------


@dataclass
class ProbeResult:
    probe: Probe
    points: list[Point]
    sweep_id: str | None
    skipped: str | None = None  # why the probe did not run
    rows: list[dict[str, Any]] = field(default_factory=list)  # a RowsProbe's measurements

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.probe.name,
            "title": self.probe.title,
            "sweep_id": self.sweep_id,
            "skipped": self.skipped,
            "rows": self.rows,
            "points": [
                {
                    "label": p.plan.label,
                    "x": p.plan.x,
                    "group": p.plan.group,
                    "experiment": p.experiment.to_dict(),
                    "ticks_per_iter": p.ticks.to_dict() if p.ticks else None,
                    "ns_per_iter": p.ns.to_dict() if p.ns else None,
                    "counters": p.per_iter,
                    "error": p.error,
                }
                for p in self.points
            ],
        }


@dataclass
class Diagnosis:
    host: Host
    run_id: str
    quick: bool
    probes: list[ProbeResult]
    findings: list[Finding]
    seconds: float
    rounds: int = 0  # interleaved rounds per point (0: not recorded)
    #: the findings' predictions checked against measured points (:mod:`.consistency`)
    checks: list[Any] = field(default_factory=list)

    @property
    def rounds_text(self) -> str:
        """`` N rounds`` for the run's summary line (empty when not recorded)."""
        return f" {self.rounds} rounds" if self.rounds else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "run_id": self.run_id,
            "quick": self.quick,
            "rounds": self.rounds,
            "seconds": self.seconds,
            "findings": [f.to_dict() for f in self.findings],
            "checks": [c.to_dict() for c in self.checks],
            "probes": [p.to_dict() for p in self.probes],
        }
