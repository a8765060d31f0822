"""The jitdump (SMCLAB_JITDUMP): read back by a parser of its own written from Linux's
jitdump specification: the header, one JIT_CODE_LOAD record per buffer of each loaded
experiment with its address, size, name and the bytes in memory, the file mapped executable
(how perf finds it); off by default and never a reason to fail."""

import ctypes
import os
import struct
import threading
import time
from pathlib import Path

from smclab.model.experiment import Experiment
from smclab.run import jitdump, native


def parse(data: bytes) -> tuple[dict, list[dict]]:
    """The header and the records of a jitdump (tools/perf/Documentation/
    jitdump-specification.txt: little-endian on x86-64)."""
    keys = ("magic", "version", "total_size", "elf_mach", "pad1", "pid", "timestamp", "flags")
    header = dict(zip(keys, struct.unpack_from("<IIIIIIQQ", data), strict=True))
    records, at = [], header["total_size"]
    while at < len(data):
        kind, total, stamp = struct.unpack_from("<IIQ", data, at)
        body = data[at + 16 : at + total]
        assert kind == 0 and len(body) == total - 16, "a JIT_CODE_LOAD record, whole"
        pid, tid, vma, addr, size, index = struct.unpack_from("<IIQQQQ", body)
        end = body.index(b"\0", 40)
        records.append(
            {
                "timestamp": stamp,
                "pid": pid,
                "tid": tid,
                "vma": vma,
                "code_addr": addr,
                "code_size": size,
                "code_index": index,
                "name": body[40:end].decode(),
                "code": body[end + 1 :],
            }
        )
        at += total
    return header, records


def _mapped_executable(p: Path) -> bool:
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith(str(p)):
            return "x" in line.split()[1]
    return False


def test_a_record_per_buffer_with_its_address_size_and_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("SMCLAB_JITDUMP", str(tmp_path))
    start = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    loads = []
    try:
        for exp in (
            Experiment(workload="jit-block", strategy="mprotect-flip"),
            Experiment(buffer=8192, step=64),
        ):
            with native.Loaded(exp) as loaded:
                program, lay = loaded.program, loaded.layout
                symbols = program.symbols()
                memory = [ctypes.string_at(a, n) for a, n, _ in symbols]
                loop = next(s for s in symbols if s[2].startswith("smclab loop"))
                # the loop's bytes are the code generated for it, where it was written
                assert (
                    memory[symbols.index(loop)]
                    == program.code[loop[0] - lay.code : loop[0] - lay.code + loop[1]]
                )
                loads += [(s, m) for s, m in zip(symbols, memory, strict=True)]
        target = tmp_path / f"jit-{os.getpid()}.dump"
        assert _mapped_executable(target)  # what perf record sees
        header, records = parse(target.read_bytes())
    finally:
        jitdump.close()
    end = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    assert not _mapped_executable(target)
    assert header == {
        "magic": 0x4A695444,
        "version": 1,
        "total_size": 40,
        "elf_mach": 62,  # EM_X86_64
        "pad1": 0,
        "pid": os.getpid(),
        "timestamp": header["timestamp"],
        "flags": 0,
    }
    assert len(records) == len(loads) == 6  # block, loop, exec buffer; payload, loop, exec
    stamps = [header["timestamp"]] + [r["timestamp"] for r in records]
    assert start <= stamps[0] and stamps == sorted(stamps) and stamps[-1] <= end
    for i, (r, ((address, size, name), code)) in enumerate(zip(records, loads, strict=True)):
        assert (r["vma"], r["code_addr"], r["code_size"], r["code_index"]) == (
            address,
            address,
            size,
            i,
        )
        assert (r["pid"], r["tid"]) == (os.getpid(), threading.get_native_id())
        assert r["name"] == name and r["code"] == code, name
    assert records[-1]["name"] == "smclab exec-buffer (written code) [8K/64]"


def test_off_by_default_and_never_a_reason_to_fail(tmp_path, monkeypatch):
    code = ctypes.create_string_buffer(b"\xc3")
    symbols = [(ctypes.addressof(code), 1, "x")]
    monkeypatch.delenv("SMCLAB_JITDUMP", raising=False)
    assert jitdump.folder() is None and jitdump.publish(symbols) is None
    monkeypatch.setenv("SMCLAB_JITDUMP", "0")
    assert jitdump.publish(symbols) is None
    monkeypatch.setenv("SMCLAB_JITDUMP", "1")
    assert jitdump.folder() == Path("/tmp")
    # a link where the dump goes (another user's trap in /tmp) is not followed: no dump
    monkeypatch.setenv("SMCLAB_JITDUMP", str(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"kept")
    (tmp_path / f"jit-{os.getpid()}.dump").symlink_to(elsewhere)
    try:
        assert jitdump.publish(symbols) is None
    finally:
        jitdump.close()
    assert elsewhere.read_bytes() == b"kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", f"jit-{os.getpid()}.dump"]
    # a folder on a noexec mount refuses the executable mapping: no dump (perf would not find
    # it), no file
    (tmp_path / f"jit-{os.getpid()}.dump").unlink()

    def noexec(*args, **kw):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(jitdump.mmap, "mmap", noexec)
    try:
        assert jitdump.publish(symbols) is None
    finally:
        jitdump.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere"]
