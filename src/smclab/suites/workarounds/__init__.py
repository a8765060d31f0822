"""Workarounds per workload, for `smclab advise`: one module per workload, one line here."""

from smclab.suites.workarounds import jit_block, jit_emit, patch, relocate, seed
from smclab.suites.workarounds.base import Candidate, CandidateSet

SETS: dict[str, CandidateSet] = {
    s.workload: s for s in (seed.SET, jit_block.SET, jit_emit.SET, patch.SET, relocate.SET)
}

__all__ = ["SETS", "Candidate", "CandidateSet"]
