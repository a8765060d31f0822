"""Workarounds per workload, for `smclab advise`: one module per workload, one line here."""

from smclab.workloads.advice import Candidate, CandidateSet
from smclab.workloads.jit_block import advise as jit_block
from smclab.workloads.jit_emit import advise as jit_emit
from smclab.workloads.patch import advise as patch
from smclab.workloads.relocate import advise as relocate
from smclab.workloads.seed import advise as seed

SETS: dict[str, CandidateSet] = {
    s.workload: s for s in (seed.SET, jit_block.SET, jit_emit.SET, patch.SET, relocate.SET)
}

__all__ = ["SETS", "Candidate", "CandidateSet"]
