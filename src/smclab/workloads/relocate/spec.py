"""The relocate workload's knobs, validation and label: a chain of basic blocks, each copied
into a common region, then run (see :mod:`smclab.workloads.relocate.codegen`)."""

from __future__ import annotations

from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.model.knobs import Knob, check_choice

#: relocation schemes; inplace is the floor
SCHEMES = ("slot", "double", "ring", "trace", "inplace")
#: slots of the relocate ring
RING_SLOTS = 8

KNOBS = (
    Knob(
        "scheme",
        "slot",
        "choice",
        "relocate: where each block is copied before it runs: one slot, a double buffer,"
        " a ring written ahead, the whole trace ahead, or in place (never copied).",
        SCHEMES,
    ),
    Knob(
        "lead",
        2,
        "int",
        f"relocate ring: blocks copied ahead of the executing one (1..{RING_SLOTS - 1}).",
    ),
)


def head(exp: Experiment) -> str:
    return f"relocate {exp.scheme}" + (f" lead={exp.lead}" if exp.scheme == "ring" else "")


def validate(exp: Experiment) -> None:
    check_choice("scheme", exp.scheme, SCHEMES)
    if not 1 <= exp.lead < RING_SLOTS:
        raise SpecError(f"lead must be between 1 and {RING_SLOTS - 1} blocks, got {exp.lead}")
    if exp.scheme != "ring" and exp.lead != KNOBS[1].default:
        raise SpecError("lead (the write-ahead distance) only applies to scheme 'ring'")
