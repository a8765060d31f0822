"""Host facts: CPU identity and flags, kernel, hypervisor, and the TSC frequency."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from smclab._version import __version__
from smclab.model.caches import cache_size as cache_size  # re-exported
from smclab.model.uarch import microarchitecture

SYS_CPU = Path("/sys/devices/system/cpu")


@dataclass(frozen=True)
class CpuId:
    vendor: str
    family: int
    model: int
    stepping: int


@cache
def cpuinfo() -> dict[str, str]:
    """The first processor block of /proc/cpuinfo."""
    out: dict[str, str] = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if not line.strip():
                if out:
                    break
                continue
            key, _, value = line.partition(":")
            out[key.strip()] = value.strip()
    return out


def cpu_id() -> CpuId:
    info = cpuinfo()
    return CpuId(
        info.get("vendor_id", "unknown"),
        int(info.get("cpu family", "0")),
        int(info.get("model", "0")),
        int(info.get("stepping", "0") or 0),
    )


def cpu_flags() -> frozenset[str]:
    return frozenset(cpuinfo().get("flags", "").split())


def hypervisor() -> str | None:
    """The hypervisor vendor (lscpu), 'unknown' when the CPU says it runs under one."""
    if shutil.which("lscpu"):
        try:
            out = subprocess.run(
                ["lscpu"], capture_output=True, text=True, timeout=10, env={"LC_ALL": "C"}
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            if line.startswith("Hypervisor vendor:"):
                return line.split(":", 1)[1].strip()
    return "unknown" if "hypervisor" in cpu_flags() else None


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def measure_tsc_hz(rdtsc: Callable[[], int], seconds: float = 0.2) -> float:
    """TSC ticks per second, against CLOCK_MONOTONIC (the median of three short windows)."""
    estimates = []
    for _ in range(3):
        t0, r0 = time.monotonic_ns(), rdtsc()
        time.sleep(seconds / 3)
        r1, t1 = rdtsc(), time.monotonic_ns()
        estimates.append((r1 - r0) / (t1 - t0) * 1e9)
    return sorted(estimates)[1]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "smclab"


def cached_tsc_hz(measure: Callable[[], float]) -> float:
    """The TSC frequency, measured once per boot and cached under the XDG cache dir."""
    path = cache_dir() / "tsc.json"
    key = boot_id()
    try:
        data = json.loads(path.read_text())
        if data.get("boot_id") == key and data.get("tsc_hz", 0) > 0:
            return float(data["tsc_hz"])
    except (OSError, ValueError):
        pass
    hz = measure()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"boot_id": key, "tsc_hz": hz}))
    except OSError:
        pass  # a read-only home only costs a re-measurement next time
    return hz


def caches(cpu: int = 0) -> list[dict[str, Any]]:
    """The caches ``cpu`` sees, from sysfs (the kernel's reading of CPUID leaf 4 / 0x8000001D):
    level, type (Data, Instruction, Unified), size in bytes, line size, ways. Empty where the
    kernel exposes none."""
    out = []
    base = Path(f"/sys/devices/system/cpu/cpu{cpu}/cache")
    for d in sorted(base.glob("index*")):
        try:
            size = (d / "size").read_text().strip()
            out.append(
                {
                    "level": int((d / "level").read_text()),
                    "type": (d / "type").read_text().strip(),
                    "size": int(size.rstrip("K")) * 1024 if size.endswith("K") else int(size),
                    "line": int((d / "coherency_line_size").read_text()),
                    "ways": int((d / "ways_of_associativity").read_text()),
                }
            )
        except (OSError, ValueError):
            continue
    return out


def _read(path: Path | str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def kernel_cmdline() -> str | None:
    """The kernel's parameters (/proc/cmdline up to ``--``: what follows is init's)."""
    text = _read("/proc/cmdline")
    return None if text is None else text.split(" -- ")[0].removesuffix(" --").strip()


def vulnerabilities() -> dict[str, str]:
    """The kernel's CPU vulnerability and mitigation status, per issue (empty where sysfs has
    none): they change the cost of indirect calls, returns and syscalls."""
    out = {}
    for p in sorted((SYS_CPU / "vulnerabilities").glob("*")):
        text = _read(p)
        if text is not None:
            out[p.name] = text
    return out


def governor(cpu: int = 0) -> str | None:
    """``cpu``'s cpufreq governor (None: no cpufreq, e.g. a guest whose host owns the clock)."""
    return _read(SYS_CPU / f"cpu{cpu}" / "cpufreq" / "scaling_governor")


def host_facts(tsc_hz: float) -> dict[str, Any]:
    info = cpuinfo()
    cid = cpu_id()
    return {
        "vendor": cid.vendor,
        "family": cid.family,
        "model": cid.model,
        "stepping": cid.stepping,
        "model_name": info.get("model name", "unknown"),
        "uarch": microarchitecture(cid.vendor, cid.family, cid.model),
        "microcode": info.get("microcode", "unknown"),
        "kernel": platform.release(),
        "cmdline": kernel_cmdline(),
        "vulnerabilities": vulnerabilities(),
        "governor": governor(max(allowed_cpus())),
        "hypervisor": hypervisor(),
        "cpus": os.cpu_count(),
        "caches": caches(),
        "flags": sorted(cpu_flags()),
        "tsc_hz": tsc_hz,
        "smclab_version": __version__,
    }


def fingerprint(facts: dict[str, Any]) -> str:
    """What identifies a host across runs (not the TSC estimate, which wobbles)."""
    keys = (
        "vendor",
        "family",
        "model",
        "stepping",
        "model_name",
        "microcode",
        "kernel",
        "hypervisor",
        "cpus",
    )
    return json.dumps({k: facts.get(k) for k in keys}, sort_keys=True)


def allowed_cpus() -> set[int]:
    """The CPUs this process may run on now (its affinity mask)."""
    return set(os.sched_getaffinity(0))


def cpu_list(text: str) -> set[int]:
    """A kernel CPU list: '0-2,5' -> {0, 1, 2, 5}."""
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def online() -> set[int]:
    """The CPUs the kernel has online (``/sys/devices/system/cpu/online``; unreadable: every
    CPU of the affinity mask at start)."""
    try:
        return cpu_list(Path("/sys/devices/system/cpu/online").read_text()) or set(_START)
    except (OSError, ValueError):
        return set(_START)


def usable_cpus() -> set[int]:
    """The CPUs smclab may use: the affinity mask this process started with (``taskset``, a
    cgroup's cpuset) among the online CPUs. The one notion of "how many CPUs" that catalog,
    advise, diagnose and the worker's second thread go by."""
    return (set(_START) & online()) or set(_START)


def second_cpu_missing() -> str | None:
    """Why an experiment with a writer thread on a second CPU cannot run here (None: it can)."""
    usable = usable_cpus()
    if len(usable) >= 2:
        return None
    up = online()
    if len(up) > len(usable):
        return (
            f"needs a second CPU: the affinity mask (taskset or a cgroup) allows only CPU"
            f" {min(usable)} of the {len(up)} online"
        )
    return "needs a second CPU: this host has one CPU online"


_START = frozenset(os.sched_getaffinity(0))
