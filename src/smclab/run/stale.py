"""Running the ``stale-code`` probe's machine code (:mod:`smclab.codegen.stale`) in the worker.

The executing loop runs in the calling thread (the worker's, pinned to its CPU); the writer
runs in a second native thread pinned to another CPU. Both loops are generated code called
through ctypes (which releases the GIL), so no Python runs in either loop; the counts live in
the reservation's control page and are read when both have stopped. A fault in the site is
caught by the generated signal guard (installed for the run, the previous actions restored
after) and counted; a fault anywhere else ends the worker as it would have.

Only the worker process imports this module (it executes code).
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from typing import Any

from smclab.codegen import stale as gen
from smclab.run import native

#: signals the guard catches while the probe runs
GUARDED = (signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGTRAP)
SA_SIGINFO = 4
#: the executing loop runs in chunks of about this long (the budget is checked between them)
CHUNK_SECONDS = 0.01

_libc = ctypes.CDLL(None, use_errno=True)


class _SigAction(ctypes.Structure):  # glibc's struct sigaction on x86-64
    _fields_ = [
        ("handler", ctypes.c_void_p),
        ("mask", ctypes.c_ulong * 16),
        ("flags", ctypes.c_int),
        ("restorer", ctypes.c_void_p),
    ]


_libc.sigaction.argtypes = [ctypes.c_int, ctypes.POINTER(_SigAction), ctypes.POINTER(_SigAction)]


class _Guard:
    """The generated handler for :data:`GUARDED` while active; the old actions after."""

    def __init__(self, handler: int) -> None:
        self.new = _SigAction(handler=handler, flags=SA_SIGINFO)
        self.old = {s: _SigAction() for s in GUARDED}

    def __enter__(self) -> _Guard:
        for s in GUARDED:
            if _libc.sigaction(s, ctypes.byref(self.new), ctypes.byref(self.old[s])) != 0:
                raise OSError(ctypes.get_errno(), f"sigaction({s.name})")
        return self

    def __exit__(self, *exc: object) -> None:
        for s in GUARDED:
            _libc.sigaction(s, ctypes.byref(self.old[s]), None)


def _u64(addr: int) -> int:
    return int(ctypes.c_uint64.from_address(addr).value)


def run(v: gen.Variant, seconds: float, writer_cpu: int | None) -> dict[str, Any]:
    """Run the variant for about ``seconds``: runs, stale, torn, faults, ticks of the executing
    loop; the writer's patches, membarrier calls and their ticks. ``unavailable`` (with the
    reason, and nothing run) where the writer's membarrier or a second CPU is missing."""
    if writer_cpu is None:
        return {"unavailable": "needs a second CPU for the writer, and none is free", "cpu": False}
    if v.writer == "membarrier" and (why := native.membarrier_unavailable()):
        return {"unavailable": why}
    base = native.mmap(gen.SIZE, native.PROT_READ | native.PROT_WRITE)
    try:
        return _run(v, seconds, writer_cpu, base)
    finally:
        native.munmap(base, gen.SIZE)


def _run(v: gen.Variant, seconds: float, cpu: int, base: int) -> dict[str, Any]:
    prog = gen.build(v, base)
    native.write(base, prog.code)
    native.write(base + gen.SITES, b"\xcc" * 2 * gen.PAGE)  # int3 around the site
    native.write(base + prog.site, gen.site_bytes(0))
    native.mprotect(base, gen.PAGE, native.PROT_READ | native.PROT_EXEC)
    rwx = native.PROT_READ | native.PROT_WRITE | native.PROT_EXEC
    native.mprotect(base + gen.SITES, 2 * gen.PAGE, rwx)
    ctl = base + gen.CTL
    execute = native.RunFn(base + prog.run)
    runs = ticks = 0
    with _Guard(base + prog.guard):
        try:
            thread = native.start_pinned(base + prog.writer, cpu, "smclab-stale-writer")
        except OSError as e:
            why = f"needs a second CPU: the writer cannot run on cpu {cpu}: {e}"
            return {"unavailable": why, "cpu": False}
        try:
            chunk, end = 64, time.monotonic() + seconds
            while True:
                t0 = time.monotonic()
                ticks += execute(chunk)
                runs += chunk
                took = time.monotonic() - t0
                if t0 + took >= end or _u64(ctl + gen.MB_ERROR):
                    break
                grow = CHUNK_SECONDS / took if took > 0 else 16.0
                chunk = max(1, min(int(chunk * min(grow, 16.0)), 1 << 24))
        finally:
            native.write(ctl + gen.STOP, b"\x01")
            thread.join()
    mb_error = ctypes.c_int64.from_address(ctl + gen.MB_ERROR).value
    if mb_error:
        return {"unavailable": f"membarrier(SYNC_CORE) failed: {os.strerror(-mb_error)}"}
    return {
        "runs": runs,
        "stale": _u64(ctl + gen.STALE),
        "torn": _u64(ctl + gen.TORN),
        "faults": _u64(ctl + gen.FAULTS),
        "new": _u64(ctl + gen.NEW),
        "ticks": ticks,
        "patches": _u64(ctl + gen.PATCHES),
        "membarrier_calls": _u64(ctl + gen.MB_CALLS),
        "membarrier_ticks": _u64(ctl + gen.MB_TICKS),
        "writer_cpu": cpu,
    }
