"""The vocabulary registries are the one place a copy method, barrier, call kind, prefetch
hint or pad is declared: the experiment, the code generator and the catalog follow them."""

import subprocess
import sys

import pytest

from smclab import codegen
from smclab.errors import SpecError
from smclab.isa import vocabulary as vocab
from smclab.isa.asm import C, decode_listing
from smclab.isa.strategies import STRATEGIES
from smclab.model.experiment import Experiment, field_default, field_meta
from smclab.suites.catalog import VARIANTS
from smclab.workloads.seed import advise

#: knob -> its registry
KNOB_REGISTRIES = {
    "copy": vocab.COPIES,
    "barrier": vocab.BARRIERS,
    "call": vocab.CALLS,
    "prefetch": vocab.PREFETCHES,
    "pad": vocab.PADS,
}
#: knobs that make an experiment valid for each record (beyond the record itself)
CONTEXT = {
    "call": lambda r: {"layout": "near"} if r.near else {},
    "prefetch": lambda r: {"buffer": 8192, "step": 64},
}
RECORDS = [(knob, r) for knob, reg in KNOB_REGISTRIES.items() for r in reg.values()]
#: the registries of the seed's advise space, by knob
SPACE_REGISTRIES = {**KNOB_REGISTRIES, "evict": vocab.EVICTS}
#: the seed's advise space on a CPU with every flag a record needs: its values by knob
SPACE = {
    k.name: k.values
    for k in advise.seed_space(
        {"flags": [f for reg in SPACE_REGISTRIES.values() for r in reg.values() for f in r.flags]}
    ).knobs
}


def _exp(knob, record, **more):
    return Experiment(**{knob: record.name, **CONTEXT.get(knob, lambda r: {})(record), **more})


def _listing(exp):
    return codegen.build(exp).listing_text()


@pytest.mark.parametrize(("knob", "record"), RECORDS, ids=lambda x: getattr(x, "name", x))
def test_every_record_is_a_choice_and_its_listing_shows_its_mnemonics(knob, record):
    assert field_meta(knob)["choices"] == tuple(KNOB_REGISTRIES[knob])
    exp = _exp(knob, record)
    assert exp.required_flags() == record.flags
    program = codegen.build(exp)
    text = program.listing_text()
    if knob == "pad":  # the pad lives in the payload (the copied source bytes)
        text = "\n".join(ln.text for ln in decode_listing(program.source, program.source_addr))
    for mnemonic in record.mnemonics:
        assert mnemonic in text, (record.name, mnemonic)


@pytest.mark.parametrize(("knob", "record"), RECORDS, ids=lambda x: getattr(x, "name", x))
def test_every_record_other_than_the_default_is_in_the_catalog(knob, record):
    if record.name == field_default(knob):
        return
    if knob == "prefetch":  # the seed's prefetch hints have no catalog variant (advise tries them)
        assert record.name in SPACE["prefetch"]
        return
    found = [v for v in VARIANTS.values() if v.knobs.get(knob) == record.name]
    assert found, (knob, record.name)
    for v in found:
        assert set(record.mnemonics) <= set(v.expects + v.source_expects)


@pytest.mark.parametrize("method", vocab.COPIES.values(), ids=lambda m: m.name)
def test_copy_width_drives_validation(method):
    w = method.width
    Experiment(copy=method.name, payload=4 * w)
    if w > 1:
        with pytest.raises(SpecError, match=f"moves {w}-byte units"):
            Experiment(copy=method.name, payload=4 * w + 1)
    if method.aligned:
        with pytest.raises(SpecError, match=f"need {w}-byte aligned destinations"):
            Experiment(copy=method.name, payload=w, origin=w // 2 if w > 1 else 1)
    plain = method.name == "mov64"
    strategies = ["plain"] if plain else [f"copy-{method.name}", f"copy-{method.name}-rev"]
    if method.fill:  # a store-only string writes no block of code: no jit strategy
        assert not any(s.write == method.name for s in STRATEGIES.values())
        return
    for sid in strategies:
        assert STRATEGIES[sid].write == method.name
        assert STRATEGIES[sid].features == method.flags


def test_store_only_string_and_byte_stores():
    """rep-stosb stores the payload's first byte (ret) n times, reading nothing else of the
    source; mov8 moves one byte per load/store pair."""
    stos = codegen.build(Experiment(copy="rep-stosb", payload=16))
    # mov rcx,16 ... movzx rax,byte [rsi]; rep stosb; call r13
    assert bytes.fromhex("480fb606" + "f3aa" + "41ffd5") in stos.code
    assert "rep movs" not in stos.listing_text()
    mov8 = codegen.build(Experiment(copy="mov8", payload=3)).listing_text()
    assert [ln for ln in mov8.splitlines() if "],al" in ln][-1].endswith("mov     [rdi+2],al")


def test_pad_bytes_come_from_the_pad_record():
    for pad in vocab.PADS.values():
        src = codegen.build(Experiment(pad=pad.name)).source
        assert src == b"\xc3" + (pad.raw * 64)[:63]
    assert [p.raw for p in vocab.PADS.values()] == [b"\x90", b"\xcc", b"\x0f\x0b"]


def test_strategies_clears_flushes_and_prefetches_come_from_records():
    for rec in [*vocab.CLEARS.values(), *vocab.FLUSHES.values(), *vocab.JIT_PREFETCHES.values()]:
        users = [s for s in STRATEGIES.values() if rec.name in (s.clear, s.flush, s.prefetch)]
        assert users and all(s.features == rec.flags for s in users), rec.name
        for s in users:
            assert set(rec.mnemonics) <= set(VARIANTS[s.id].expects)


def test_the_seed_advise_space_names_records():
    """Its record knobs take records; on a CPU with every flag, every copy of whole words
    (temporal and not; the naive rep-movsb and the byte copies are not searched), every hint,
    every evict instruction and barrier tried."""
    for knob, registry in SPACE_REGISTRIES.items():
        if knob in SPACE:
            assert set(SPACE[knob]) <= set(registry), knob
    assert SPACE["copy"] == (
        *("rep-movsq", "mov64", "mov64-nt", "sse2", "sse2-nt"),
        *("avx", "avx-nt", "avx512", "avx512-nt"),
    )
    assert SPACE["prefetch"] == ("none", "prefetchw", "prefetcht0")
    assert SPACE["evict"] == ("none", "clflushopt", "clwb", "cldemote")
    assert SPACE["barrier"] == ("none", *advise.BARRIER_CANDIDATES)


def test_a_new_record_flows_everywhere_without_other_edits(monkeypatch):
    pause = vocab.Barrier("pause", "spin-wait hint", ("pause",), emit=lambda a: a.op(C.PAUSE))
    with pytest.raises(SpecError, match="unknown barrier 'pause'"):
        Experiment(barrier="pause")
    assert not any(v.id.startswith("seed-pause-") for v in VARIANTS.values())
    monkeypatch.setitem(vocab.BARRIERS, "pause", pause)
    # the experiment accepts it (and lists it among the choices)
    exp = Experiment(barrier="pause", placement="both")
    assert "pause" in field_meta("barrier")["choices"]
    # the code generator emits it: rep movsb; pause; call r13 (after-store)
    code = codegen.build(Experiment(barrier="pause")).code
    assert bytes.fromhex("f3a4" + "f390" + "41ffd5") in code
    assert _listing(exp).count("pause") == 2
    # the catalog has its variants, whose listing checks are its mnemonic
    ids = [v.id for v in VARIANTS.values() if v.knobs.get("barrier") == "pause"]
    assert ids == ["seed-pause-after-store", "seed-pause-before-store", "seed-pause-both"]
    for i in ids:
        assert VARIANTS[i].expects == ("pause",)
        assert "pause" in _listing(VARIANTS[i].experiment())
    # a new copy method: its width is validated, its code generated, its variant listed
    movsd = vocab.CopyMethod("rep-movsd", "rep movsd", ("rep movsd",), width=4, store=None)
    monkeypatch.setitem(vocab.COPIES, "rep-movsd", movsd)
    with pytest.raises(SpecError, match="moves 4-byte units"):
        Experiment(copy="rep-movsd", payload=66)
    assert "seed-copy-rep-movsd" in VARIANTS
    assert "rep movsd" in _listing(VARIANTS["seed-copy-rep-movsd"].experiment())
    assert VARIANTS["seed-copy-rep-movsd"].expects == ("rep movsd",)


def test_isa_never_imports_model_and_the_workloads_import_isa_at_the_top():
    from test_layout import graph

    g = graph()
    isa = {m: deps for m, deps in g.items() if m.startswith("smclab.isa")}
    assert isa and not [
        (m, n)
        for m, deps in isa.items()
        for n in deps
        if n.startswith(("smclab.model", "smclab.codegen"))
    ]
    assert "smclab.isa.strategies" in g["smclab.workloads.jit_block.spec"]
    for module in ("smclab.model.experiment", "smclab.workloads.seed.codegen"):
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
