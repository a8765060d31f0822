"""smclab: a laboratory for self-modifying and JIT-written machine code on x86-64.

The public API (the CLI is a thin layer over it)::

    from smclab import Experiment, Session, compare_rounds

    with Session("results.sqlite") as s:
        smc, far = s.run_interleaved([Experiment(), Experiment(store="far")], "api")
    print(compare_rounds(smc.round_values(), far.round_values()).ratio)
"""

from smclab._version import __version__
from smclab.codegen import Program, build
from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.model.noise import Noise
from smclab.model.result import MeasurementError, Result, Stats, StoredResult
from smclab.model.rounds import Comparison, compare_rounds
from smclab.store import ResultStore, StoreError, open_store
from smclab.suites.advise import Advice, run_advise
from smclab.suites.catalog import VARIANTS
from smclab.suites.diagnose import Diagnosis, run_diagnose
from smclab.suites.seed import SeedTable, run_seed
from smclab.suites.session import Session
from smclab.suites.sweep import Grid, Plan, plan, run_sweep

__all__ = [
    "VARIANTS",
    "Advice",
    "Comparison",
    "Diagnosis",
    "Experiment",
    "Grid",
    "MeasurementError",
    "Noise",
    "Plan",
    "Program",
    "Result",
    "ResultStore",
    "SeedTable",
    "Session",
    "SpecError",
    "Stats",
    "StoreError",
    "StoredResult",
    "__version__",
    "build",
    "compare_rounds",
    "open_store",
    "plan",
    "run_advise",
    "run_diagnose",
    "run_seed",
    "run_sweep",
]
