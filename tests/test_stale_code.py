"""The stale-code probe: its machine code, its arithmetic, its findings on synthetic outcomes
(stale, torn, none), its storage, and live runs asserting only what every x86 guarantees."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import run_cli
from test_processes import children, gone, wait_for

from smclab.codegen import stale as gen
from smclab.errors import SpecError
from smclab.isa.asm import decode_listing
from smclab.run import machine
from smclab.run.worker import Runner, WorkerError
from smclab.store import open_store
from smclab.suites.diagnose import PROBES
from smclab.suites.diagnose import stale_code as sc
from smclab.suites.sweep import Observer

BASE = 0x7F0000000000
TWO_CPUS = len(machine.usable_cpus()) >= 2
needs_two = pytest.mark.skipif(not TWO_CPUS, reason="needs two CPUs")
worker = pytest.mark.worker  # runs generated code in a worker process


# -- the machine code -------------------------------------------------------------------------


def test_versions_and_the_reference_classification():
    w = gen.version_word(5)
    assert w & 0xFFFFFFFF == 5 and w >> 32 == 5 * gen.CHECK & 0xFFFFFFFF
    assert gen.site_bytes(5) == bytes.fromhex("48b8") + w.to_bytes(8, "little") + b"\xc3"
    assert gen.classify(5, gen.version_word(5)) == "fresh"
    assert gen.classify(5, gen.version_word(9)) == "fresh"  # newer than the data word showed
    assert gen.classify(5, gen.version_word(4)) == "stale"
    assert gen.classify(0, gen.version_word(0xFFFFFFFF)) == "stale"  # across the wrap
    assert gen.classify(5, gen.FAULTED) == "torn"
    # the low half of one version with the high half of the next: what a split store leaves
    mixed = gen.version_word(7) & 0xFFFFFFFF | gen.version_word(8) & ~0xFFFFFFFF
    assert gen.classify(7, mixed) == "torn"


def test_a_variant_is_validated_and_named():
    v = gen.Variant("page", "xchg", "serialize", "membarrier")
    assert v.name == "page/xchg/serialize+membarrier"
    assert gen.Variant.from_dict(v.to_dict()) == v
    assert v.flags() == ("serialize",) and gen.Variant().flags() == ()
    assert gen.Variant("word", "mov", "cpuid").safe and gen.Variant(writer="membarrier").safe
    assert not gen.Variant("line", "mov", "cpuid").safe and not gen.Variant(protocol="lfence").safe
    with pytest.raises(SpecError, match="placement must be one of word, line, page"):
        gen.Variant("half")


@pytest.mark.parametrize(("placement", "at"), [("word", 0x48), ("line", 0x3C), ("page", 0xFFC)])
def test_the_patched_imm64_lies_where_the_placement_says(placement, at):
    v = gen.Variant(placement)
    imm = BASE + gen.PLACEMENTS[placement]
    assert imm % 4096 == at
    crosses_line = imm // 64 != (imm + 7) // 64
    assert (imm % 8 == 0, crosses_line) == {
        "word": (True, False),
        "line": (False, True),
        "page": (False, True),
    }[placement]
    assert gen.build(v, BASE).site + 2 == gen.PLACEMENTS[placement]


def _listing(v: gen.Variant) -> str:
    prog = gen.build(v, BASE)
    return "\n".join(line.text for line in decode_listing(prog.code, BASE))


@pytest.mark.parametrize(
    ("store", "text"), [("mov", "mov     [0x"), ("lock", "lock cmpxchg"), ("xchg", "xchg    [0x")]
)
def test_the_writer_stores_the_variants_way(store, text):
    prog = gen.build(gen.Variant("word", store), BASE)
    writer = decode_listing(prog.code[prog.writer : prog.guard], BASE + prog.writer)
    site = f"{BASE + gen.PLACEMENTS['word']:x}]"
    assert any(text in line.text and site in line.text for line in writer)
    assert not any("syscall" in line.text for line in writer)


def test_the_membarrier_writer_calls_it_between_patch_and_publish():
    prog = gen.build(gen.Variant(writer="membarrier"), BASE)
    writer = [
        ln.text for ln in decode_listing(prog.code[prog.writer : prog.guard], BASE + prog.writer)
    ]
    assert "mov     eax,0x144" in writer and "mov     edi,0x20" in writer  # SYNC_CORE
    call, publish = writer.index("syscall"), writer.index(f"mov     [{BASE + gen.CTL:#x}],r8")
    patch = next(i for i, t in enumerate(writer) if f"{BASE + gen.PLACEMENTS['word']:x}]" in t)
    assert patch < call < publish


@pytest.mark.parametrize("protocol", gen.PROTOCOLS)
def test_the_executing_loop_runs_its_protocol_before_the_call(protocol):
    text = _listing(gen.Variant(protocol=protocol)).splitlines()
    call = next(i for i, t in enumerate(text) if t.startswith("call"))
    load = next(i for i, t in enumerate(text) if t.startswith(f"mov     rbp,[{BASE + gen.CTL:#x}]"))
    between = text[load + 1 : call]
    if protocol == "none":
        assert not any(t.split()[0] in gen.PROTOCOLS for t in between)
    else:
        assert any(t.startswith(protocol) for t in between), between


def test_the_code_fits_its_page_for_every_variant():
    for quick in (True, False):
        for v in sc.variants(quick):
            prog = gen.build(v, BASE)
            assert 0 < len(prog.code) <= gen.PAGE and prog.run < prog.writer < prog.guard


# -- the arithmetic ---------------------------------------------------------------------------


def test_upper_bound_is_exact_at_zero_and_wilson_beyond():
    assert sc.upper95(0, 10**6) == pytest.approx(3e-6, rel=0.01)  # the rule of three
    assert sc.upper95(0, 10**7) * 1e7 == pytest.approx(2.9957, rel=1e-3)
    assert sc.upper95(0, 0) == 1.0
    assert 5e-6 < sc.upper95(5, 10**6) < 2e-5
    assert sc.upper95(10, 10) == 1.0
    assert sc.upper95(1, 10**6) > sc.upper95(0, 10**6)


# -- findings on synthetic outcomes -----------------------------------------------------------


def outcome(name: str, runs: int, stale: int = 0, torn: int = 0, tpr: float = 30.0, **kw):
    placement, store, rest = name.split("/")
    protocol, _, mb = rest.partition("+")
    o = sc.Outcome(gen.Variant(placement, store, protocol, mb or "plain"))
    o.runs, o.stale, o.torn, o.ticks = runs, stale, torn, round(runs * tpr)
    o.rounds = kw.pop("rounds", [tpr] * 5)
    for k, v in kw.items():
        setattr(o, k, v)
    return o


def synthetic(stale: int = 0, torn_line: int = 0) -> list:
    return [
        outcome("word/mov/none", 10**7, stale=stale, tpr=30, rounds=[30, 31, 29, 30, 30], new=9000),
        outcome("word/xchg/none", 10**6),
        outcome("line/mov/none", 10**6, torn=torn_line),
        outcome("word/mov/cpuid", 10**4, tpr=30000, rounds=[3e4] * 5),
        outcome("word/mov/serialize", 10**6, tpr=600, rounds=[600, 610, 590, 600, 620]),
        outcome("word/mov/lfence", 10**6, tpr=150),
        outcome(
            "word/mov/none+membarrier",
            10**7,
            tpr=20,
            membarrier_calls=1000,
            membarrier_ticks=4_500_000,
        ),
        sc.Outcome(gen.Variant("page", "mov"), unavailable="this CPU has no serialize"),
    ]


def test_no_stale_code_says_zero_with_its_bound():
    first, cost = sc.findings_of(synthetic(), {})
    assert first.text.startswith("No stale code seen.")
    assert "as fast as it could (9,000 of the runs right after a new version)" in first.text
    assert "stale 0 of 12,000,000 runs (< 0.25 per million at 95%)" in first.text
    assert "stale or torn 0 of 11,000,000 runs" in first.text
    assert "64-byte line came out torn 0 of 1,000,000 runs" in first.text
    assert first.confidence == "high"
    assert first.numbers["skipped"]["stale"] == 0
    assert first.numbers["skipped"]["stale_upper95"] == pytest.approx(sc.upper95(0, 12 * 10**6))
    assert len(first.numbers["variants"]) == 8
    # the cost side: serialize is the cheapest serializing instruction, membarrier breaks even
    assert "serialize: 600 ticks per run against 30 without (+570)" in cost.text
    assert "membarrier(SYNC_CORE) costs the writer 4500 ticks per patch" in cost.text
    assert "once a patch runs more than 8x" in cost.text
    assert "lfence (not serializing by the book) 150 ticks per run" in cost.text
    assert cost.numbers["break_even_runs_per_patch"] == pytest.approx(4500 / 570)
    assert cost.numbers["cheapest_serializing"]["protocol"] == "serialize"
    assert cost.confidence == "high"  # every round of serialize costs more than no protocol


def test_an_unavailable_protocol_is_said_with_its_reason():
    outs = synthetic()[:-2]  # no membarrier writer ...
    outs.append(
        sc.Outcome(gen.Variant(writer="membarrier"), unavailable="membarrier(QUERY) failed: EPERM")
    )
    _, cost = sc.findings_of(outs, {})
    assert "; membarrier: unavailable: membarrier(QUERY) failed: EPERM." in cost.text
    assert "membarrier(SYNC_CORE) costs" not in cost.text
    assert cost.numbers["unavailable"] == {
        "word/mov/none+membarrier": "membarrier(QUERY) failed: EPERM"
    }


def test_a_membarrier_cheaper_than_one_serializing_run_is_said_so():
    outs = synthetic()
    outs[6].membarrier_ticks = 300_000  # 300 ticks per call, serialize costs +570 per run
    _, cost = sc.findings_of(outs, {})
    assert "so membarrier is the cheaper even for a patch that runs once" in cost.text


def test_stale_runs_are_said_with_their_rate():
    first, _ = sc.findings_of(synthetic(stale=42), {})
    assert first.text.startswith("This CPU ran stale code.")
    assert "stale 42 of 12,000,000 runs (3.5 per million)" in first.text
    assert "stale or torn 42 of 11,000,000 runs" in first.text
    assert first.numbers["skipped"]["stale"] == 42


def test_torn_patches_across_a_line_are_said():
    first, _ = sc.findings_of(synthetic(torn_line=1300), {})
    assert "64-byte line came out torn 1,300 of 1,000,000 runs (1.3e+03 per million)" in first.text
    assert first.text.startswith("No stale code seen.")
    assert first.numbers["split"]["line"]["torn"] == 1300


def test_a_slow_split_lock_is_said_only_when_measured_beside_a_plain_store():
    outs = synthetic()
    assert "split lock" not in sc.findings_of(outs, {})[0].text  # no locked store across it
    outs += [outcome("line/xchg/none", 10**6, patches=1000)]
    outs[2].patches = 50_000
    first = sc.findings_of(outs, {})[0]
    assert "a locked store across it (a split lock) patched 50x less often" in first.text
    assert first.numbers["split"]["line"]["locked_patch_rate"] == 0.02


def test_costs_that_do_not_hold_in_every_round_are_low_confidence():
    outs = synthetic()
    outs[4].rounds = [600, 20, 600, 600, 600]  # one round cheaper than no protocol
    assert sc.findings_of(outs, {})[1].confidence == "low"


def test_nothing_measured_gives_no_finding():
    assert sc.findings_of([], {}) == []
    assert sc.findings_of([sc.Outcome(gen.Variant(), error="SIGBUS")], {}) == []


def test_rows_round_trip_to_the_same_findings():
    outs = synthetic(stale=3)
    rows = [o.to_dict() for o in outs]
    assert json.loads(json.dumps(rows)) == rows
    assert [f.text for f in sc.row_findings(rows, {})] == [f.text for f in sc.findings_of(outs, {})]
    row = rows[0]
    assert row["stale_per_million"] == pytest.approx(0.3) and row["ticks_per_run"] == 30


# -- running it (a scripted worker) and storing it -------------------------------------------


class ScriptedRunner:
    def __init__(self, replies):
        self.replies, self.asked = replies, []

    def request(self, req, timeout=None):
        self.asked.append(req)
        got = self.replies(gen.Variant.from_dict(req["variant"]))
        if isinstance(got, BaseException):
            raise got
        return got


class ScriptedSession:
    def __init__(self, db, replies, flags=("serialize",)):
        self.store = open_store(db, create=True)
        self.runner = ScriptedRunner(replies)
        self.flags = frozenset(flags)
        self.host = {"model_name": "Synthetic CPU", "family": 6, "model": 0xCF}


def reply(v: gen.Variant) -> dict:
    if v.writer == "membarrier":
        return {"ok": True, "unavailable": "membarrier(QUERY) failed: no such call"}
    if v.placement == "page" and v.store == "xchg":
        return WorkerError("SIGBUS: the worker was killed by a signal")
    counts = dict.fromkeys(
        ("stale", "torn", "faults", "new", "membarrier_calls", "membarrier_ticks"), 0
    )
    return {
        "ok": True,
        **counts,
        "runs": 1000,
        "ticks": 30000,
        "patches": 5000,
        "stale": 1 if v.protocol == "none" else 0,
    }


class StopAfter(Observer):
    def __init__(self, n: int | None):
        self.n, self.seen = n, 0

    def progress(self, done, total):
        self.seen = done

    def stop(self):
        return signal.SIGINT if self.n is not None and self.seen >= self.n else None


def test_measure_runs_rounds_and_stores_them(tmp_path):
    s = ScriptedSession(tmp_path / "s.sqlite", reply, flags=())
    rows, interrupted = sc.measure(s, True, 0.1, "diagnose-x-stale-code", StopAfter(None))
    assert not interrupted
    by = {r["variant"]: r for r in rows}
    assert by["word/mov/serialize"]["unavailable"] == "this CPU has no serialize"
    assert by["word/mov/none+membarrier"]["unavailable"].startswith("membarrier(QUERY) failed")
    assert by["word/xchg/none"]["runs"] == 1000 * sc.QUICK_ROUNDS
    assert by["word/xchg/none"]["stale"] == sc.QUICK_ROUNDS
    assert by["word/xchg/none"]["rounds_ticks_per_run"] == [30.0] * sc.QUICK_ROUNDS
    # serialize was never asked for; membarrier and a dead worker once, not every round
    asked = [gen.Variant.from_dict(r["variant"]).name for r in s.runner.asked]
    assert "word/mov/serialize" not in asked
    assert asked.count("word/mov/none+membarrier") == 1
    with open_store(tmp_path / "s.sqlite", create=False) as st:
        sweep = st.sweep("diagnose-x-stale-code")
    assert sweep.status == "done" and sweep.total == len(sc.variants(True))
    assert [o.to_dict() for o in sc.from_columns(sweep.grid)] == rows


def test_the_stored_sweep_gives_the_findings_diagnose_printed(tmp_path):
    s = ScriptedSession(tmp_path / "s.sqlite", reply)
    rows, _ = sc.measure(s, False, 0.1, "d-stale-code", StopAfter(None))
    printed = sc.row_findings(rows, {})
    with open_store(tmp_path / "s.sqlite", create=False) as st:
        grid = st.sweep("d-stale-code").grid
        again = sc.findings_of(sc.from_columns(grid), sc.host_of(grid))
    assert sc.host_of(grid) == s.host
    assert [f.to_dict() for f in again] == [f.to_dict() for f in printed]
    assert printed[0].text.startswith("This CPU ran stale code.")  # the script's stale runs


def test_its_stored_sweep_is_no_grid_to_resume(tmp_path):
    from smclab.suites.sweep import stored_grid

    s = ScriptedSession(tmp_path / "s.sqlite", reply)
    sc.measure(s, True, 0.1, "diagnose-1-stale-code", StopAfter(1))
    with pytest.raises(SpecError, match="recorded by `smclab diagnose`, not by a grid"):
        stored_grid(s.store, "diagnose-1-stale-code")


def test_a_dead_worker_is_an_error_of_its_variant_only(tmp_path):
    s = ScriptedSession(tmp_path / "s.sqlite", reply)
    rows, _ = sc.measure(s, False, 0.1, "d-stale-code", StopAfter(None))
    by = {r["variant"]: r for r in rows}
    assert by["page/xchg/none"]["error"].startswith("SIGBUS")
    assert by["page/lock/none"]["error"] is None and by["page/lock/none"]["runs"] > 0


def test_a_stop_between_slices_ends_it_interrupted_with_what_it_has(tmp_path):
    s = ScriptedSession(tmp_path / "s.sqlite", reply)
    rows, interrupted = sc.measure(s, True, 0.1, "d-stale-code", StopAfter(3))
    assert interrupted and len(s.runner.asked) == 3
    assert sum(r["runs"] for r in rows) == 3000
    with open_store(tmp_path / "s.sqlite", create=False) as st:
        assert st.sweep("d-stale-code").status == "interrupted"


def test_a_second_signal_stops_at_once_and_keeps_what_was_done(tmp_path):
    from smclab.run.interrupt import Interrupted

    asked = []

    def replies(v):
        asked.append(v)
        return Interrupted(signal.SIGINT) if len(asked) == 3 else reply(v)

    s = ScriptedSession(tmp_path / "s.sqlite", replies)
    with pytest.raises(Interrupted):
        sc.measure(s, True, 0.1, "d-stale-code", StopAfter(None))
    with open_store(tmp_path / "s.sqlite", create=False) as st:
        sw = st.sweep("d-stale-code")
    assert sw.status == "interrupted"
    assert sum(o.runs for o in sc.from_columns(sw.grid)) == 2000  # the two slices before


def test_no_second_cpu_for_the_writer_skips_the_probe_with_the_reason(tmp_path, monkeypatch):
    from smclab.suites.diagnose import runner

    why = "needs a second CPU: the writer cannot run on cpu 1: [Errno 22] Invalid argument"
    s = ScriptedSession(
        tmp_path / "s.sqlite", lambda v: {"ok": True, "unavailable": why, "cpu": False}, flags=()
    )
    s.runner.asked = []
    monkeypatch.setattr(runner.machine, "usable_cpus", lambda: {0, 1})
    d = runner.run_diagnose(s, quick=True, only=("stale-code",), budget=0.1)
    (pr,) = d.probes
    assert pr.skipped == why and d.findings == []
    assert len(s.runner.asked) == 1  # one try, not one per variant and round
    assert {r["unavailable"] for r in pr.rows} == {why, "this CPU has no serialize"}


def test_the_probe_skips_with_one_cpu():
    assert PROBES["stale-code"].plan(True, 1).needs == "needs two CPUs (this host has one usable)"
    assert PROBES["stale-code"].plan(True, 2).needs is None


# -- live: only what every x86 guarantees -------------------------------------------------------


@worker
@needs_two
def test_live_the_full_protocol_never_runs_stale_or_torn_code():
    flags = machine.cpu_flags()
    safe = [gen.Variant("word", "mov", "cpuid"), gen.Variant("word", "lock", "cpuid")]
    safe += [gen.Variant("word", "mov", "serialize")] if "serialize" in flags else []
    safe.append(gen.Variant("word", "xchg", writer="membarrier"))
    new = 0
    with Runner() as r:
        for v in safe:
            got = r.request({"op": "stale-code", "variant": v.to_dict(), "seconds": 0.15}, 30)
            assert got["ok"], got
            if v.writer == "membarrier" and got.get("unavailable"):
                assert "membarrier" in got["unavailable"]
                continue
            assert got["runs"] > 0 and got["patches"] > 0, (v.name, got)
            assert (got["stale"], got["torn"], got["faults"]) == (0, 0, 0), (v.name, got)
            assert 0 <= got["new"] <= got["runs"]
            new += got["new"]
            if v.writer == "membarrier":
                assert got["membarrier_calls"] > 0 and got["membarrier_ticks"] > 0
        # without a protocol the counts are what they are; they only add up
        got = r.request(
            {
                "op": "stale-code",
                "variant": {
                    "placement": "line",
                    "store": "mov",
                    "protocol": "none",
                    "writer": "plain",
                },
                "seconds": 0.1,
            },
            30,
        )
        assert got["ok"] and got["stale"] + got["torn"] <= got["runs"]
    assert new > 0  # some runs did follow a new version: the protocol was put to the test


GUARDED_FAULT = """
import ctypes, sys
from smclab.codegen import stale as gen
from smclab.run import stale
gen.site_bytes = lambda v: bytes.fromhex("0f0b") + bytes(9)  # ud2: every run faults
got = stale.run(gen.Variant(), 0.05, {cpu})
print(got["runs"], got["faults"], got["torn"], got["stale"], flush=True)
if sys.argv[1:] == ["foreign"]:
    from smclab.run import native
    base = native.mmap(gen.SIZE, native.PROT_READ | native.PROT_WRITE)
    native.write(base, gen.build(gen.Variant(), base).code)
    native.mprotect(base, gen.PAGE, native.PROT_READ | native.PROT_EXEC)
    with stale._Guard(base + gen.build(gen.Variant(), base).guard):
        ctypes.string_at(8)  # a fault outside the site: the guard must not swallow it
"""


@worker
@needs_two
@pytest.mark.parametrize("foreign", [False, True])
def test_a_fault_in_the_site_is_counted_and_one_elsewhere_still_kills(foreign):
    cpu = max(os.sched_getaffinity(0))
    code = textwrap.dedent(GUARDED_FAULT).format(cpu=cpu)
    p = subprocess.run(
        [sys.executable, "-c", code, *(["foreign"] if foreign else [])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    runs, faults, torn, stale = map(int, p.stdout.split())
    assert runs > 0 and faults == runs == torn and stale == 0
    assert p.returncode == (-signal.SIGSEGV if foreign else 0), p.stderr


@worker
@needs_two
@pytest.mark.parametrize(("sig", "rc"), [(signal.SIGINT, 130), (signal.SIGKILL, -9)])
def test_a_signal_ends_the_probe_and_its_threads(sig, rc, tmp_path):
    db = str(tmp_path / "i.sqlite")
    cmd = [
        sys.executable,
        "-m",
        "smclab",
        "diagnose",
        "--probe",
        "stale-code",
        "--budget",
        "600",
        "--db",
        db,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def writer_running() -> int | None:
        for pid in children(proc.pid):
            try:
                if len(os.listdir(f"/proc/{pid}/task")) >= 3:  # main, parent watch, writer
                    return pid
            except FileNotFoundError:
                pass
        return None

    worker = wait_for("the writer thread to run", writer_running, limit=60)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == rc, err
    wait_for("the worker (and its writer thread) to end", lambda: gone(worker), limit=5)
    if sig != signal.SIGKILL:
        assert "Traceback" not in err
        with open_store(db, create=False) as s:
            (sw,) = [x for x in s.sweeps() if x.id.endswith("-stale-code")]
        assert sw.status == "interrupted"


@worker
@needs_two
def test_cli_json_reports_every_variant(tmp_path):
    p = run_cli(
        "diagnose",
        "--probe",
        "stale-code",
        "--quick",
        "--budget",
        "1",
        "--json",
        "--db",
        str(tmp_path / "j.sqlite"),
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    (probe,) = json.loads(p.stdout)["probes"]
    names = [r["variant"] for r in probe["rows"]]
    assert names == [v.name for v in sc.variants(True)]
    for r in probe["rows"]:
        if r["unavailable"]:
            continue
        assert r["runs"] > 0 and r["ticks_per_run"] > 0, r
        assert r["stale_upper95_per_million"] > 0 and r["torn_upper95_per_million"] > 0
    word = {
        r["protocol"]: r
        for r in probe["rows"]
        if r["placement"] == "word" and r["store"] == "mov" and r["writer"] == "plain"
    }
    assert word["cpuid"]["stale"] == word["cpuid"]["torn"] == 0


# -- the safe protocols in the patch workload (advise --workload patch) --------------------------


def test_the_patch_workloads_membarrier_writer_calls_it_before_acknowledging():
    from smclab import codegen
    from smclab.model.experiment import Experiment

    def texts(xmc: str) -> list[str]:
        prog = codegen.build(Experiment(workload="patch", patch_kind="cross", xmc=xmc))
        return [line.text for _, line in prog.listing()]

    lines = texts("membarrier")
    call = lines.index("syscall")
    assert "mov     edi,0x20" in lines[call - 3 : call]  # PRIVATE_EXPEDITED_SYNC_CORE
    patch = max(i for i, t in enumerate(lines[:call]) if t == "mov     [rdx],r8d")
    ack = next(i for i, t in enumerate(lines) if i > call and t == "mov     [rdi],rax")
    assert patch < call < ack
    # the executing side waits for the acknowledgement and serializes nothing itself
    assert "cpuid" in texts("cpuid") and "cpuid" not in lines and "serialize" not in lines
    assert "syscall" not in texts("cpuid")


def test_advise_patch_offers_the_safe_protocols_with_their_recipe():
    from smclab.model.experiment import Experiment
    from smclab.suites.workarounds import SETS

    s = SETS["patch"]
    space, named = s.search_space({})
    ids = [named(p).id for p in space.points()]
    assert {"cross-xmc-cpuid", "cross-xmc-serialize", "cross-xmc-membarrier"} <= set(ids)
    naive = Experiment(workload="patch")
    how = s.how_to(Experiment(workload="patch", patch_kind="cross", xmc="membarrier"), naive, {})
    assert "membarrier(PRIVATE_EXPEDITED_SYNC_CORE) after the patch" in how


def test_a_membarrier_writer_without_the_kernels_support_is_unavailable(monkeypatch):
    from smclab.model.experiment import Experiment
    from smclab.run import native

    monkeypatch.setattr(native, "_membarrier", ["membarrier(QUERY) failed: seccomp"])
    exp = Experiment(workload="patch", patch_kind="cross", xmc="membarrier")
    with pytest.raises(OSError, match="membarrier unavailable: membarrier.QUERY. failed"):
        native.Loaded(exp, writer_cpu=0)
    got = __import__("smclab.run.stale", fromlist=["run"]).run(
        gen.Variant(writer="membarrier"), 1, 0
    )
    assert got == {"unavailable": "membarrier(QUERY) failed: seccomp"}
