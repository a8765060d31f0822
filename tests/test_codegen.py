"""The encoder's bytes against known encodings, and the listing."""

import pytest

from smclab import codegen
from smclab.model.experiment import Experiment
from smclab.workloads.seed import codegen as seed


def code_of(exp: Experiment) -> bytes:
    p = codegen.build(exp)
    return p.code[p.entry_addr - p.layout.code :]


def test_payload_is_ret_padded_with_nops():
    p = codegen.build(Experiment())
    assert p.source == b"\xc3" + b"\x90" * 63
    assert p.code[:64] == p.source
    assert p.entry_addr == p.layout.code + 64  # `align 64` as in the seed
    assert seed.payload_bytes(Experiment(op="ud2", payload=8)) == b"\x0f\x0b" + b"\x90" * 6


def test_seed_loop_bytes():
    code = code_of(Experiment())
    # mov rcx,64 ; mov rdi,r13 ; lea rsi,[rip+payload] (disp checked below) ; rep movsb ; call r13
    assert bytes.fromhex("48c7c140000000498bfd488d35") in code
    assert bytes.fromhex("f3a441ffd5") in code
    assert code.startswith(bytes.fromhex("53 55 4154 4155 4156 4157".replace(" ", "")))
    assert code.endswith(bytes.fromhex("415f 415e 415d 415c 5d 5b c3".replace(" ", "")))
    # the timer: lfence; rdtsc; shl rdx,32; or rax,rdx (twice)
    assert code.count(bytes.fromhex("0faee80f3148c1e220480bc2")) == 2


def test_rip_relative_payload_and_direct_targets():
    p = codegen.build(Experiment(call="direct", layout="near"))
    lines = {line.text for _, line in p.listing()}
    assert f"lea     rsi,[{p.source_addr:#x}]" in lines
    assert f"call    {p.layout.exec_buf:#018x}" in lines
    src = codegen.build(Experiment(call="source", barrier="mfence"))
    texts = [line.text for _, line in src.listing()]
    assert f"call    {src.source_addr:#018x}" in texts
    assert "mfence" in texts


@pytest.mark.parametrize(
    ("barrier", "encoding"),
    [
        ("mfence", "0faef0"),
        ("lfence", "0faee8"),
        ("sfence", "0faef8"),
        ("lock-or", "f0830c2400"),
        ("cpuid", "33c00fa2"),
        ("serialize", "0f01e8"),
    ],
)
def test_barrier_encodings(barrier, encoding):
    after = code_of(Experiment(barrier=barrier))
    assert bytes.fromhex("f3a4" + encoding + "41ffd5") in after  # rep movsb; barrier; call r13
    before = code_of(Experiment(barrier=barrier, placement="before-store"))
    assert bytes.fromhex(encoding + "48c7c140000000") in before  # barrier; mov rcx,64


def test_far_store_writes_into_the_far_buffer():
    p = codegen.build(Experiment(store="far"))
    delta = p.layout.far_buf - p.layout.exec_buf
    assert any(t.text == f"lea     rdi,[r13+{delta:#x}]" for _, t in p.listing())
    none = codegen.build(Experiment(store="none"))
    assert not any("movsb" in t.text for _, t in none.listing())


def test_step_and_wrap():
    p = codegen.build(Experiment(buffer=1 << 20, step=4096))
    texts = [t.text for _, t in p.listing()]
    assert "lea     r13,[r13+0x1000]" in texts
    assert f"mov     r14,{p.layout.exec_buf + (1 << 20):#x}" in texts
    assert seed.slot_offsets(Experiment(buffer=8192, step=4096)) == [0, 4096]


def test_listing_text_has_addresses_bytes_and_labels():
    text = codegen.build(Experiment()).listing_text()
    assert text.splitlines()[0] == "payload:"
    assert "run:" in text
    assert "f3 a4" in text and "rep movsb" in text
    assert f"{codegen.NOMINAL_BASE:016x}  c3" in text


def test_direct_call_with_a_step_unrolls_over_the_ring():
    p = codegen.build(Experiment(buffer=4096, step=1024, call="direct", layout="near"))
    texts = [t.text for _, t in p.listing()]
    targets = [f"call    {p.layout.exec_buf + off:#018x}" for off in (0, 1024, 2048, 3072)]
    assert [t for t in texts if t.startswith("call")] == targets
    assert sum(t == "dec     r15" for t in texts) == 1  # one count per pass, none per slot


@pytest.mark.parametrize(
    ("copy", "batch", "per_slot"),
    [("avx", 1, 2 * 8 + 5), ("avx", 4, (8 * 8 + 4 * 5) / 4), ("sse2", 1, 4 * 8 + 5)],
)
def test_a_direct_ring_is_as_lean_as_a_hand_written_loop(copy, batch, per_slot):
    """Per slot: the stores of the payload held in registers, rip-relative, and call rel32."""
    exp = Experiment(
        buffer=16384, step=64, ahead=1024, copy=copy, batch=batch, call="direct", layout="near"
    )
    p = codegen.build(exp)
    assert p.ring is not None and p.ring.slots == 256 and p.ring.bytes_per_slot == per_slot
    texts = [t.text for _, t in p.listing()]
    first = texts.index("jmp     r14") + 1
    store = "movdqu" if copy == "sse2" else "vmovdqu"
    dest = p.layout.exec_buf + 1024
    assert texts[first].split()[:2] == [store, f"[{dest:#x}],{copy == 'sse2' and 'xmm0' or 'ymm0'}"]
    calls = [t for t in texts if t.startswith("call")]
    assert calls[0] == f"call    {p.layout.exec_buf:#018x}"
    assert calls[-1] == f"call    {p.layout.exec_buf + 16384 - 64:#018x}"


def test_a_big_direct_ring_builds_and_lists_compactly():
    exp = Experiment(
        buffer=256 * 1024, step=64, ahead=65536, copy="avx", call="direct", layout="near"
    )
    p = codegen.build(exp)
    assert p.ring is not None and p.ring.slots == 4096
    text = p.listing_text()
    assert len(text.splitlines()) < 200  # (the payload nops are one line each here)
    assert "4093 more slots like these, 21 bytes each" in text
    # the last slot writes ahead modulo the ring and calls the last slot
    wrap = p.layout.exec_buf + (256 * 1024 - 64 + 65536) % (256 * 1024)
    assert f"vmovdqu [{wrap:#x}],ymm0" in text


def test_layout_far_puts_the_buffer_terabytes_from_the_code():
    far = codegen.build(Experiment()).layout
    near = codegen.build(Experiment(layout="near")).layout
    assert far.exec_buf - far.code >= 1 << 42
    assert near.exec_buf - near.code < 1 << 21


def test_code_reservation_grows_with_the_code():
    small = codegen.layout_for(Experiment())
    big = codegen.layout_for(Experiment(buffer=1 << 20, payload=128 * 1024))
    unrolled = codegen.layout_for(
        Experiment(buffer=65536, step=128, payload=128, copy="mov64", call="direct", layout="near")
    )
    assert small.code_size == 64 * 1024
    assert big.code_size > 128 * 1024
    assert len(codegen.build(Experiment(buffer=1 << 20, payload=128 * 1024)).code) <= big.code_size
    assert unrolled.code_size > 64 * 1024


def test_prefetch_targets_the_next_write():
    p = codegen.build(Experiment(buffer=16384, step=128, ahead=1024, prefetch="prefetchw"))
    assert "prefetchw [rdi+0x80]" in p.listing_text()


def test_workload_registry_matches_the_experiment_knob():
    from smclab.model.experiment import WORKLOADS, field_meta, workloads

    builtin = ("seed", "jit-block", "jit-emit", "patch", "relocate")
    assert tuple(workloads())[:5] == tuple(WORKLOADS)[:5] == builtin
    assert tuple(WORKLOADS) == field_meta("workload")["choices"]
    for name in WORKLOADS:
        exp = Experiment(workload=name)
        assert codegen.build(exp).experiment is exp
