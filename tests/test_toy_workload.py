"""A workload defined only in this file runs end to end: show, run, sweep, catalog, advise.

This file *is* the workload: its knobs and choices, validation, label, code generator, catalog
variants and advice, registered once with :func:`smclab.model.experiment.register`. The CLI
and its worker processes load it from ``$SMCLAB_WORKLOADS`` (a module or ``.py`` file); no other
file of smclab names it.

The toy loop stores a ``ret`` byte (``toy_into='code'``: into the slot it then calls, a
self-modifying store every iteration; ``'data'``: into a data page) and calls the slot at
``toy_slot`` of the exec page.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest

from smclab.codegen.program import GAP, PAGE, Layout, Program, assemble, timed_function
from smclab.errors import SpecError
from smclab.isa.asm import Asm, C, R, mem
from smclab.model.experiment import Experiment, Workload, register, unregister, workloads
from smclab.model.knobs import Knob, check_choice
from smclab.workloads.advice import Candidate, CandidateSet, Variant

TOY = "toy-store"
INTO = ("code", "data")

KNOBS = (
    Knob(
        "toy_into",
        "code",
        "choice",
        "toy: where each iteration stores the ret it then calls: the slot (code) or data.",
        INTO,
    ),
    Knob(
        "toy_slot",
        0,
        "size",
        "toy: offset of the called slot in the exec page.",
        label="slot={value}",
    ),
)


def validate(exp: Experiment) -> None:
    check_choice("toy_into", exp.toy_into, INTO)
    if not 0 <= exp.toy_slot < PAGE or exp.toy_slot % 64:
        raise SpecError(f"toy_slot must be a multiple of 64 below 4096, got {exp.toy_slot}")


def head(exp: Experiment) -> str:
    return f"toy {exp.toy_into}"


def layout_for(exp: Experiment, base: int, code_size: int) -> Layout:
    return Layout(base, code_size, PAGE, PAGE, GAP)


def build(exp: Experiment, lay: Layout) -> Program:
    slot = lay.exec_buf + exp.toy_slot
    target = slot if exp.toy_into == "code" else lay.far_buf

    def setup(a: Asm) -> None:
        a.ri(C.MOV_R64_IMM64, R.R13, slot)
        a.ri(C.MOV_R64_IMM64, R.R14, target)

    def body(a: Asm, done: int) -> None:
        a.mi(C.MOV_RM8_IMM8, mem(R.R14), 0xC3)
        a.r(C.CALL_RM64, R.R13)

    return assemble(
        exp,
        lay,
        [("ret", b"\xc3", True)],
        timed_function(setup, body),
        source_addr=lay.code,
        source=b"\xc3",
        prefill=(exp.toy_slot,),
    )


def variants() -> list[Variant]:
    store = "mov     byte ptr [r14],0xc3"
    return [
        Variant("toy-code", TOY, "store the ret into the slot it calls", {}, (store,)),
        Variant("toy-data", TOY, "control: store it into data", {"toy_into": "data"}, (store,)),
    ]


def how_to(exp: Experiment, naive: Experiment, host: object = None) -> str:
    return f"store into {exp.toy_into}, call slot {exp.toy_slot}"


ADVICE = CandidateSet(
    TOY,
    Candidate("naive: code", {"workload": TOY}),
    Candidate("floor: data", {"workload": TOY, "toy_into": "data"}, fresh=False),
    lambda host: [Candidate("slot-64", {"workload": TOY, "toy_slot": 64})],
    how_to,
    floor_note="the same store into data",
)

WORKLOAD = Workload(
    TOY,
    "a toy: store a ret, call it",
    KNOBS,
    validate,
    head,
    layout_for,
    build,
    shown=("toy_into",),
    variants=variants,
    advice=ADVICE,
)
if os.environ.get("SMCLAB_WORKLOADS") == __file__:  # loaded as a plugin: by the CLI, a worker
    register(WORKLOAD)


@pytest.fixture(autouse=True)
def toy():
    """The toy is registered in this process only while a test of this file runs."""
    register(WORKLOAD)
    yield WORKLOAD
    unregister(TOY)


# -- the tests ---------------------------------------------------------------------------------


def cli(*args: str, tmp_path: Path) -> str:
    """Run `smclab ARGS` as a user would, with this file as a workload; its stdout."""
    import subprocess

    env = {**os.environ, "SMCLAB_WORKLOADS": __file__, "SMCLAB_DB": str(tmp_path / "r.sqlite")}
    out = subprocess.run(
        [sys.executable, "-m", "smclab", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_toy_is_a_workload_with_its_own_knobs():
    assert TOY in workloads()
    e = Experiment(workload=TOY, toy_slot=128)
    assert e.label() == "toy code slot=128"
    assert e.to_dict()["toy_slot"] == 128 and "buffer" not in e.to_dict()
    assert Experiment.from_dict(e.to_dict()) == e
    with pytest.raises(SpecError, match="toy_slot must be a multiple of 64"):
        Experiment(workload=TOY, toy_slot=65)
    with pytest.raises(SpecError, match="toy_slot only applies to the toy-store workload"):
        Experiment(toy_slot=64)
    with pytest.raises(SpecError, match="buffer only applies to the seed workload"):
        Experiment(workload=TOY, buffer=8192)
    with pytest.raises(ValueError, match="knob 'toy_into' is declared elsewhere"):
        register(dataclasses.replace(WORKLOAD, name="toy-2"))  # one knob, one workload


def test_show_catalog_and_help_come_from_the_registry(tmp_path):
    listing = cli("show", "--workload", TOY, "--toy-into", "data", tmp_path=tmp_path)
    assert "mov     byte ptr [r14],0xc3" in listing and "call    r13" in listing
    assert TOY in cli("run", "--help", tmp_path=tmp_path)
    rows = json.loads(cli("catalog", "--workload", TOY, "--json", tmp_path=tmp_path))["variants"]
    assert [r["id"] for r in rows] == ["toy-code", "toy-data"]


@pytest.mark.worker
def test_run_sweep_and_advise_measure_and_store_the_toy(tmp_path):
    settings = ("--repeats", "1", "--min-ms", "1")
    run = json.loads(cli("run", "--workload", TOY, *settings, "--json", tmp_path=tmp_path))
    assert run["experiment"]["workload"] == TOY and run["error"] is None
    assert run["ticks_per_iter"]["median"] > 0
    swept = cli(
        "sweep", "--workload", TOY, "--toy-slot", "0,64", *settings, "--json", tmp_path=tmp_path
    )
    assert "slot=64" in swept
    stored = json.loads(cli("results", "--json", tmp_path=tmp_path))["results"]
    assert len(stored) >= 3
    advice = json.loads(cli("advise", "--workload", TOY, "--quick", "--json", tmp_path=tmp_path))
    assert "slot-64" in json.dumps(advice)


def test_a_workload_that_does_not_load_is_one_line_and_exit_2(tmp_path):
    import subprocess

    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('no such thing')\n")
    for item, reason in ((str(broken), "no such thing"), (str(tmp_path / "gone.py"), "gone.py")):
        env = {**os.environ, "SMCLAB_WORKLOADS": item}
        p = subprocess.run(
            [sys.executable, "-m", "smclab", "show"], capture_output=True, text=True, env=env
        )
        assert p.returncode == 2 and p.stdout == ""
        assert p.stderr.count("\n") == 1 and reason in p.stderr
        assert p.stderr.startswith("smclab: error: SMCLAB_WORKLOADS: cannot load")
