"""What a workload's catalog and advice are made of: its :class:`Variant` entries (named ways
to write code and run it), and a naive way, a floor, and candidate workarounds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    without executing what was written), the candidates for this host (its facts given), and
    the one-line how-to of an experiment (relative to the naive one, given the host facts)."""

    workload: str
    naive: Candidate
    floor: Candidate
    candidates: Callable[[dict[str, Any]], list[Candidate]]
    how_to: Callable[[Experiment, Experiment, dict[str, Any]], str]
    #: what the floor is, for the advice's legend
    floor_note: str = "no write"
    #: the space advise searches on a host (None: the candidates, as one unordered knob).
    #: A workload declares its knobs and ranges here (the seed: workloads/seed/advise.py,
    #: seed_space); jit-block and jit-emit search their candidate lists until theirs (with
    #: the W^X strategies as values of their strategy knob) is declared
    space: Callable[[dict[str, Any]], Space] | None = None
    #: a fresh-code point's controls by name ('data': the same code storing into data,
    #: 'limit': the same calls to code never modified), as knob changes
    controls: Callable[[dict[str, Any]], dict[str, dict[str, Any]]] | None = None

    def search_space(self, host: dict[str, Any]) -> tuple[Space, Callable[[Point], Candidate]]:
        """The space advise searches on ``host`` and how a point becomes a candidate."""
        if self.space is not None:
            space = self.space(host)

            def declared(p: Point) -> Candidate:
                knobs = space.values(p)
                return Candidate(_point_id(p), knobs)

            return space, declared
        cands = {c.id: c for c in self.candidates(host)}
        listed = Space(
            f"{self.workload}-candidates", (Knob("candidate", tuple(cands), ordered=False),)
        )
        return listed, lambda p: cands[dict(p)["candidate"]]


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
