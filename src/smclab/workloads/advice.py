"""What a workload's catalog and advice are made of: its :class:`Variant` entries (named ways
to write code and run it), and a naive way, a floor, and candidate workarounds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.model.knobs import format_size
from smclab.model.search import Knob, Point, Space


@dataclass(frozen=True)
class Variant:
    id: str
    workload: str
    summary: str
    knobs: dict[str, Any] = field(default_factory=dict)
    expects: tuple[str, ...] = ()  # text the listing of its generated code shows
    #: mnemonics the listing of its source bytes (payload / block template) shows
    source_expects: tuple[str, ...] = ()

    def experiment(self, **settings: Any) -> Experiment:
        return Experiment(workload=self.workload, **self.knobs, **settings)

    @property
    def features(self) -> tuple[str, ...]:
        return self.experiment().required_flags()

    def missing(self, cpu_flags: frozenset[str] | set[str]) -> list[str]:
        return [f for f in self.features if f not in cpu_flags]

    def reason(
        self, cpu_flags: frozenset[str] | set[str], no_second_cpu: str | None = None
    ) -> str | None:
        """Why a host cannot run this variant (None: it can): its CPU lacks one of its flags
        (``cpu_flags`` has them), or it needs a second CPU and ``no_second_cpu`` says why the
        host has none (:func:`smclab.run.machine.second_cpu_missing`)."""
        cpus = no_second_cpu if self.experiment().cpus_needed() > 1 else None
        return missing_reason(self.missing(cpu_flags)) or cpus

    def to_dict(
        self, cpu_flags: frozenset[str] | set[str], no_second_cpu: str | None = None
    ) -> dict[str, Any]:
        """The ``smclab catalog --json`` entry, for a host (see :meth:`reason`)."""
        return {
            "id": self.id,
            "workload": self.workload,
            "summary": self.summary,
            "knobs": self.knobs,
            "features": list(self.features),
            "runnable": self.reason(cpu_flags, no_second_cpu) is None,
            "reason": self.reason(cpu_flags, no_second_cpu),
        }


def missing_reason(missing: list[str]) -> str | None:
    return f"cpu lacks {', '.join(missing)}" if missing else None


@dataclass(frozen=True)
class Candidate:
    id: str
    knobs: dict[str, Any]
    fresh: bool = True  # executes freshly written code every iteration


@dataclass(frozen=True)
class CandidateSet:
    """One workload's advice: ``naive`` (what a user writes first), ``floor`` (the same work
    without executing what was written), what advise searches on a host (its facts given):
    the workload's declared ``space``, or else its ``candidates`` (a plug-in's hand-made list,
    searched as one unordered knob), and the one-line how-to of an experiment (relative to the
    naive one, given the host facts)."""

    workload: str
    naive: Candidate
    floor: Candidate
    #: a workload without a declared space: its candidates for this host (the fallback)
    candidates: Callable[[dict[str, Any]], list[Candidate]] | None
    how_to: Callable[[Experiment, Experiment, dict[str, Any]], str]
    #: what the floor is, for the advice's legend
    floor_note: str = "no write"
    #: the space advise searches on a host: the workload's knobs and ranges, its validity the
    #: experiment's own validation and the same work as the naive way (see ``alternatives``)
    space: Callable[[dict[str, Any]], Space] | None = None
    #: a fresh-code point's controls by name ('data': the same code storing into data,
    #: 'limit': the same calls to code never modified), as knob changes
    controls: Callable[[dict[str, Any]], dict[str, dict[str, Any]]] | None = None
    #: a point's name in the advice, from its knob values (None: :func:`_point_id`)
    name: Callable[[dict[str, Any]], str] | None = None
    #: ways that do not do the naive way's work (less of it, or the same without what makes it
    #: safe): outside the space, so never ranked against its points nor recommended; measured
    #: in the confirmation beside the naive way and the floor and reported as such (fresh=False)
    alternatives: Callable[[dict[str, Any]], list[Candidate]] | None = None

    def search_space(self, host: dict[str, Any]) -> tuple[Space, Callable[[Point], Candidate]]:
        """The space advise searches on ``host`` and how a point becomes a candidate."""
        if self.space is not None:
            space = self.space(host)
            name = self.name

            def declared(p: Point) -> Candidate:
                knobs = space.values(p)
                return Candidate(name(knobs) if name else _point_id(p), knobs)

            return space, declared
        cands = {c.id: c for c in self.listed(host)}
        listed = Space(
            f"{self.workload}-candidates", (Knob("candidate", tuple(cands), ordered=False),)
        )
        return listed, lambda p: cands[dict(p)["candidate"]]

    def listed(self, host: dict[str, Any]) -> list[Candidate]:
        """The named candidates other tools read by id (which stored names execute fresh
        code): the fallback list, else the alternatives (every point of a space does)."""
        if self.candidates is not None:
            return self.candidates(host)
        return self.alternatives(host) if self.alternatives else []


def experiment_ok(values: dict[str, Any]) -> bool:
    """Whether ``values`` make an experiment (the workload's own validation decides)."""
    try:
        Experiment(**values)
    except SpecError:
        return False
    return True


#: the order knobs are named in a point's id (the rest after them, alphabetically)
ID_ORDER = ("buffer", "ahead", "call", "copy", "batch", "prefetch", "evict", "barrier")
#: what a knob's value is called in an id (the value alone where missing)
ID_NAMES = {"buffer": "ring-{}", "ahead": "ahead-{}", "batch": "batch-{}"}


def _point_id(p: Point) -> str:
    """A short id of a point: its values in :data:`ID_ORDER`, sizes in K/M, defaults left out
    (the call kind always named)."""
    values = dict(p)
    order = [k for k in ID_ORDER if k in values] + sorted(k for k in values if k not in ID_ORDER)
    parts = []
    for k in order:
        v = values[k]
        if v in ("none", 1, 0) and k not in ("call",):
            continue
        shown = format_size(v) if k in ("buffer", "ahead") else str(v)
        parts.append(ID_NAMES.get(k, "{}").format(shown))
    return "-".join(parts)
