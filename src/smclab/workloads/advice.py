"""What a workload's catalog and advice are made of: its :class:`Variant` entries (named ways
to write code and run it), and a naive way, a floor, and candidate workarounds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smclab.model.experiment import Experiment


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
