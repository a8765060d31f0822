"""Every catalog variant: generated, listed, and (where this CPU can) run."""

import json

import pytest
from conftest import costs_more, measured_together, run_cli

from smclab import codegen
from smclab.errors import SpecError
from smclab.isa.asm import decode_listing
from smclab.model.experiment import Experiment
from smclab.run import machine
from smclab.run.worker import Runner
from smclab.suites.catalog import VARIANTS
from smclab.suites.session import check_experiment
from smclab.workloads.jit_block import codegen as jit

FLAGS = machine.cpu_flags()
#: what this host runs: its CPU flags and its usable CPUs (machine.usable_cpus: under
#: `taskset -c 0` the variants with a writer thread on a second CPU are left out, with why)
RUNNABLE = [v for v in VARIANTS.values() if v.reason(FLAGS, machine.second_cpu_missing()) is None]
MISSING = [v for v in VARIANTS.values() if v.missing(FLAGS)]


def test_catalog_is_large_and_covers_every_workload():
    assert len(VARIANTS) >= 40
    assert {v.workload for v in VARIANTS.values()} == {
        "seed",
        "jit-block",
        "jit-emit",
        "patch",
        "relocate",
    }
    assert {"plain", "reverse", "call-only", "dual-map", "remap", "rotate-64"} <= set(VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=lambda v: v.id)
def test_listing_has_the_promised_instructions(variant):
    program = codegen.build(variant.experiment())
    text = program.listing_text()
    assert variant.expects or variant.source_expects
    for needle in variant.expects:
        assert needle in text, (variant.id, needle)
    source = [line.text for line in decode_listing(program.source, program.source_addr)]
    for mnemonic in variant.source_expects:
        assert mnemonic in source, (variant.id, mnemonic)


@pytest.mark.parametrize(("pad", "raw"), [("int3", b"\xcc"), ("ud2", b"\x0f\x0b")])
def test_pad_variants_check_their_own_pad(pad, raw):
    variant = VARIANTS[f"seed-pad-{pad}"]
    assert variant.source_expects == (pad,)
    program = codegen.build(variant.experiment())
    assert program.source == b"\xc3" + (raw * 64)[:63]  # ret, then the pad (cut at 64 bytes)
    texts = [line.text for line in decode_listing(program.source, program.source_addr)]
    assert texts[0] == "ret" and texts[1:31] == [pad] * 30
    # the default payload (nop pad) would not pass this variant's check
    plain = codegen.build(Experiment())
    assert pad not in [line.text for line in decode_listing(plain.source, plain.source_addr)]


def test_block_template_is_adds_then_ret():
    exp = Experiment(workload="jit-block", strategy="ud2-guard", block=256)
    raw = jit.block_template(exp, 0x1000)
    assert len(raw) == 256
    texts = [line.text for line in decode_listing(raw, 0x1000)]
    assert texts[0] == "add     rax,1"
    assert texts[-2:] == ["ret", "ud2"]
    plain = jit.block_template(Experiment(workload="jit-block", block=256), 0x1000)
    assert plain.endswith(b"\xc3") and plain.count(bytes.fromhex("4883c001")) == 63


def test_evict_chain_jumps_line_to_line():
    chain = jit.evict_chain(256, 0x10000)
    lines = decode_listing(chain, 0x10000)
    jumps = [ln for ln in lines if ln.text.startswith("jmp")]
    assert [j.address for j in jumps] == [0x10000, 0x10040, 0x10080]
    assert jumps[0].text.endswith("0x0000000000010040")
    assert lines[-1].text == "int3" and chain[192] == 0xC3


def test_variants_this_cpu_lacks_are_rejected_before_running():
    cpu = machine.cpu_id()
    for v in MISSING:
        with pytest.raises(SpecError, match="which this CPU lacks"):
            check_experiment(v.experiment(), cpu, FLAGS)
    for v in RUNNABLE:
        check_experiment(v.experiment(), cpu, FLAGS)


def test_every_runnable_variant_runs():
    with Runner() as runner:
        host = machine.host_facts(runner.tsc_hz())
        for v in RUNNABLE:
            r = runner.measure(v.experiment(iterations=2000, repeats=1, events=()), host)
            assert r.error is None, (v.id, r.error)
            assert r.ticks_per_iter.median > 0
        assert runner.workers_started == 1


def test_catalog_cli_json():
    p = run_cli("catalog", "--json")
    assert p.returncode == 0, p.stderr
    rows = {r["id"]: r for r in json.loads(p.stdout)["variants"]}
    assert set(rows) == set(VARIANTS)
    for v in MISSING:
        assert rows[v.id]["runnable"] is False
        assert rows[v.id]["reason"].startswith("cpu lacks ")
    assert rows["plain"]["runnable"] is True and rows["plain"]["reason"] is None


def test_call_only_is_faster_than_plain():
    plain, floor = measured_together(
        VARIANTS["plain"].experiment(), VARIANTS["call-only"].experiment()
    )
    costs_more(plain, floor)


def test_writing_1k_ahead_is_faster_than_at_the_executed_slot():
    # the direction only (Zen 3 ~2x, Zen 4 ~3x, the Intel Xeon 0xCF ~35x: recorded data)
    at, ahead = measured_together(Experiment(step=64), Experiment(step=64, ahead=1024))
    costs_more(at, ahead)
