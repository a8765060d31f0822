"""A jitdump of the generated code, so ``perf inject --jit`` can annotate it.

Where the perf map (:mod:`smclab.run.perfmap`) only names address ranges, a jitdump also holds
each range's bytes, which is what ``perf annotate`` needs to show the generated instructions.
The format is Linux's (``tools/perf/Documentation/jitdump-specification.txt``): a header, then
one ``JIT_CODE_LOAD`` record per buffer of each experiment the worker loads (the same symbols
as the perf map: :meth:`smclab.codegen.program.Program.symbols`), with the bytes as they lie
in memory once loaded (the exec buffer pre-filled), stamped with ``CLOCK_MONOTONIC``, the clock
of ``perf record -k 1``. A later record at the same address replaces the earlier one from its
time stamp on, so every experiment of a sweep is annotated with its own code.

perf finds the file through this process's mapping of it (executable, as the specification
asks), so it is mapped for as long as the process runs and stays afterwards. Off by default;
``SMCLAB_JITDUMP=1`` writes ``/tmp/jit-<pid>.dump``, ``SMCLAB_JITDUMP=FOLDER`` (an existing
folder) ``FOLDER/jit-<pid>.dump``. Then::

    perf record -k 1 -e task-clock -o perf.data -- smclab run ...
    perf inject --jit -i perf.data -o perf.jit.data
    perf annotate -i perf.jit.data
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from smclab.run.perfmap import Symbol

MAGIC = 0x4A695444  # "JiTD" as a little-endian u32
VERSION = 1
EM_X86_64 = 62
CODE_LOAD = 0
#: magic, version, total_size, elf_mach, pad1, pid, timestamp, flags
HEADER = struct.Struct("<IIIIIIQQ")
#: id, total_size, timestamp
RECORD = struct.Struct("<IIQ")
#: pid, tid, vma, code_addr, code_size, code_index (then the name, NUL-terminated, the bytes)
CODE = struct.Struct("<IIQQQQ")


def folder() -> Path | None:
    """Where the jitdump goes, None when it is off (``SMCLAB_JITDUMP`` unset or ``0``)."""
    value = os.environ.get("SMCLAB_JITDUMP", "0")
    if value in ("", "0"):
        return None
    return Path(value) if value != "1" and os.path.isdir(value) else Path("/tmp")


def path(pid: int | None = None, where: Path | None = None) -> Path:
    return (where or Path("/tmp")) / f"jit-{pid or os.getpid()}.dump"


def _now() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


class _Dump:
    """This process's open jitdump: the file, its executable mapping, the next code index."""

    def __init__(self, target: Path) -> None:
        self.pid = os.getpid()
        self.path = target
        self.index = 0
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        self.fd = os.open(target, flags, 0o644)
        try:
            os.write(
                self.fd, HEADER.pack(MAGIC, VERSION, HEADER.size, EM_X86_64, 0, self.pid, _now(), 0)
            )
            # what perf record sees: an executable mapping of a file named jit-<pid>.dump
            self.marker = mmap.mmap(
                self.fd, HEADER.size, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_EXEC
            )
        except BaseException:
            os.close(self.fd)
            target.unlink(missing_ok=True)  # without its mapping perf would not find it
            raise

    def add(self, symbols: Iterable[Symbol]) -> None:
        tid = threading.get_native_id()
        out = []
        for address, size, name in symbols:
            if size <= 0:
                continue
            text = " ".join(name.split()).encode() + b"\0"
            total = RECORD.size + CODE.size + len(text) + size
            out.append(RECORD.pack(CODE_LOAD, total, _now()))
            out.append(CODE.pack(self.pid, tid, address, address, size, self.index))
            out += [text, ctypes.string_at(address, size)]
            self.index += 1
        data = b"".join(out)
        while data:  # one write as a rule; perf reads whole records only
            data = data[os.write(self.fd, data) :]

    def close(self) -> None:
        self.marker.close()
        os.close(self.fd)


_dump: _Dump | None = None


def publish(symbols: Iterable[Symbol]) -> Path | None:
    """Add a ``JIT_CODE_LOAD`` record for each of ``symbols`` (address, size, name: mapped and
    readable in this process) to this process's jitdump, made on first use. None when it is
    off or cannot be written (a jitdump is a convenience, never a reason to fail a run: a
    folder on a ``noexec`` mount, for one, refuses the executable mapping perf looks for)."""
    global _dump
    where = folder()
    if where is None:
        return None
    try:
        if _dump is None or _dump.pid != os.getpid() or _dump.path.parent != where:
            close()
            _dump = _Dump(path(where=where))
        _dump.add(symbols)
    except (OSError, ValueError):
        close()
        return None
    return _dump.path


def close() -> None:
    """Close this process's jitdump (the file stays: perf reads it after the process ends)."""
    global _dump
    if _dump is not None and _dump.pid == os.getpid():
        _dump.close()
    _dump = None
