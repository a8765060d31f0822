"""Assembly experiments (--asm FILE): assembling, parameters, refusals, listing, running."""

import json
from pathlib import Path

import pytest
from conftest import run_cli

from smclab import codegen
from smclab.errors import SpecError
from smclab.isa import gas
from smclab.model.experiment import Experiment
from smclab.model.rounds import compare_rounds
from smclab.run.interleave import measure_interleaved
from smclab.run.worker import Runner
from smclab.suites.sweep import Grid, plan
from smclab.workloads.seed.codegen import user_code

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SEED = """\
# the seed, by hand
.section payload
    ret
    .fill 63, 1, 0x90
.section write
    mov rcx, 64
    rep movsb
"""


def asm(text: str, name: str = "t.s", **knobs) -> Experiment:
    return Experiment(asm=text, asm_name=name, **knobs)


def refusal(text: str, **knobs) -> str:
    with pytest.raises(SpecError) as e:
        user_code(asm(text, **knobs))
    return str(e.value)


def test_a_known_snippet_assembles_to_its_bytes():
    code = gas.assemble(SEED, "seed.s", 0, 4096, 64)
    assert code.payload == b"\xc3" + b"\x90" * 63
    assert code.write == bytes.fromhex("48c7c140000000") + b"\xf3\xa4"
    assert code.has_write and not code.init and not code.counts and not code.wide
    text = (
        ".section payload\n lea rax, [rip + 1f]\n1: ret\n.section init\n vpxor ymm0, ymm0, ymm0\n"
    )
    code = gas.assemble(text, "x.s", 0, 4096, 64)
    assert code.payload == bytes.fromhex("488d0500000000c3")  # rip-relative within a section
    assert code.init == bytes.fromhex("c5fdefc0") and code.wide and not code.has_write
    # init runs before the first rdtsc (rdi = exec buffer, rdx = its size); ymm: vzeroupper
    listing = codegen.build(asm(text, "x.s")).listing_text()
    init, first_rdtsc = listing.index("; init (x.s)"), listing.index("rdtsc")
    assert init < first_rdtsc and "vpxor   ymm0,ymm0,ymm0" in listing
    assert "mov     rdx,0x1000" in listing[:init] and "vzeroupper" in listing


def test_parameters_are_substituted_before_assembling():
    text = SEED.replace("63", "{payload_len}-1").replace("64", "{step}+{buffer}")
    assert gas.substitute("{step} {buffer} {payload_len} {k1}", 64, 4096, 32) == "64 4096 32 {k1}"
    code = gas.assemble(text, "p.s", 64, 4096, 32)
    assert len(code.payload) == 32
    assert code.write[:7] == bytes.fromhex("48c7c140100000")  # mov rcx, 64 + 4096
    # a sweep over payload sizes: each experiment assembles its own
    exp = asm(text, payload=128, step=128, buffer=8192)
    assert codegen.build(exp).source == b"\xc3" + b"\x90" * 127


def test_the_write_section_reads_the_iteration_number_from_rdx():
    text = ".section payload\n ret\n.section write\n mov [rdi + 1], dl\n"
    code = gas.assemble(text, "c.s", 0, 4096, 64)
    assert code.counts
    listing = codegen.build(asm(text)).listing_text()
    assert "mov     rdx,rbx" in listing and "inc     rbx" in listing
    assert "xor     ebx,ebx" in listing


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (".section payload\n nop\n", "t.s: the payload has no ret"),
        (".section payload\n ret\n.section write\n nop\n ret\n", "t.s:5: ret in the 'write'"),
        (".section payload\n ret\n.section init\n ret\n", "t.s:4: ret in the 'init'"),
        (".section payload\n mov ebx, 1\n ret\n", "t.s:2: 'payload' writes rbx"),
        (".section payload\n ret\n.section write\n pop r12\n", "t.s:4: 'write' writes r12"),
        (".section payload\n ret\n.section write\n sub rsp, 8\n", "'write' writes rsp"),
        (
            ".section payload\n ret\n.section write\n nop\n movabs rax, offset 1f\n1: nop\n",
            "t.s:5: an absolute address",
        ),
        (".section payload\nx: ret\n.section write\n lea rax, [rip + x]\n", "t.s:4: an absolute"),
        (".section payload\n call printf\n ret\n", "t.s:2: an absolute address"),
        (".section payload\n jmp .+100\n ret\n", "t.s:2: a branch leaves the 'payload'"),
        (" nop\n.section payload\n ret\n", "code in section '.text' would not run"),
        (".section payload\n ret\n.section wirte\n nop\n", "code in section 'wirte'"),
        (".section payload\n ret\n .fill 70, 1, 0x90\n", "assembles to 71 bytes"),
        (".section payload\n ret\n bogus rax\n", "t.s:3: no such instruction"),
    ],
)
def test_what_cannot_run_is_refused_with_its_line(text, message):
    assert message in refusal(text)


def test_balanced_push_pop_of_scratch_registers_is_allowed():
    text = ".section payload\n push rax\n pop rax\n ret\n.section write\n push rcx\n pop rcx\n"
    assert user_code(asm(text)).has_write


def test_knobs_of_the_seeds_writer_are_refused_with_a_write_section():
    with pytest.raises(SpecError, match="copy sets the seed's copy"):
        asm(SEED, copy="rep-movsq")
    with pytest.raises(SpecError, match="has no '.section payload'"):
        asm(".section write\n nop\n")
    with pytest.raises(SpecError, match="asm-name names an assembly file"):
        Experiment(asm_name="x.s")
    # without a write section the seed's own copy runs, with the copy knob
    only = asm(".section payload\n ret\n", copy="rep-movsq")
    listing = codegen.build(only).listing_text()
    assert "rep movsq" in listing and "payload (t.s)" in listing


def test_the_text_is_in_the_key_and_the_name_in_the_label():
    a, b = asm(SEED, "seed.s"), asm(SEED + "\n nop\n", "seed.s")
    assert a.code_key() != b.code_key() and a.knob_key() != b.knob_key()
    assert a.label() == "seed.s 4K/0"
    assert "asm" not in Experiment().canonical()  # keys of other experiments do not move
    assert Experiment.from_dict(json.loads(json.dumps(a.to_dict()))) == a


def test_missing_as_is_one_line_naming_binutils(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SpecError, match="Debian package binutils"):
        gas.assemble(SEED, "nopath.s", 1, 4096, 64)  # (arguments no test caches)
    f = tmp_path / "seed.s"
    f.write_text(SEED)
    p = run_cli("show", "--asm", str(f))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "binutils" in p.stderr, p.stderr


def test_cli_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.s"
    bad.write_text(".section payload\n ret\n.section write\n mov rbx, 1\n")
    p = run_cli("run", "--asm", str(bad), "--db", str(tmp_path / "x.sqlite"))
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert "bad.s:4: 'write' writes rbx" in p.stderr
    bad.write_text(".section payload\n ret\n  mov rax,, 1\n")
    p = run_cli("show", "--asm", str(bad))
    assert p.returncode == 2 and "bad.s:3:" in p.stderr and p.stderr.count("\n") == 1
    p = run_cli("show", "--asm", str(tmp_path / "missing.s"))
    assert p.returncode == 2 and "cannot read the assembly file" in p.stderr
    assert p.stderr.count("\n") == 1


def test_show_lists_the_users_bytes_where_they_run():
    p = run_cli("show", "--asm", str(EXAMPLES / "seed.s"), "--layout", "near")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    lay = codegen.layout_for(Experiment(layout="near"))
    assert "payload (seed.s):" in out and f"{lay.code:016x}  c3" in out
    assert "; write (seed.s)" in out and "; end of write" in out
    assert "mov     rcx,0x40" in out and "rep movsb" in out
    # the payload again at the slot it is called at
    assert "payload (seed.s) as called, in the exec buffer:" in out
    assert f"{lay.exec_buf:016x}  c3" in out


def test_a_crashing_payload_is_an_error_row(tmp_path):
    f = tmp_path / "crash.s"
    f.write_text(".section payload\n ud2\n ret\n")
    db = str(tmp_path / "c.sqlite")
    p = run_cli("run", "--asm", str(f), "--db", db, "--repeats", "1", "--min-ms", "1")
    assert p.returncode == 1 and "SIGILL" in p.stderr, p.stderr
    p = run_cli("results", "--db", db, "--json")
    (row,) = json.loads(p.stdout)["results"]
    assert row["label"] == "crash.s 4K/0" and "SIGILL" in row["error"]
    assert "ud2" in row["asm"] and row["asm_name"] == "crash.s"


def test_a_grid_names_files_and_each_experiment_keeps_its_text(tmp_path):
    grid = tmp_path / "g.toml"
    grid.write_text(f'[grid]\nasm = ["{EXAMPLES / "seed.s"}"]\npayload = [32, 64]\n')
    p = plan(Grid.load(grid), flags=frozenset())
    assert [e.label() for e in p.experiments] == ["seed.s 4K/0 payload=32", "seed.s 4K/0"]
    assert all(e.asm == (EXAMPLES / "seed.s").read_text() for e in p.experiments)
    with pytest.raises(SpecError, match="cannot read the assembly file"):
        Grid.from_options({"asm": "nope.s"})


def test_the_seed_by_hand_measures_as_the_built_in_seed():
    """Wide margin (a shared 2-CPU box); benchmarks/asm_fidelity.py prints the exact ratio.
    Both sides run the same iterations: on a busy CPU a repeat that lasts longer is preempted
    more often, and calibrated counts may differ (one side 3x slower in every round)."""
    settings = {"repeats": 9, "iterations": 5_000, "events": ()}
    built_in = Experiment(buffer=4096, step=0, **settings)
    by_hand = asm(SEED, "seed.s", buffer=4096, step=0, **settings)
    with Runner() as runner:
        host = {"tsc_hz": runner.tsc_hz()}
        a, b = measure_interleaved(runner, [by_hand, built_in], host)
    assert a.error is None and b.error is None, (a.error, b.error)
    c = compare_rounds(a.round_values(), b.round_values())
    assert 0.7 <= c.ratio <= 1.4, c


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.s")), ids=lambda p: p.name)
def test_every_example_assembles_with_the_knobs_its_header_names(path):
    name, text = gas.read_file(path)
    program = codegen.build(Experiment(asm=text, asm_name=name, buffer=8192, step=4096))
    assert f"payload ({name})" in program.listing_text()
