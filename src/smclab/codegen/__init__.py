"""Code generation: an :class:`~smclab.model.experiment.Experiment` becomes machine code (iced-x86).

The generated function has the C signature ``uint64_t run(uint64_t iterations)``: it runs the
experiment's loop ``iterations`` times between two ``lfence; rdtsc`` and returns the tick
delta, so everything outside the loop (the Python call) is outside the measured interval.

What the workloads share (layout, program, timed frame) lives in :mod:`.program`; each workload
is one module (:mod:`.seed`, :mod:`.jit`, :mod:`.emit`, :mod:`.patch`, :mod:`.relocate`) with
``layout_for`` and ``build``, registered in :data:`WORKLOADS` under the name the experiment's
``workload`` knob uses.
"""

from __future__ import annotations

from typing import Protocol

from smclab.codegen import emit, jit, patch, relocate, seed
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
    "WORKLOADS",
    "Layout",
    "Program",
    "Section",
    "Workload",
    "build",
    "build_rdtsc",
    "layout_for",
]


class Workload(Protocol):
    """What a workload module provides."""

    def layout_for(self, exp: Experiment, base: int, code_size: int) -> Layout: ...

    def build(self, exp: Experiment, lay: Layout) -> Program: ...


#: workload name (the experiment's ``workload`` knob) -> the module generating its code
WORKLOADS: dict[str, Workload] = {
    "seed": seed,
    "jit-block": jit,
    "jit-emit": emit,
    "patch": patch,
    "relocate": relocate,
}


def layout_for(exp: Experiment, base: int = NOMINAL_BASE) -> Layout:
    """The experiment's reservation; the code part is sized from a trial encoding (the code's
    length does not depend on where it is laid out: every address in it is rel32 or imm64)."""
    return WORKLOADS[exp.workload].layout_for(exp, base, _code_size(exp))


#: code reservations by knob key (see :func:`_code_size`)
_SIZES: dict[str, int] = {}


def _code_size(exp: Experiment) -> int:
    """The code reservation of ``exp``, remembered by its knobs (a worker measuring one
    experiment round after round encodes it once for its size: rings of 10^4 slots)."""
    key = exp.knob_key()
    if key not in _SIZES:
        mod = WORKLOADS[exp.workload]
        trial = mod.build(exp, mod.layout_for(exp, NOMINAL_BASE, MAX_CODE))
        if len(_SIZES) >= 256:
            _SIZES.clear()
        _SIZES[key] = align(len(trial.code) + PAGE, CODE_ALIGN)
    return _SIZES[key]


def build(exp: Experiment, lay: Layout | None = None) -> Program:
    """Generate the experiment's code for the reservation ``lay`` (nominal if omitted)."""
    return WORKLOADS[exp.workload].build(exp, lay or layout_for(exp))
