"""W^X by mprotect flipping (jit-block and jit-emit): the listing issues mprotect RW before the
write and RX before the call; run for real, the loop makes a read-only region writable and
leaves it executable and not writable; a failing mprotect ends the process with its own status;
and the one direction every x86 Linux host shows (flip > a call alone), by a sign test over
interleaved rounds."""

import ctypes
import multiprocessing
import re

import pytest
from conftest import measured_together

from smclab import codegen
from smclab.isa.strategies import EMIT_STRATEGIES, STRATEGIES
from smclab.model.experiment import Experiment
from smclab.model.rounds import compare_rounds
from smclab.suites.catalog import VARIANTS
from smclab.suites.workarounds import SETS
from smclab.workloads.jit_block import codegen as jit
from smclab.workloads.jit_emit import codegen as emit

FLIPS = ("mprotect-flip", "mprotect-flip-8p", "mprotect-flip-64p")
PAGE = 4096


def _syscalls(listing: str) -> list[tuple[int, int, int]]:
    """(line number, rsi, rdx) of each mprotect (eax = 10) in a listing."""
    lines = listing.splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.rstrip().endswith("syscall") and "mov     eax,0xa" in lines[i - 4]:
            rsi = int(re.search(r"mov     esi,(\w+)", lines[i - 2])[1], 0)  # type: ignore[index]
            rdx = int(re.search(r"mov     edx,(\w+)", lines[i - 1])[1], 0)  # type: ignore[index]
            out.append((i, rsi, rdx))
    return out


@pytest.mark.parametrize("workload", ["jit-block", "jit-emit"])
@pytest.mark.parametrize("sid,pages", [("mprotect-flip", 1), ("mprotect-flip-64p", 64)])
def test_the_listing_flips_rw_before_the_write_and_rx_before_the_call(workload, sid, pages):
    exp = Experiment(workload=workload, strategy=sid)
    text = codegen.build(exp).listing_text()
    (rw_at, rw_len, rw), (rx_at, rx_len, rx) = _syscalls(text)
    assert (rw, rx) == (jit.PROT_RW, jit.PROT_RX)
    assert rw_len == rx_len == pages * PAGE
    lines = text.splitlines()
    stores = [i for i, line in enumerate(lines) if re.search(r"mov +(\w+ ptr )?\[rdi", line)]
    call = next(i for i, line in enumerate(lines) if line.rstrip().endswith("call    r13"))
    assert rw_at < min(stores) and max(stores) < rx_at < call
    assert codegen.layout_for(exp).exec_size == pages * PAGE


def test_the_flips_are_strategies_of_both_workloads_and_advise_candidates():
    assert set(FLIPS) <= set(STRATEGIES) and set(FLIPS) <= set(EMIT_STRATEGIES)
    assert [STRATEGIES[s].flip_pages for s in FLIPS] == [1, 8, 64]
    for workload, prefix in (("jit-block", ""), ("jit-emit", "emit-")):
        space, named = SETS[workload].search_space({})
        ids = {named(p).id for p in space.points()}
        assert {f"{prefix}{s}" for s in FLIPS} | {f"{prefix}dual-map"} <= ids
        assert VARIANTS[f"{prefix}mprotect-flip"].workload == workload


def _maps_prot(addr: int) -> str:
    """The permissions /proc/self/maps gives the mapping holding ``addr``."""
    with open("/proc/self/maps") as f:
        for line in f:
            span, prot = line.split()[:2]
            lo, hi = (int(x, 16) for x in span.split("-"))
            if lo <= addr < hi:
                return prot
    raise AssertionError(f"{addr:#x} is not mapped")


def _child(knobs: dict, unmap_last: bool, queue) -> None:
    from smclab.run import native

    exp = Experiment(**knobs)
    with native.Loaded(exp) as loaded:
        lay = loaded.layout
        before = _maps_prot(lay.exec_buf)
        # read-only: only the loop's own mprotect can make it writable, then executable
        native.mprotect(lay.exec_buf, lay.exec_size, 1)
        if unmap_last:  # the flip's range now has a hole: mprotect fails with ENOMEM
            native.munmap(lay.exec_buf + lay.exec_size - PAGE, PAGE)
        loaded.run(3)
        block = ctypes.string_at(lay.exec_buf, exp.block)
        last = lay.exec_buf + lay.exec_size - 1
        queue.put((before, _maps_prot(lay.exec_buf), _maps_prot(last), block))


def _run(knobs: dict, unmap_last: bool = False) -> tuple[int | None, tuple | None]:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(knobs, unmap_last, queue))
    child.start()
    child.join(30)
    return child.exitcode, (queue.get(timeout=5) if child.exitcode == 0 else None)


@pytest.mark.parametrize(
    "knobs",
    [
        {"workload": "jit-block", "strategy": "mprotect-flip-8p"},
        {"workload": "jit-emit", "strategy": "mprotect-flip"},
    ],
    ids=lambda k: k["workload"],
)
def test_running_flips_a_read_only_region_and_leaves_it_executable_not_writable(knobs):
    status, got = _run(knobs)
    assert status == 0 and got is not None
    before, after, last_page, block = got
    assert before == "r-xp"  # W^X from the start: never writable and executable at once
    assert after == last_page == "r-xp"  # the loop's last flip covered every page
    exp = Experiment(**knobs)
    if exp.workload == "jit-emit":
        end = emit.plan(exp).ret_at + 1
        assert block[:end] == emit.block_bytes(exp, 1)[:end]  # written, so it was writable
    else:
        assert block == jit.block_template(exp, 0)


def test_a_failing_mprotect_ends_the_worker_with_its_own_status():
    status, _ = _run({"workload": "jit-block", "strategy": "mprotect-flip-8p"}, unmap_last=True)
    assert status == jit.EXIT_MPROTECT_FAILED


def test_flipping_costs_more_than_calling_a_block_never_written():
    """Two syscalls and a write a block are more work than a call alone on every x86 Linux
    host: a sign test over interleaved rounds, no magnitude. (Against ``plain``, writing into
    RWX memory, there is no such direction: on the Intel guest, where each SMC clear costs
    hundreds of ticks, the flip measured cheaper in 6 of 7 rounds.)"""
    floor, flip = measured_together(
        Experiment(workload="jit-block", strategy="call-only"),
        Experiment(workload="jit-block", strategy="mprotect-flip"),
    )
    c = compare_rounds(flip.round_values(), floor.round_values())
    assert c.verdict == "higher", c
