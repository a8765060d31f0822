"""The jit-block workload's knobs, validation, CPU needs and label: each iteration writes a
``block``-byte block of code with the write ``strategy`` (see :mod:`smclab.isa.strategies`)
and calls it."""

from __future__ import annotations

from smclab.errors import SpecError
from smclab.isa.strategies import STRATEGIES
from smclab.model.experiment import Experiment
from smclab.model.knobs import Knob, check_choice, format_size

KNOBS = (
    Knob("block", 1024, "size", "jit-block, jit-emit: bytes of code written per iteration."),
    Knob(
        "strategy",
        "plain",
        "strategy",
        "jit-block, jit-emit: write strategy (see `smclab catalog`).",
        STRATEGIES,
    ),
)


def head(exp: Experiment) -> str:
    return f"jit {exp.strategy} {format_size(exp.block)}"


def needs(exp: Experiment) -> list[tuple[str, tuple[str, ...]]]:
    return [(exp.strategy, STRATEGIES[exp.strategy].features)]


def validate(exp: Experiment) -> None:
    check_choice("strategy", exp.strategy, STRATEGIES)
    if not 64 <= exp.block <= 1 << 20 or exp.block % 64:
        raise SpecError(f"block must be a multiple of 64 between 64 and 1M, got {exp.block}")
