"""`advise --emit-c`: the C file of a generated loop builds with gcc -O2 and runs without smclab."""

import re
import shutil
import subprocess

import pytest

from smclab import codegen
from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.report.c_file import c_source

GCC = shutil.which("gcc")


@pytest.mark.skipif(GCC is None, reason="no gcc on this host")
@pytest.mark.parametrize(
    "knobs",
    [
        {
            "buffer": 16384,
            "step": 64,
            "ahead": 4096,
            "copy": "avx",
            "call": "direct",
            "layout": "near",
        },
        {"buffer": 16384, "step": 64, "ahead": 8192, "copy": "rep-movsb", "batch": 4},
    ],
    ids=["direct-ring", "indirect-batch"],
)
def test_the_c_file_builds_and_prints_ticks_per_call(tmp_path, knobs):
    exp = Experiment(**knobs)
    program = codegen.build(exp)
    src = c_source(program, "a test", ["a note"])
    assert "a note" in src and ("vmovdqu" in src or "movsb" in src)
    path = tmp_path / "best.c"
    path.write_text(src)
    exe = tmp_path / "best"
    subprocess.run([GCC, "-O2", "-Wall", "-Werror", "-o", str(exe), str(path)], check=True)
    # a fixed iteration count (not a multiple of the ring): the loop's exact-count entry
    p = subprocess.run([str(exe), "1001"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    m = re.fullmatch(
        r"ticks per call: (\S+) \(median of 7 repeats of 1001 iterations; timed around the"
        r" call: (\S+)\)\n",
        p.stdout,
    )
    assert m, p.stdout
    inner, outer = float(m.group(1)), float(m.group(2))
    assert 0 < inner <= outer  # the loop's own count lies inside the time around the call


def test_a_loop_that_needs_a_second_thread_is_refused():
    exp = Experiment(cross="line")
    with pytest.raises(SpecError, match="second thread"):
        c_source(codegen.build(exp), "x")
