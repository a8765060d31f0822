"""The jit-block workload: a JIT writes a block of code with a write strategy, then calls it.

One package: its knobs, validation, CPU needs and label (:mod:`.spec`), its code generator
(:mod:`.codegen`), its catalog variants (:mod:`.catalog`) and its advice: naive way, floor and
the space advise searches (:mod:`.advise`), registered once here.
"""

from smclab.model.experiment import Workload, register
from smclab.workloads.jit_block import advise, catalog, codegen, spec

WORKLOAD = register(
    Workload(
        "jit-block",
        "a JIT writes a block of code with a write strategy, then calls it",
        spec.KNOBS,
        spec.validate,
        spec.head,
        codegen.layout_for,
        codegen.build,
        shown=("block", "strategy"),
        needs=spec.needs,
        variants=catalog.variants,
        advice=advise.SET,
    )
)
