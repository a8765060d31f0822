"""Knob metadata and sizes: what the Experiment fields are made of."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import field
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


def knob(default: Any, kind: str, help: str, choices: Collection[str] = (), **kw: Any) -> Any:
    """A dataclass field with the metadata the CLI and the sweeps read. ``choices`` may be a
    registry (a dict keyed by name): it is read each time, so a record added to it is a choice."""
    meta = {"kind": kind, "help": help, "choices": choices, **kw}
    return field(default=default, metadata=meta)
