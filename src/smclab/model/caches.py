"""The cache sizes probes and advice are planned and read against (from host facts).

Host facts carry the caches the kernel reports (:func:`smclab.run.machine.caches`: sysfs, the
kernel's reading of CPUID leaf 4 / 0x8000001D). A host that reports none gets common sizes
(32K L1I and L1D, 1M L2), marked as assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smclab.model.knobs import format_size

K = 1024
PAGE = 4096
#: the sizes assumed where a host reports no caches
ASSUMED = {"l1i": 32 * K, "l1d": 32 * K, "l2": K * K}


def cache_size(facts: dict[str, Any], level: int, kind: str = "Unified") -> int | None:
    """The size of one cache level from host facts (kind: Data, Instruction or Unified)."""
    for c in facts.get("caches") or []:
        if c["level"] == level and c["type"] == kind:
            return int(c["size"])
    return None


@dataclass(frozen=True)
class CacheSizes:
    l1i: int
    l1d: int
    l2: int
    assumed: bool = False  # sizes not reported by the host

    @classmethod
    def of(cls, facts: dict[str, Any]) -> CacheSizes:
        l1i = cache_size(facts, 1, "Instruction")
        l1d = cache_size(facts, 1, "Data")
        l2 = cache_size(facts, 2, "Unified")
        return cls(
            l1i or ASSUMED["l1i"],
            l1d or ASSUMED["l1d"],
            l2 or ASSUMED["l2"],
            assumed=not (l1i and l1d and l2),
        )

    def describe(self) -> str:
        what = "assumed (the host reports no caches)" if self.assumed else "this host's"
        return (
            f"L1I {format_size(self.l1i)}, L1D {format_size(self.l1d)},"
            f" L2 {format_size(self.l2)}: {what}"
        )

    def relate(self, size: int) -> str:
        """``size`` against the hierarchy, e.g. '= L1I', '½ L2', '4x L2', '< L1I'."""
        for name, level in (("L2", self.l2), ("L1I", self.l1i)):
            if size >= level:
                ratio = size / level
                if ratio == 1:
                    return f"= {name}"
                return f"{ratio:.3g}x {name}"
        if size * 2 == self.l1i:
            return "½ L1I"
        return "< L1I"


def pages(n: float) -> int:
    """``n`` bytes rounded down to a whole number of pages (at least one)."""
    return max(PAGE, int(n) // PAGE * PAGE)
