"""The perf map: every generated buffer named in /tmp/perf-<pid>.map by the worker (on by
default), entries replaced where new code overlaps them, off with SMCLAB_PERF_MAP=0."""

import os

from smclab import codegen
from smclab.model.experiment import Experiment
from smclab.run import perfmap
from smclab.run.worker import Runner


def test_symbols_name_the_loop_payload_writer_and_exec_buffer():
    p = codegen.build(Experiment(workload="patch", patch_kind="cross"))
    names = [name for _, _, name in p.symbols()]
    tag = f"[{p.experiment.label()}]"
    assert f"smclab loop {tag}" in names and f"smclab writer {tag}" in names
    assert f"smclab exec-buffer (written code) {tag}" in names
    loop = next(s for s in p.symbols() if s[2].startswith("smclab loop"))
    assert loop[0] == p.entry_addr  # the timed function is the loop's symbol
    seed = [name for _, _, name in codegen.build(Experiment()).symbols()]
    assert seed == [
        "smclab payload [4K/0]",
        "smclab loop [4K/0]",
        "smclab exec-buffer (written code) [4K/0]",
    ]


def test_publish_replaces_what_new_code_overlaps(tmp_path, monkeypatch):
    monkeypatch.setenv("SMCLAB_PERF_MAP", "1")
    pid = 10**9 + os.getpid()  # no live process has it
    target = perfmap.path(pid)
    try:
        perfmap.publish([(0x1000, 0x100, "old a"), (0x3000, 0x10, "old b")], pid)
        perfmap.publish([(0x1080, 0x100, "new  one")], pid)
        assert target.read_text() == "3000 10 old b\n1080 100 new one\n"
        assert perfmap.read(target) == [(0x3000, 0x10, "old b"), (0x1080, 0x100, "new one")]
        monkeypatch.setenv("SMCLAB_PERF_MAP", "0")
        assert perfmap.publish([(0x5000, 1, "x")], pid) is None
        assert "x" not in target.read_text()
    finally:
        target.unlink(missing_ok=True)


def test_the_worker_writes_its_perf_map_by_default(monkeypatch):
    monkeypatch.delenv("SMCLAB_PERF_MAP")
    exp = Experiment(workload="jit-block", strategy="mprotect-flip", iterations=100, repeats=1)
    with Runner() as runner:
        tsc_hz = runner.tsc_hz()
        target = perfmap.path(runner._get().proc.pid)
        try:
            result = runner.measure(exp, {"tsc_hz": tsc_hz})
            assert result.error is None, result.error
            names = [name for _, _, name in perfmap.read(target)]
        finally:
            target.unlink(missing_ok=True)
    label = exp.label()
    assert names == [
        f"smclab block [{label}]",
        f"smclab loop [{label}]",
        f"smclab exec-buffer (written code) [{label}]",
    ]
