"""smclab: a laboratory for self-modifying and JIT-written machine code on x86-64.

The public API (the CLI is a thin layer over it)::

    from smclab import Experiment, Session, compare_rounds

    with Session("results.sqlite") as s:
        smc, far = s.run_interleaved([Experiment(), Experiment(store="far")], "api")
    print(compare_rounds(smc.round_values(), far.round_values()).ratio)
"""

from smclab._version import __version__

#: typing.TYPE_CHECKING without importing typing (~9 ms): `smclab` and `python -m smclab` load
#: this package before smclab.__main__ can catch a Ctrl-C, so it imports nothing it can avoid
TYPE_CHECKING = False
if TYPE_CHECKING:  # what type checkers see; at run time each name loads on first use
    from typing import Any

    from smclab.codegen import Program, build
    from smclab.errors import SpecError
    from smclab.model.experiment import Experiment, Workload, register
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

#: public name -> the module defining it. Loaded on first use, so importing one submodule (the
#: worker imports smclab.run.worker) does not load every suite and store backend.
_EXPORTS = {
    "Advice": "smclab.suites.advise",
    "build": "smclab.codegen",
    "compare_rounds": "smclab.model.rounds",
    "Comparison": "smclab.model.rounds",
    "Diagnosis": "smclab.suites.diagnose",
    "Experiment": "smclab.model.experiment",
    "Grid": "smclab.suites.sweep",
    "MeasurementError": "smclab.model.result",
    "Noise": "smclab.model.noise",
    "open_store": "smclab.store",
    "Plan": "smclab.suites.sweep",
    "plan": "smclab.suites.sweep",
    "Program": "smclab.codegen",
    "Result": "smclab.model.result",
    "ResultStore": "smclab.store",
    "run_advise": "smclab.suites.advise",
    "run_diagnose": "smclab.suites.diagnose",
    "run_seed": "smclab.suites.seed",
    "run_sweep": "smclab.suites.sweep",
    "SeedTable": "smclab.suites.seed",
    "Session": "smclab.suites.session",
    "SpecError": "smclab.errors",
    "Stats": "smclab.model.result",
    "StoredResult": "smclab.model.result",
    "StoreError": "smclab.store",
    "VARIANTS": "smclab.suites.catalog",
    "Workload": "smclab.model.experiment",
    "register": "smclab.model.experiment",
}


def __getattr__(name: str) -> "Any":
    if name not in _EXPORTS:
        raise AttributeError(f"module 'smclab' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


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
    "Workload",
    "__version__",
    "build",
    "compare_rounds",
    "open_store",
    "plan",
    "register",
    "run_advise",
    "run_diagnose",
    "run_seed",
    "run_sweep",
]
