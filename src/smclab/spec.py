"""Experiment specification: a frozen, validated description of one generated loop.

An :class:`Experiment` says *what* code is generated and run (buffer, step, copy method,
barrier, call kind, ...) and *how* it is measured (iterations, repeats, events). Every
invalid combination is rejected by :func:`Experiment.validate` with one sentence.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

PAGE = 4096

COPY_METHODS = ("rep-movsb",)
BARRIERS = ("none", "mfence", "lfence", "sfence", "lock-or", "cpuid", "serialize")
PLACEMENTS = ("after-store", "before-store")
CALL_KINDS = ("indirect", "direct", "source")
STORE_TARGETS = ("exec", "far", "none")
PAYLOAD_OPS = ("ret", "ud2")

#: CPU flags (as in /proc/cpuinfo) an option value needs.
REQUIRED_FLAGS: dict[str, str] = {"serialize": "serialize"}

DEFAULT_EVENTS = ("smc-clears",)


class SpecError(ValueError):
    """An invalid experiment; the message is one sentence meant for the user."""


_SIZE_RE = re.compile(r"^\s*(-?\d+)\s*([kKmMgG]?)(i?[bB])?\s*$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str | int) -> int:
    """Parse ``4096``, ``4K``, ``1M``, ``2MiB`` into bytes."""
    if isinstance(text, int):
        return text
    m = _SIZE_RE.match(str(text))
    if not m:
        raise SpecError(f"'{text}' is not a size (use bytes or a K/M/G suffix, e.g. 4K, 1M)")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def format_size(n: int) -> str:
    """The short form used in names: 4096 -> '4K', 1048576 -> '1M'."""
    for suffix, unit in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SpecError(f"unknown {name} '{value}' (choose from: {', '.join(allowed)})")


@dataclass(frozen=True)
class Experiment:
    """One experiment of the seed workload.

    The loop copies ``payload`` bytes (``ret`` padded with ``nop``, as the seed's payload) with
    ``copy`` to the executable buffer at the current position (``store='exec'``), to a data
    buffer far from any code (``store='far'``) or not at all (``store='none'``), then calls the
    code at the current position and advances it by ``step`` bytes, wrapping at ``buffer``.
    """

    buffer: int = PAGE
    step: int = 0
    payload: int = 64
    copy: str = "rep-movsb"
    store: str = "exec"
    barrier: str = "none"
    placement: str = "after-store"
    call: str = "indirect"
    op: str = "ret"
    iterations: int | None = None
    repeats: int = 5
    min_ms: float = 20.0
    events: tuple[str, ...] = field(default=DEFAULT_EVENTS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", tuple(self.events))
        self.validate()

    # -- validation -------------------------------------------------------------------
    def validate(self) -> None:
        b, s = self.buffer, self.step
        if b < PAGE or b % PAGE:
            raise SpecError(f"buffer must be a positive multiple of the 4K page, got {b} bytes")
        if b > 1 << 30:
            raise SpecError(f"buffer must be at most 1G, got {format_size(b)}")
        if s < 0:
            raise SpecError(f"step must be >= 0, got {s}")
        if s >= b:
            raise SpecError(f"step ({s}) must be smaller than the buffer ({b} bytes)")
        if not 1 <= self.payload <= min(b, 1 << 20):
            raise SpecError(
                f"payload must be between 1 byte and the buffer size, got {self.payload}"
            )
        last = (b - 1) // s * s if s else 0
        if last + self.payload > b:
            raise SpecError(
                f"a {self.payload}-byte payload at the last step position ({last}) overruns "
                f"the {b}-byte buffer"
            )
        _choice("copy method", self.copy, COPY_METHODS)
        _choice("store target", self.store, STORE_TARGETS)
        _choice("barrier", self.barrier, BARRIERS)
        _choice("barrier placement", self.placement, PLACEMENTS)
        _choice("call kind", self.call, CALL_KINDS)
        _choice("payload op", self.op, PAYLOAD_OPS)
        if self.call == "direct" and s != 0:
            raise SpecError("call kind 'direct' (call rel32 to the copy) needs step 0")
        if self.iterations is not None and not 1 <= self.iterations <= 10**10:
            raise SpecError(f"iterations must be between 1 and 1e10, got {self.iterations}")
        if not 1 <= self.repeats <= 1000:
            raise SpecError(f"repeats must be between 1 and 1000, got {self.repeats}")
        if not 0.1 <= self.min_ms <= 60_000:
            raise SpecError(f"min-ms must be between 0.1 and 60000, got {self.min_ms}")

    def check_host(self, cpu_flags: set[str] | frozenset[str]) -> None:
        """Reject, before running, what this CPU cannot execute."""
        for value in (self.barrier, self.copy):
            flag = REQUIRED_FLAGS.get(value)
            if flag and flag not in cpu_flags:
                raise SpecError(f"'{value}' needs the CPU flag '{flag}', which this CPU lacks")

    # -- identity ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["events"] = list(self.events)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Experiment:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SpecError(f"unknown experiment field(s): {', '.join(unknown)}")
        return cls(**data)

    def code_key(self) -> str:
        """A stable hash of what is generated and measured (not of the event list)."""
        d = self.to_dict()
        d.pop("events")
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def label(self) -> str:
        parts = [f"{format_size(self.buffer)}/{self.step}"]
        if self.store != "exec":
            parts.append(f"store={self.store}")
        if self.barrier != "none":
            parts.append(f"{self.barrier}@{self.placement}")
        if self.call != "indirect":
            parts.append(f"call={self.call}")
        if self.payload != 64:
            parts.append(f"payload={self.payload}")
        if self.op != "ret":
            parts.append(f"op={self.op}")
        return " ".join(parts)
