"""Habits of the tools a JIT author already uses: -q after the command, completion of knob
values and variant ids, stderr notes one line each in a log, JSON from show, an unknown
suite refused."""

import json
import subprocess
import sys

from click.shell_completion import BashComplete
from click.testing import CliRunner
from conftest import run_cli

from smclab import codegen
from smclab.cli import cli
from smclab.model.experiment import Experiment


def complete(*words: str) -> list[str]:
    """What bash completion offers for the last of ``words`` (click's own machinery, in
    process; `eval "$(_SMCLAB_COMPLETE=bash_source smclab)"` wires it to the shell)."""
    comp = BashComplete(cli, {}, "smclab", "_SMCLAB_COMPLETE")
    return [c.value for c in comp.get_completions(list(words[:-1]), words[-1])]


def test_quiet_is_accepted_after_the_command(monkeypatch):
    from smclab.cli.ui import settings

    for args in (["catalog", "-q", "--json"], ["catalog", "--json", "--quiet"], ["-q", "catalog"]):
        monkeypatch.setattr(settings, "quiet", False)
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
        assert settings.quiet, args
    p = run_cli("catalog", "--workload", "relocate", "-q")  # as a user types it
    assert p.returncode == 0 and p.stderr == "", p.stderr


def test_knob_values_and_variant_ids_complete():
    assert complete("run", "--strategy", "mprotect") == [
        "mprotect-flip",
        "mprotect-flip-8p",
        "mprotect-flip-64p",
    ]
    assert complete("sweep", "--copy", "avx512,sse2") == ["avx512,sse2", "avx512,sse2-nt"]
    assert "emit-mprotect-flip" in complete("run", "--variant", "emit-mp")
    assert complete("run", "--workload", "jit-") == ["jit-block", "jit-emit"]


def test_a_note_on_stderr_is_one_line_when_stderr_is_not_a_terminal():
    code = "from smclab.cli.ui import note; note('noisy: ' + 'word ' * 40)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stderr.count("\n") == 1 and len(p.stderr) > 200, p.stderr


def test_show_json_is_the_listing_show_prints():
    p = run_cli("show", "--workload", "jit-block", "--strategy", "mprotect-flip", "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    program = codegen.build(Experiment(workload="jit-block", strategy="mprotect-flip"))
    assert data["label"] == "jit mprotect-flip 1K" and data["mapping"] == "flip"
    assert data["layout"]["exec_size"] == program.layout.exec_size
    assert [(ln["address"], bytes.fromhex(ln["bytes"]), ln["text"]) for ln in data["listing"]] == [
        (ln.address, ln.raw, ln.text) for _, ln in program.listing()
    ]
    assert sum("syscall" in ln["text"] for ln in data["listing"]) == 4  # 2 mprotects, 2 exits


def test_an_unknown_suite_is_bad_input():
    for command in ("results", "compare"):
        p = run_cli(command, "--suite", "nope")
        assert p.returncode == 2, p.stderr
        assert p.stderr.count("\n") == 1 and "'nope' is not one of" in p.stderr
