"""Workarounds per workload, for `smclab advise`: each workload's advice (its ``advise``
module), read from the workload registry."""

from collections.abc import Iterator, Mapping

from smclab.model.experiment import workloads
from smclab.workloads.advice import Candidate, CandidateSet


class _Sets(Mapping[str, CandidateSet]):
    """workload -> its advice, read from the registry when used (a workload registered later
    is in it); workloads without advice are left out."""

    def _read(self) -> dict[str, CandidateSet]:
        return {n: w.advice for n, w in workloads().items() if w.advice is not None}

    def __getitem__(self, key: str) -> CandidateSet:
        return self._read()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())


SETS: Mapping[str, CandidateSet] = _Sets()

__all__ = ["SETS", "Candidate", "CandidateSet"]
