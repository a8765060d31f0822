"""The relocate workload: a chain of basic blocks, each copied into a common region before it runs.

One package: its knobs, validation, CPU needs and label (:mod:`.spec`), its code generator
(:mod:`.codegen`), its catalog variants (:mod:`.catalog`) and its advice: naive way, floor and
the space advise searches (:mod:`.advise`), registered once here.
"""

from smclab.model.experiment import Workload, register
from smclab.workloads.relocate import advise, catalog, codegen, spec

WORKLOAD = register(
    Workload(
        "relocate",
        "a chain of basic blocks, each copied into a common region before it runs",
        spec.KNOBS,
        spec.validate,
        spec.head,
        codegen.layout_for,
        codegen.build,
        shown=("scheme", "lead"),
        variants=catalog.variants,
        advice=advise.SET,
    )
)
