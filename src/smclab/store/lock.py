"""Who holds a sweep lock, and whether that process still lives.

A holder is a process on a node (host name and boot id: process ids only compare on the same
running system), with its start time so a reused pid is not mistaken for the holder, and the
fingerprint of the host's facts (what the results of the sweep are stored under).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path


def node_id() -> str:
    """This running system: its host name and boot id."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = "?"
    return f"{socket.gethostname()}/{boot}"


def start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime
    except (IndexError, ValueError):
        return None


def alive_since(pid: int, when: float) -> bool:
    """Whether a process ``pid`` runs on this system and already ran at ``when`` (seconds since
    the epoch): False if there is none, or if it started later (``pid`` reused since). The
    start is known to about a second (the boot time is whole seconds): a process started up to
    2 s after ``when`` still counts as running then."""
    ticks = start_time(pid)
    if ticks is None:
        return False
    try:
        stat = Path("/proc/stat").read_text()
        boot = next(int(line.split()[1]) for line in stat.splitlines() if line[:6] == "btime ")
    except (OSError, StopIteration, IndexError, ValueError):
        return True  # cannot tell when it started: it may be the one
    return boot + ticks / os.sysconf("SC_CLK_TCK") <= when + 2


@dataclass(frozen=True)
class Holder:
    node: str
    pid: int
    started: int | None
    fingerprint: str

    @classmethod
    def current(cls, fingerprint: str) -> Holder:
        """This process."""
        pid = os.getpid()
        return cls(node_id(), pid, start_time(pid), fingerprint)

    def alive(self) -> bool | None:
        """Whether the holder still runs: None when it is on another machine (cannot tell)."""
        here = node_id()
        if self.node != here:
            # the same host name with another boot id: this machine, rebooted since
            return False if self.node.split("/")[0] == here.split("/")[0] else None
        started = start_time(self.pid)
        return started is not None and (self.started is None or started == self.started)

    def describe(self) -> str:
        where = "this host" if self.node == node_id() else f"node {self.node}"
        try:
            model = json.loads(self.fingerprint).get("model_name")
        except (ValueError, AttributeError):
            model = None
        return f"process {self.pid} on {where}" + (f" ({model})" if model else "")
