"""The jit-emit workload: a JIT's assembler emits a block instruction by instruction, then calls it.

One package: its knobs, validation, CPU needs and label (:mod:`.spec`), its code generator
(:mod:`.codegen`), its catalog variants (:mod:`.catalog`) and its advice: naive way, floor and
the space advise searches (:mod:`.advise`), registered once here.
"""

from smclab.model.experiment import Workload, register
from smclab.workloads.jit_emit import advise, catalog, codegen, spec

WORKLOAD = register(
    Workload(
        "jit-emit",
        "a JIT's assembler emits a block instruction by instruction, then calls it",
        spec.KNOBS,
        spec.validate,
        spec.head,
        codegen.layout_for,
        codegen.build,
        reads=spec.READS,
        shown=("block", "strategy"),
        needs=spec.needs,
        variants=catalog.variants,
        advice=advise.SET,
    )
)
