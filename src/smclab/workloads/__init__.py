"""Workloads: one package per workload (see :class:`smclab.model.experiment.Workload`).

A workload package holds its knobs, validation, CPU needs and label (``spec``), its code
generator (``codegen``), its catalog variants (``catalog``) and its advice and search space
(``advise``), and registers itself once in its ``__init__``. The model reaches workloads only
through that registry (it loads this package on first use), so a package sits after
:mod:`smclab.codegen` in the data flow and before :mod:`smclab.run`.

Adding a workload: a new package here (and one line below), or a module outside smclab named
in ``$SMCLAB_WORKLOADS`` (see tests/test_toy_workload.py).
"""

# registration order: the seed first; jit-emit reads jit-block's knobs
# isort: off
from smclab.workloads import seed
from smclab.workloads import jit_block
from smclab.workloads import jit_emit
from smclab.workloads import patch
from smclab.workloads import relocate

# isort: on

__all__ = ["jit_block", "jit_emit", "patch", "relocate", "seed"]
