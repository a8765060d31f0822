"""What the host did while a measurement ran, and what would make it quieter.

:class:`NoiseProbe` takes a snapshot of the kernel's CPU accounting (``/proc/stat``) and of the
worker process (``/proc/<pid>/stat`` and ``status``) before and after a measurement; the
difference says how much of the measured CPU the hypervisor took (steal), how much went to other
tasks, how often the worker was preempted, and how busy the other CPUs were. :func:`checks` is the
``smclab host --check`` list: settings that make timings noisier, each with advice.

The kernel counts CPU time in clock ticks (USER_HZ, usually 100 per second): a share computed
over less than about a second is coarse, and is reported as measured.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from smclab.model.noise import NOISY_SHARE, Noise
from smclab.run import machine

TICK = os.sysconf("SC_CLK_TCK")
SYS_CPU = Path("/sys/devices/system/cpu")


def cpu_times() -> dict[int, list[int]]:
    """Per CPU: user nice system idle iowait irq softirq steal (ticks), from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name != "cpu":
            out[int(name[3:])] = [int(f) for f in fields[:8]] + [0] * (8 - len(fields[:8]))
    return out


def procs_running() -> int:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("procs_running"):
            return int(line.split()[1])
    return 0


def process_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), in clock ticks; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def preemptions(pid: int) -> int:
    """Involuntary context switches of every thread of a process."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0
    for task in tasks:
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("nonvoluntary_ctxt_switches"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


class NoiseProbe:
    """Snapshots around a measurement of process ``pid`` pinned to ``cpu``."""

    def __init__(self, cpu: int, pid: int) -> None:
        self.cpu, self.pid = cpu, pid
        self._t = time.monotonic()
        self._cpus = cpu_times()
        self._proc = process_ticks(pid)
        self._switches = preemptions(pid)

    def stop(self) -> Noise:
        seconds = max(time.monotonic() - self._t, 1e-9)
        cpus = cpu_times()
        wall = seconds * TICK
        proc = process_ticks(self.pid) - self._proc

        def delta(cpu: int) -> list[int]:
            before = self._cpus.get(cpu, [0] * 8)
            return [a - b for a, b in zip(cpus.get(cpu, [0] * 8), before, strict=True)]

        mine = delta(self.cpu)
        busy = mine[0] + mine[1] + mine[2] + mine[5] + mine[6]  # user nice system irq softirq
        others = [c for c in cpus if c != self.cpu]
        other_busy = [sum(delta(c)[i] for i in (0, 1, 2, 5, 6)) / wall for c in others]
        return Noise(
            seconds=seconds,
            cpu=self.cpu,
            steal_pct=min(100.0, 100 * mine[7] / wall),
            other_cpu_pct=min(100.0, max(0.0, 100 * (busy - proc) / wall)),
            other_cpus_busy_pct=(
                min(100.0, 100 * sum(other_busy) / len(other_busy)) if other_busy else 0.0
            ),
            ctx_switches=preemptions(self.pid) - self._switches,
            runnable=procs_running(),
        )


@dataclass(frozen=True)
class Check:
    name: str
    state: str
    ok: bool | None  # None: nothing to judge
    advice: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def checks(cpu: int, sample_seconds: float = 1.0) -> list[Check]:
    """What would make this machine quieter for measuring on ``cpu`` (like pyperf's check)."""
    out = []
    hv = machine.hypervisor()
    out.append(
        Check(
            "virtualization",
            hv or "bare metal",
            None if hv else True,
            "a guest: the hypervisor may take the CPU (steal); compare only what one"
            " interleaved run measured"
            if hv
            else "",
        )
    )
    before = cpu_times()
    time.sleep(sample_seconds)
    after = cpu_times()
    wall = sample_seconds * TICK
    for c in sorted(after):
        d = [a - b for a, b in zip(after[c], before.get(c, [0] * 8), strict=True)]
        steal = 100 * d[7] / wall
        busy = 100 * sum(d[i] for i in (0, 1, 2, 5, 6)) / wall
        quiet = steal / 100 <= NOISY_SHARE and busy / 100 <= NOISY_SHARE
        advice = ""
        if steal / 100 > NOISY_SHARE:
            advice = "the hypervisor is running other guests here: measure later or on another host"
        elif busy / 100 > NOISY_SHARE:
            advice = "stop other work on this CPU, or measure on a quieter one (--cpu)"
        out.append(
            Check(
                f"cpu {c} over {sample_seconds:g} s" + (" (measured)" if c == cpu else ""),
                f"{busy:.0f}% busy, {steal:.0f}% steal",
                quiet,
                advice,
            )
        )
    load1 = os.getloadavg()[0]
    ncpu = len(machine.usable_cpus())
    out.append(
        Check(
            "load average (1 min)",
            f"{load1:.2f} on {ncpu} CPUs",
            load1 < ncpu / 2,
            "" if load1 < ncpu / 2 else "other processes compete for the CPUs",
        )
    )
    isolated = _read(SYS_CPU / "isolated") or ""
    out.append(
        Check(
            "isolated CPUs",
            isolated or "none",
            cpu in machine.cpu_list(isolated),
            ""
            if cpu in machine.cpu_list(isolated)
            else f"boot with isolcpus={cpu} nohz_full={cpu} rcu_nocbs={cpu} and measure there",
        )
    )
    governor = _read(SYS_CPU / f"cpu{cpu}" / "cpufreq" / "scaling_governor")
    out.append(
        Check(
            "frequency governor",
            governor or "not visible (no cpufreq here)",
            None if governor is None else governor == "performance",
            "cpupower frequency-set -g performance"
            if governor not in (None, "performance")
            else "",
        )
    )
    boost = _read(SYS_CPU / "cpufreq" / "boost")
    no_turbo = _read(SYS_CPU / "intel_pstate" / "no_turbo")
    if boost is not None or no_turbo is not None:
        on = boost == "1" or no_turbo == "0"
        out.append(
            Check(
                "turbo / boost",
                "on" if on else "off",
                not on,
                "turbo makes the core clock vary against the TSC: disable it for stable ticks"
                if on
                else "",
            )
        )
    siblings = _read(SYS_CPU / f"cpu{cpu}" / "topology" / "thread_siblings_list") or str(cpu)
    shared = sorted(machine.cpu_list(siblings) - {cpu})
    out.append(
        Check(
            "hyperthread sibling",
            f"cpu {shared[0]}" if shared else "none",
            not shared,
            f"keep cpu {shared[0]} idle while measuring (it shares the core)" if shared else "",
        )
    )
    return out
