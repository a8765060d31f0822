"""Code generation: an :class:`~smclab.model.experiment.Experiment` becomes machine code (iced-x86).

The generated function has the C signature ``uint64_t run(uint64_t iterations)``: it runs the
experiment's loop ``iterations`` times between two ``lfence; rdtsc`` and returns the tick
delta, so everything outside the loop (the Python call) is outside the measured interval.

What the workloads share (layout, program, timed frame) lives in :mod:`.program`; each workload's
own generator is in its package (``smclab.workloads.<name>.codegen``, with ``layout_for`` and
``build``), reached through the workload registry under the name the experiment's ``workload``
knob uses.
"""

from __future__ import annotations

from smclab.codegen.program import (
    CODE_ALIGN,
    FAR_GAP,
    GAP,
    MAX_CODE,
    NOMINAL_BASE,
    PAGE,
    Layout,
    Program,
    Section,
    align,
    build_rdtsc,
)
from smclab.model.experiment import Experiment

__all__ = [
    "FAR_GAP",
    "GAP",
    "NOMINAL_BASE",
    "PAGE",
    "Layout",
    "Program",
    "Section",
    "build",
    "build_rdtsc",
    "layout_for",
]


def layout_for(exp: Experiment, base: int = NOMINAL_BASE) -> Layout:
    """The experiment's reservation; the code part is sized from a trial encoding (the code's
    length does not depend on where it is laid out: every address in it is rel32 or imm64)."""
    lay: Layout = exp.spec.layout_for(exp, base, _code_size(exp))
    return lay


#: code reservations by knob key (see :func:`_code_size`)
_SIZES: dict[str, int] = {}


def _code_size(exp: Experiment) -> int:
    """The code reservation of ``exp``, remembered by its knobs (a worker measuring one
    experiment round after round encodes it once for its size: rings of 10^4 slots)."""
    key = exp.knob_key()
    if key not in _SIZES:
        w = exp.spec
        trial: Program = w.build(exp, w.layout_for(exp, NOMINAL_BASE, MAX_CODE))
        if len(_SIZES) >= 256:
            _SIZES.clear()
        _SIZES[key] = align(len(trial.code) + PAGE, CODE_ALIGN)
    return _SIZES[key]


def build(exp: Experiment, lay: Layout | None = None) -> Program:
    """Generate the experiment's code for the reservation ``lay`` (nominal if omitted)."""
    program: Program = exp.spec.build(exp, lay or layout_for(exp))
    return program
