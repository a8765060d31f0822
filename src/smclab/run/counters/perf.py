"""perf_event_open(2) through ctypes: one counter group around a block of code.

Counters are opened for the calling thread (pid=0, cpu=-1): only that thread's execution is
counted, on whichever CPU it runs. An event that cannot be opened is not an error: it is listed in
``CounterGroup.unavailable`` with a reason, and its value is ``None``. No value is ever made up.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import platform
import struct
from collections.abc import Iterable
from types import TracebackType

from smclab.run.counters.events import PERF_TYPE_SOFTWARE, EventSpec

_NR_PERF_EVENT_OPEN = 298  # x86-64
_PARANOID = "/proc/sys/kernel/perf_event_paranoid"
_PMU_DIRS = ("cpu", "cpu_core", "cpu_atom")  # core PMUs in /sys/bus/event_source/devices

PERF_FORMAT_TOTAL_TIME_ENABLED = 1 << 0
PERF_FORMAT_TOTAL_TIME_RUNNING = 1 << 1
PERF_FORMAT_ID = 1 << 2
PERF_FORMAT_GROUP = 1 << 3

PERF_EVENT_IOC_ENABLE = 0x2400  # _IO('$', 0)
PERF_EVENT_IOC_DISABLE = 0x2401  # _IO('$', 1)
PERF_EVENT_IOC_RESET = 0x2403  # _IO('$', 3)
PERF_IOC_FLAG_GROUP = 1

PERF_FLAG_FD_CLOEXEC = 1 << 3

# Software events the kernel raises from kernel context (scheduler): with exclude_kernel=1 they
# can never count, so they are reported unavailable rather than opened user-only.
_KERNEL_SIDE_SOFTWARE = {3, 4}  # PERF_COUNT_SW_CONTEXT_SWITCHES, PERF_COUNT_SW_CPU_MIGRATIONS

_NEVER_SCHEDULED = "unavailable: counter never scheduled (PMU busy or absent; time_running == 0)"

_u64 = ctypes.c_uint64
_u32 = ctypes.c_uint32


class PerfEventAttr(ctypes.Structure):
    """struct perf_event_attr (include/uapi/linux/perf_event.h, PERF_ATTR_SIZE_VER8 = 136)."""

    _fields_ = [
        ("type", _u32),
        ("size", _u32),
        ("config", _u64),
        ("sample_period", _u64),  # union with sample_freq
        ("sample_type", _u64),
        ("read_format", _u64),
        ("disabled", _u64, 1),
        ("inherit", _u64, 1),
        ("pinned", _u64, 1),
        ("exclusive", _u64, 1),
        ("exclude_user", _u64, 1),
        ("exclude_kernel", _u64, 1),
        ("exclude_hv", _u64, 1),
        ("exclude_idle", _u64, 1),
        ("mmap", _u64, 1),
        ("comm", _u64, 1),
        ("freq", _u64, 1),
        ("inherit_stat", _u64, 1),
        ("enable_on_exec", _u64, 1),
        ("task", _u64, 1),
        ("watermark", _u64, 1),
        ("precise_ip", _u64, 2),
        ("mmap_data", _u64, 1),
        ("sample_id_all", _u64, 1),
        ("exclude_host", _u64, 1),
        ("exclude_guest", _u64, 1),
        ("exclude_callchain_kernel", _u64, 1),
        ("exclude_callchain_user", _u64, 1),
        ("mmap2", _u64, 1),
        ("comm_exec", _u64, 1),
        ("use_clockid", _u64, 1),
        ("context_switch", _u64, 1),
        ("write_backward", _u64, 1),
        ("namespaces", _u64, 1),
        ("ksymbol", _u64, 1),
        ("bpf_event", _u64, 1),
        ("aux_output", _u64, 1),
        ("cgroup", _u64, 1),
        ("text_poke", _u64, 1),
        ("build_id", _u64, 1),
        ("inherit_thread", _u64, 1),
        ("remove_on_exec", _u64, 1),
        ("sigtrap", _u64, 1),
        ("reserved_1", _u64, 26),
        ("wakeup_events", _u32),  # union with wakeup_watermark
        ("bp_type", _u32),
        ("config1", _u64),  # union with bp_addr, kprobe_func, uprobe_path
        ("config2", _u64),  # union with bp_len, kprobe_addr, probe_offset
        ("branch_sample_type", _u64),
        ("sample_regs_user", _u64),
        ("sample_stack_user", _u32),
        ("clockid", ctypes.c_int32),
        ("sample_regs_intr", _u64),
        ("aux_watermark", _u32),
        ("sample_max_stack", ctypes.c_uint16),
        ("reserved_2", ctypes.c_uint16),
        ("aux_sample_size", _u32),
        ("aux_action", _u32),
        ("sig_data", _u64),
        ("config3", _u64),
    ]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def perf_event_open(attr: PerfEventAttr, pid: int, cpu: int, group_fd: int, flags: int) -> int:
    """The raw system call; returns a file descriptor or raises OSError with the errno."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise OSError(errno.ENOSYS, "perf_event_open via syscall 298 needs x86-64 Linux")
    attr.size = ctypes.sizeof(PerfEventAttr)
    fd = _syscall(
        ctypes.c_long(_NR_PERF_EVENT_OPEN),
        ctypes.byref(attr),
        ctypes.c_long(pid),
        ctypes.c_long(cpu),
        ctypes.c_long(group_fd),
        ctypes.c_ulong(flags),
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(fd)


def paranoid_level() -> int | None:
    """The value of /proc/sys/kernel/perf_event_paranoid, or None if unreadable."""
    try:
        with open(_PARANOID, encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def has_core_pmu() -> bool:
    """Whether the kernel registered a hardware (core) PMU; VMs without vPMU have none."""
    return any(os.path.exists(f"/sys/bus/event_source/devices/{d}") for d in _PMU_DIRS)


def _reason(err: int, spec: EventSpec) -> str:
    detail = f"(perf_event_open: {errno.errorcode.get(err, str(err))} {os.strerror(err)})"
    if err in (errno.EACCES, errno.EPERM):
        level = paranoid_level()
        why = f"permission denied by {_PARANOID} (= {level}); run with CAP_PERFMON/root or lower it"
    elif err == errno.ENOSYS:
        why = "perf_event_open is not available (kernel without perf events, or seccomp)"
    elif spec.hardware and not has_core_pmu():
        why = "no hardware PMU"
    elif err == errno.ENOENT:
        why = "event not supported by this PMU"
    elif err == errno.EOPNOTSUPP:
        why = "the PMU does not support this event or its flags"
    elif err == errno.EINVAL:
        why = "invalid config, or no free hardware counter left in the group"
    elif err == errno.ENODEV:
        why = "no PMU for this event on this CPU"
    elif err == errno.EBUSY:
        why = "PMU in exclusive use (another tool or the NMI watchdog)"
    elif err in (errno.EMFILE, errno.ENFILE):
        why = "out of file descriptors"
    else:
        why = "perf_event_open failed"
    return f"unavailable: {why} {detail}"


def _attr(
    spec: EventSpec, read_format: int, *, leader: bool, exclude_kernel: bool
) -> PerfEventAttr:
    attr = PerfEventAttr()
    attr.type = spec.type
    attr.config = spec.config
    attr.read_format = read_format
    attr.disabled = 1 if leader else 0
    attr.exclude_kernel = 1 if exclude_kernel else 0
    attr.exclude_hv = 1 if spec.hardware else 0
    return attr


def _open(spec: EventSpec, group_fd: int, read_format: int) -> tuple[int, str | None]:
    """Open one event for the calling thread: (fd, caveat or None); OSError carries a reason.

    Hardware/raw events count user mode only (exclude_kernel=1, exclude_hv=1). Software events
    are opened with exclude_kernel=0 because kernel-raised ones (context-switches,
    cpu-migrations) would otherwise never count; if perf_event_paranoid forbids that, the
    others fall back to user-only (page faults and task-clock still count there).
    """
    leader = group_fd == -1
    flags = PERF_FLAG_FD_CLOEXEC
    if spec.hardware or spec.type != PERF_TYPE_SOFTWARE:
        attr = _attr(spec, read_format, leader=leader, exclude_kernel=True)
        return perf_event_open(attr, 0, -1, group_fd, flags), None
    attr = _attr(spec, read_format, leader=leader, exclude_kernel=False)
    try:
        return perf_event_open(attr, 0, -1, group_fd, flags), None
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM) or spec.config in _KERNEL_SIDE_SOFTWARE:
            raise
    attr = _attr(spec, read_format, leader=leader, exclude_kernel=True)
    fd = perf_event_open(attr, 0, -1, group_fd, flags)
    caveat = f"user mode only (exclude_kernel=1): {_PARANOID} = {paranoid_level()}"
    return fd, caveat


def _dedupe(events: Iterable[EventSpec]) -> list[EventSpec]:
    seen: dict[str, EventSpec] = {}
    for spec in events:
        seen.setdefault(spec.name, spec)
    return list(seen.values())


class CounterGroup:
    """A perf event group for the calling thread, enabled around a block of code.

    The first event that opens leads the group (opened disabled); the others join it, so all are
    enabled, disabled and scheduled together. Use from the thread whose execution you measure::

        with CounterGroup([resolve("page-faults", "AuthenticAMD", 0x19, 1)]) as group:
            group.start()
            work()
            values = group.stop()      # {"page-faults": 17.0}

    After ``stop()``: ``scale`` is time_enabled / time_running (1.0 unless the kernel multiplexed
    the group; values are already multiplied by it), ``raw`` holds the unscaled counts.
    """

    _READ_FORMAT = (
        PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING
    )

    def __init__(self, events: list[EventSpec]) -> None:
        self.requested: list[str] = []
        self.available: dict[str, EventSpec] = {}
        self.unavailable: dict[str, str] = {}
        self.caveats: dict[str, str] = {}
        self.scale: float | None = None
        self.time_enabled: int = 0
        self.time_running: int = 0
        self.raw: dict[str, int] = {}
        self._members: list[tuple[str, int]] = []  # (name, fd) in group order
        self._started = False
        self._closed = False
        try:
            for spec in _dedupe(events):
                self.requested.append(spec.name)
                self._add(spec)
        except BaseException:
            self.close()
            raise

    @property
    def _leader(self) -> int:
        return self._members[0][1] if self._members else -1

    def _add(self, spec: EventSpec) -> None:
        try:
            fd, caveat = _open(spec, self._leader, self._READ_FORMAT)
        except OSError as exc:
            self.unavailable[spec.name] = _reason(exc.errno or 0, spec)
            return
        self._members.append((spec.name, fd))
        self.available[spec.name] = spec
        if caveat:
            self.caveats[spec.name] = caveat

    def start(self) -> None:
        """Reset and enable the whole group."""
        if self._closed:
            raise RuntimeError("CounterGroup is closed")
        if self._members:
            fcntl.ioctl(self._leader, PERF_EVENT_IOC_RESET, PERF_IOC_FLAG_GROUP)
            fcntl.ioctl(self._leader, PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP)
        self._started = True

    def stop(self) -> dict[str, float | None]:
        """Disable the group and return scaled values for every requested name (None if
        unavailable)."""
        if not self._started:
            raise RuntimeError("CounterGroup.stop() called without start()")
        self._started = False
        values: dict[str, float | None] = dict.fromkeys(self.requested)
        self.raw = {}
        self.scale = None
        if not self._members:
            return values
        fcntl.ioctl(self._leader, PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP)
        count = len(self._members)
        size = 8 * (3 + count)
        data = os.read(self._leader, size)
        if len(data) != size:
            raise OSError(errno.EIO, f"short read from perf group ({len(data)} of {size} bytes)")
        nr, enabled, running, *counts = struct.unpack(f"={3 + count}Q", data)
        if nr != count:
            raise OSError(errno.EIO, f"perf group returned {nr} values for {count} events")
        self.time_enabled, self.time_running = enabled, running
        if running == 0:
            for name, _fd in self._members:
                if name in self.available:
                    del self.available[name]
                    self.unavailable[name] = _NEVER_SCHEDULED
            return values
        self.scale = enabled / running
        for (name, _fd), count_ in zip(self._members, counts, strict=True):
            if name in self.available:
                self.raw[name] = count_
                values[name] = count_ * self.scale
        return values

    def close(self) -> None:
        """Close every file descriptor (idempotent)."""
        members, self._members = self._members, []
        self._closed = True
        for _name, fd in reversed(members):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> CounterGroup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_members", None):
            self.close()


def probe(events: list[EventSpec]) -> dict[str, str | None]:
    """Open and close each event on its own: name -> reason it is unavailable, or None.

    Hardware events are also enabled briefly, to catch counters that open but are never
    scheduled.
    """
    read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING
    result: dict[str, str | None] = {}
    for spec in _dedupe(events):
        try:
            fd, _caveat = _open(spec, -1, read_format)
        except OSError as exc:
            result[spec.name] = _reason(exc.errno or 0, spec)
            continue
        try:
            reason = None
            if spec.hardware:
                fcntl.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)
                sum(range(10_000))  # a little user-mode work to be counted
                fcntl.ioctl(fd, PERF_EVENT_IOC_DISABLE, 0)
                _value, _enabled, running = struct.unpack("=3Q", os.read(fd, 24))
                if running == 0:
                    reason = _NEVER_SCHEDULED
            result[spec.name] = reason
        finally:
            os.close(fd)
    return result
