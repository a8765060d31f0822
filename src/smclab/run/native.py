"""Native memory and calls: map an experiment's regions, place its code, call it.

Only the worker process (:mod:`smclab.worker`) uses this module to *execute* code.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable

from smclab import codegen
from smclab.codegen import GAP, Program
from smclab.codegen.program import (
    MEMBARRIER_REGISTER_SYNC_CORE,
    MEMBARRIER_SYNC_CORE,
    SYS_MEMBARRIER,
)
from smclab.model.experiment import Experiment
from smclab.run import jitdump, perfmap

PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_FAILED = ctypes.c_void_p(-1).value

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]

RunFn = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mmap(size: int, prot: int, addr: int = 0, flags: int = 0, fd: int = -1) -> int:
    """mmap(2); anonymous and private unless ``flags`` (and ``fd``) say otherwise."""
    flags = flags or (MAP_PRIVATE | MAP_ANONYMOUS)
    ptr = _libc.mmap(addr or None, size, prot, flags, fd, 0)
    if ptr in (None, MAP_FAILED):
        err = ctypes.get_errno()
        raise OSError(err, f"mmap({size}): {os.strerror(err)}")
    return int(ptr)


def mprotect(addr: int, size: int, prot: int) -> None:
    _check(_libc.mprotect(addr, size, prot), "mprotect")


def munmap(addr: int, size: int) -> None:
    _check(_libc.munmap(addr, size), "munmap")


def write(addr: int, data: bytes) -> None:
    ctypes.memmove(addr, data, len(data))


def prefill(view: int, offsets: tuple[int, ...], source: bytes) -> None:
    """Copy ``source`` to every offset. Evenly spaced slots at least ``len(source)`` apart
    (a ring of slots: up to 128K of them) are written as one pattern in one copy; the bytes
    between slots stay zero, as in a fresh mapping."""
    n = len(offsets)
    gap = offsets[1] - offsets[0] if n > 1 else 0
    even = (
        n > 2
        and gap >= len(source)
        and all(b - a == gap for a, b in zip(offsets, offsets[1:], strict=False))
    )
    if not even:
        for off in offsets:
            write(view + off, source)
        return
    pattern = source + bytes(gap - len(source))
    write(view + offsets[0], (pattern * n)[: gap * (n - 1) + len(source)])


_libc.syscall.restype = ctypes.c_long
MEMBARRIER_CMD_QUERY = 0
_membarrier: list[str | None] = []  # asked once per process: [None] usable, [reason] not


def membarrier_unavailable() -> str | None:
    """None once this process is registered for membarrier SYNC_CORE, else why it cannot be
    (an old kernel, seccomp). Asked once: the registration is the process's."""
    if not _membarrier:
        _membarrier.append(_register_membarrier())
    return _membarrier[0]


def _register_membarrier() -> str | None:
    cmds = _libc.syscall(SYS_MEMBARRIER, MEMBARRIER_CMD_QUERY, 0, 0)
    if cmds < 0:
        err = ctypes.get_errno()
        return f"membarrier(QUERY) failed: {os.strerror(err)} (old kernel or seccomp)"
    if not cmds & MEMBARRIER_SYNC_CORE:
        return "this kernel has no membarrier PRIVATE_EXPEDITED_SYNC_CORE"
    if _libc.syscall(SYS_MEMBARRIER, MEMBARRIER_REGISTER_SYNC_CORE, 0, 0) < 0:
        err = ctypes.get_errno()
        return f"membarrier(REGISTER_PRIVATE_EXPEDITED_SYNC_CORE) failed: {os.strerror(err)}"
    return None


def start_pinned(addr: int, cpu: int, name: str) -> threading.Thread:
    """Call the generated ``void fn(void)`` at ``addr`` in a new thread pinned to ``cpu``
    (ctypes drops the GIL while it runs); OSError if the thread cannot be pinned there."""
    fn = ctypes.CFUNCTYPE(None)(addr)
    started = threading.Event()
    failed: list[OSError] = []

    def main() -> None:
        try:
            os.sched_setaffinity(0, {cpu})  # this thread only
        except OSError as e:
            failed.append(e)
            return
        finally:
            started.set()
        fn()

    thread = threading.Thread(target=main, name=name, daemon=True)
    thread.start()
    started.wait()
    if failed:
        thread.join()
        raise failed[0]
    return thread


class Loaded:
    """An experiment's reservation with its code in place and its buffers pre-filled.

    Regions: code RX (the source bytes live there, as the seed's payload in .text), exec buffer
    RWX, far buffer RW, and no-access gaps between them. With the ``dual`` mapping the exec
    buffer is an RX view and the far buffer an RW view of one memfd; with ``flip`` the exec
    buffer starts RX and the generated loop mprotects it. Every slot the loop calls
    is pre-filled with the source bytes, so loops that do not write call valid code.
    """

    def __init__(self, exp: Experiment, writer_cpu: int | None = None) -> None:
        nominal = codegen.layout_for(exp)
        key = exp.knob_key()
        # where this experiment was mapped last: free again, the code built for it is reused
        base = mmap(nominal.total, PROT_NONE, _BUILT_AT.get(key, 0))
        self.layout = lay = nominal.at(base)
        self._fd: int | None = None
        self._writer: threading.Thread | None = None
        try:
            self.program: Program = _built(exp, key, lay)
            mprotect(lay.code, lay.code_size, PROT_READ | PROT_WRITE)
            write(lay.code, self.program.code)
            mprotect(lay.code, lay.code_size, PROT_READ | PROT_EXEC)
            if self.program.mapping == "dual":
                self._map_dual()
            else:
                flip = self.program.mapping == "flip"  # W^X: never writable and executable
                rw = PROT_READ | PROT_WRITE
                mprotect(lay.exec_buf, lay.exec_size, rw if flip else rw | PROT_EXEC)
                mprotect(lay.far_buf, lay.far_size, PROT_READ | PROT_WRITE)
            # through the writable view (the RW view of a dual mapping is the far buffer)
            view = lay.far_buf if self.program.mapping == "dual" else lay.exec_buf
            prefill(view, self.program.prefill, self.program.source)
            if self.program.mapping == "flip":  # the loop flips it RW and back itself
                mprotect(lay.exec_buf, lay.exec_size, PROT_READ | PROT_EXEC)
        except BaseException:
            self.close()
            raise
        perfmap.publish(self.program.symbols())
        jitdump.publish(self.program.symbols())
        self._fn = RunFn(self.program.entry_addr)
        if self.program.writer_addr:
            if exp.xmc == "membarrier" and (why := membarrier_unavailable()):
                self.close()
                raise OSError(f"membarrier unavailable: {why}")
            self._start_writer(writer_cpu)

    def _start_writer(self, cpu: int | None) -> None:
        """Run the cross-modifying writer in a thread pinned to ``cpu`` (ctypes drops the GIL)."""
        if cpu is None:
            self.close()
            raise OSError("a cross-modifying writer needs a second CPU, and none is free")
        try:
            self._writer = start_pinned(self.program.writer_addr, cpu, "smclab-writer")
        except OSError as e:
            self.close()
            raise OSError(f"the cross-modifying writer cannot run on cpu {cpu}: {e}") from None

    def _map_dual(self) -> None:
        """One memfd mapped twice: RX at the exec buffer, RW at the far buffer (W^X)."""
        lay = self.layout
        self._fd = os.memfd_create("smclab-jit", os.MFD_CLOEXEC)
        os.ftruncate(self._fd, lay.exec_size)
        mmap(lay.exec_size, PROT_READ | PROT_EXEC, lay.exec_buf, MAP_SHARED | MAP_FIXED, self._fd)
        mmap(lay.far_size, PROT_READ | PROT_WRITE, lay.far_buf, MAP_SHARED | MAP_FIXED, self._fd)

    def run(self, iterations: int) -> int:
        """Run the loop ``iterations`` times; returns TSC ticks spent in the loop."""
        return int(self._fn(iterations))

    def close(self) -> None:
        if self._writer is not None:
            write(self.program.stop_flag_addr, b"\x01")
            self._writer.join()
            self._writer = None
        if self.layout is not None:
            munmap(self.layout.base, self.layout.total)
            self.layout = None  # type: ignore[assignment]
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Loaded:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: the last base each experiment (by knob key) was mapped at, and the programs built for them
#: (a ring of 10^4 slots takes a second to generate; interleaved rounds map it again and again)
_BUILT_AT: dict[str, int] = {}
_PROGRAMS: dict[tuple[str, int], Program] = {}
_PROGRAMS_KEPT = 32


def _built(exp: Experiment, key: str, lay: codegen.Layout) -> Program:
    program = _PROGRAMS.get((key, lay.base))
    if program is None or program.layout != lay:
        program = codegen.build(exp, lay)
        if len(_PROGRAMS) >= _PROGRAMS_KEPT:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
        _PROGRAMS[(key, lay.base)] = program
    _BUILT_AT[key] = lay.base
    return program


def rdtsc_function() -> tuple[Callable[[], int], int, int]:
    """A standalone ``uint64_t rdtsc(void)`` (for TSC calibration): (fn, address, size)."""
    size = 4096
    addr = mmap(size, PROT_READ | PROT_WRITE)
    write(addr, codegen.build_rdtsc(addr))
    mprotect(addr, size, PROT_READ | PROT_EXEC)
    return ctypes.CFUNCTYPE(ctypes.c_uint64)(addr), addr, size


__all__ = ["Loaded", "rdtsc_function", "mmap", "mprotect", "munmap", "write", "GAP"]
