"""What a workload's advice is made of: a naive way, a floor, and candidate workarounds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smclab.model.experiment import Experiment


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
