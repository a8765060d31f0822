"""What the host did during a measurement: steal, other tasks, preemptions (see run/noise.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: a share of the measured CPU above this is worth one warning line
NOISY_SHARE = 0.05


@dataclass(frozen=True)
class Noise:
    """What the host did during a measurement (shares are of wall time, 0..1)."""

    seconds: float
    cpu: int
    steal_pct: float  # the hypervisor ran something else on the measured CPU
    other_cpu_pct: float  # other tasks (or interrupts) on the measured CPU
    other_cpus_busy_pct: float  # mean busy share of the other CPUs
    ctx_switches: int  # involuntary context switches of the worker
    runnable: int  # runnable tasks at the end (procs_running, this process included)

    @property
    def noisy(self) -> bool:
        return max(self.steal_pct, self.other_cpu_pct) / 100 > NOISY_SHARE

    def warning(self) -> str | None:
        """One line when the run was disturbed, else None."""
        parts = []
        if self.steal_pct / 100 > NOISY_SHARE:
            parts.append(f"the hypervisor took {self.steal_pct:.0f}% of CPU {self.cpu}")
        if self.other_cpu_pct / 100 > NOISY_SHARE:
            parts.append(f"other tasks used {self.other_cpu_pct:.0f}% of CPU {self.cpu}")
        if not parts:
            return None
        return (
            f"noisy: {' and '.join(parts)} during this run ({self.seconds:.1f} s,"
            f" {self.ctx_switches} preemptions of the worker); see `smclab host --check`"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def combine(cls, parts: list[Noise]) -> Noise | None:
        """One Noise for several measurements (shares weighted by their durations)."""
        if not parts:
            return None
        total = sum(p.seconds for p in parts) or 1.0

        def mean(attr: str) -> float:
            return float(sum(getattr(p, attr) * p.seconds for p in parts)) / total

        return cls(
            sum(p.seconds for p in parts),
            parts[0].cpu,
            mean("steal_pct"),
            mean("other_cpu_pct"),
            mean("other_cpus_busy_pct"),
            sum(p.ctx_switches for p in parts),
            max(p.runnable for p in parts),
        )
