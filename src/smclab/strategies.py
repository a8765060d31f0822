"""The jit-block write strategies, as data (filled in by the jit-block workload)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Strategy:
    id: str
    summary: str
    features: tuple[str, ...] = ()


STRATEGIES: dict[str, Strategy] = {}
