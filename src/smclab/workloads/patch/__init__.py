"""The patch workload: code keeps running while a field of it is rewritten (inline caches, links).

One package: its knobs, validation, CPU needs and label (:mod:`.spec`), its code generator
(:mod:`.codegen`), its catalog variants (:mod:`.catalog`) and its advice: naive way, floor and
the space advise searches (:mod:`.advise`), registered once here.
"""

from smclab.model.experiment import Workload, register
from smclab.workloads.patch import advise, catalog, codegen, spec

WORKLOAD = register(
    Workload(
        "patch",
        "code keeps running while a field of it is rewritten (inline caches, links)",
        spec.KNOBS,
        spec.validate,
        spec.head,
        codegen.layout_for,
        codegen.build,
        shown=("patch_kind", "rate"),
        needs=spec.needs,
        cpus=spec.cpus,
        per_event=spec.iterations_per_patch,
        variants=catalog.variants,
        advice=advise.SET,
    )
)
