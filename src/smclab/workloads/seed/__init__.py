"""The seed workload: the seed's loop: copy a payload into an executable buffer, call it, move on.

One package: its knobs, validation, CPU needs and label (:mod:`.spec`), its code generator
(:mod:`.codegen`), its catalog variants (:mod:`.catalog`) and its advice: naive way, floor,
candidates and, for the search, its space (:mod:`.advise`), registered once here.
"""

from smclab.model.experiment import Workload, register
from smclab.workloads.seed import advise, catalog, codegen, spec

WORKLOAD = register(
    Workload(
        "seed",
        "the seed's loop: copy a payload into an executable buffer, call it, move on",
        spec.KNOBS,
        spec.validate,
        spec.head,
        codegen.layout_for,
        codegen.build,
        shown=("buffer", "step", "asm", "asm_name"),
        needs=spec.needs,
        cpus=spec.cpus,
        variants=catalog.variants,
        advice=advise.SET,
    )
)
