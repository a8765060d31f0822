"""Knob metadata and sizes: what the Experiment fields are made of."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from smclab.errors import SpecError

#: ASCII only: ``\d`` would also take other scripts' digits (``４K``)
_SIZE_RE = re.compile(r"^\s*(-?\d+)\s*([kKmMgG]?)(i?[bB])?\s*$", re.ASCII)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str | int) -> int:
    """Parse ``4096``, ``4K``, ``1M``, ``2MiB`` (or ``-64``) into bytes."""
    if isinstance(text, int):
        return text
    m = _SIZE_RE.match(str(text))
    if not m:
        raise SpecError(f"'{text}' is not a size (use bytes or a K/M/G suffix, e.g. 4K, 1M)")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def format_size(n: int) -> str:
    """The short form used in names: 4096 -> '4K', 1048576 -> '1M'."""
    for suffix, unit in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if abs(n) >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def check_choice(name: str, value: str, allowed: Collection[str]) -> None:
    if value not in allowed:
        raise SpecError(f"unknown {name} '{value}' (choose from: {', '.join(allowed)})")


@dataclass(frozen=True)
class Knob:
    """One knob of an experiment: its name, default, kind (``size``, ``int``, ``float``,
    ``choice``, ``strategy``, ``events``, ``asm``, ``text``), one line of help and its choices,
    from which the CLI builds its options and the sweeps parse their grids. ``choices`` may be
    a registry (a dict keyed by name): it is read each time, so a record added to it is a
    choice. ``label`` says how a value other than the default shows in the experiment's label:
    a format string (``{name}``, ``{value}``) or a function of the experiment ("" : nothing)."""

    name: str
    default: Any
    kind: str
    help: str
    choices: Collection[str] = ()
    hidden: bool = False
    #: a column of the result tables and exports
    column: bool = True
    #: a measurement setting (how it is measured), not a knob of the generated code
    measure: bool = False
    label: str | Callable[[Any], str] = "{name}={value}"

    def meta(self) -> dict[str, Any]:
        """The knob's metadata; ``choices`` as a tuple, read now from its registry."""
        return {
            "kind": self.kind,
            "help": self.help,
            "choices": tuple(self.choices),
            "hidden": self.hidden,
            "column": self.column,
            "measure": self.measure,
        }

    def parse(self, text: str) -> Any:
        """One value of this knob from text (sizes accept K/M/G)."""
        if self.kind == "size":
            return parse_size(text)
        if self.kind in ("int", "float"):
            try:
                if not str(text).isascii():  # int() and float() take any script's digits
                    raise ValueError(text)
                return int(text) if self.kind == "int" else float(text)
            except ValueError:
                raise SpecError(f"{self.name} must be a number, got '{text}'") from None
        if self.kind == "events":
            return tuple(e.strip() for e in str(text).split(",") if e.strip())
        return str(text)

    def shown(self, exp: Any) -> str:
        """What a value other than the default adds to ``exp``'s label."""
        if callable(self.label):
            return self.label(exp)
        return self.label.format(name=self.name, value=getattr(exp, self.name))
