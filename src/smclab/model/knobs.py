"""Knobs, in one module: a :class:`Knob` (name, default, kind, choices, help, how it shows in a
label) and the parsing of its values: one value, a comma-separated list, a TOML grid's value.
The knobs of every workload are registered in :mod:`smclab.model.experiment`."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from smclab.errors import SpecError
from smclab.isa import gas

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


def _integer(text: str) -> int:
    """An integer in decimal or in the notation ranges print (``1e10``): ValueError else."""
    try:
        return int(text)
    except ValueError:
        value = float(text)
        if not value.is_integer():
            raise
        return int(value)


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

    @property
    def is_list(self) -> bool:
        """Whether one value of this knob is itself a list (set once per sweep, never an
        axis): the events."""
        return self.kind == "events"

    def parse(self, text: str) -> Any:
        """One value of this knob from text (sizes accept K/M/G)."""
        if self.kind == "size":
            return parse_size(text)
        if self.kind in ("int", "float"):
            try:
                if not str(text).isascii():  # int() and float() take any script's digits
                    raise ValueError(text)
                return _integer(str(text)) if self.kind == "int" else float(text)
            except ValueError:
                raise SpecError(f"{self.name} must be a number, got '{text}'") from None
        if self.kind == "events":
            events = tuple(e.strip() for e in str(text).split(",") if e.strip())
            if not events:
                raise SpecError(
                    f"{self.name} is empty: name counters (see `smclab host`), or give none"
                )
            return () if events == ("none",) else events
        return str(text)

    def parse_one(self, text: str) -> Any:
        """One value of a list (a sweep's axis): a name that is no choice of the knob is bad
        input here, not a combination to skip. An ``asm`` value names a file (read now, so a
        bad path is bad input; kept as its absolute path so a resumed sweep reads it again
        from anywhere)."""
        if self.kind == "asm":
            gas.read_file(text)
            return os.path.abspath(text)
        value = self.parse(text)
        allowed = tuple(self.choices)
        if allowed and value not in allowed:
            raise SpecError(f"unknown {self.name} '{value}' (choose from: {', '.join(allowed)})")
        return value

    def parse_list(self, text: str) -> tuple[Any, ...]:
        """The values of option ``--name a,b,c`` (a list knob's whole text is one value)."""
        if self.is_list:
            return (self.parse(text),)
        items = [t.strip() for t in str(text).split(",")]
        if not all(items):
            raise SpecError(f"empty value in the {self.name} list '{text}'")
        return tuple(self.parse_one(t) for t in items)

    def toml_values(self, value: Any) -> tuple[Any, ...]:
        """The values of ``name = value`` or ``name = [values]`` in a TOML grid."""
        if self.is_list:
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return (tuple(value),)
            if isinstance(value, str):
                return (self.parse(value),)
            raise SpecError(f"{self.name} must be a list of names or one comma-separated string")
        items = value if isinstance(value, list) else [value]
        if not items:
            raise SpecError(f"{self.name} has an empty list of values")
        for v in items:
            if isinstance(v, bool) or not isinstance(v, str | int | float):
                raise SpecError(f"{self.name} values must be strings or numbers, got {v!r}")
        return tuple(self.parse_one(str(v)) for v in items)

    def shown(self, exp: Any) -> str:
        """What a value other than the default adds to ``exp``'s label."""
        if callable(self.label):
            return self.label(exp)
        return self.label.format(name=self.name, value=getattr(exp, self.name))
