"""`smclab host`: this host's facts and which counters work on it, and what would make it
quieter for measuring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smclab.run import counters, machine, noise
from smclab.run.worker import Runner, default_cpu
from smclab.suites.session import checked_cpu

#: the counters `smclab host` reports on, in this order
HOST_EVENTS = (
    "smc-clears",
    "cycles",
    "instructions",
    "branch-misses",
    "indirect-mispredicts",
    "page-faults",
    "task-clock",
    "context-switches",
)


@dataclass(frozen=True)
class HostReport:
    """Host facts and, per counter of :data:`HOST_EVENTS`, None (works) or why not."""

    facts: dict[str, Any]
    counters: dict[str, str | None]

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.facts, "counters": self.counters}


def counter_status() -> dict[str, str | None]:
    """Every counter of :data:`HOST_EVENTS`: None if it works here, else why not."""
    cid = machine.cpu_id()
    specs, status = [], {}
    for name in HOST_EVENTS:
        try:
            specs.append(counters.resolve(name, cid.vendor, cid.family, cid.model))
        except counters.UnknownEvent as e:
            status[name] = f"unavailable: {e}"
    probed: dict[str, str | None] = {**status, **counters.probe(specs)}
    return {n: probed[n] for n in HOST_EVENTS if n in probed}


def host_report() -> HostReport:
    """Facts (the TSC rate measured in a worker) and counter status of this host."""
    with Runner() as runner:
        facts = machine.host_facts(runner.tsc_hz())
    return HostReport(facts, counter_status())


def quiet_checks(cpu: int | None = None) -> list[noise.Check]:
    """What would make this machine quieter for measuring on ``cpu`` (default: the last)."""
    return noise.checks(default_cpu() if cpu is None else checked_cpu(cpu))
