"""Without the plot extra (matplotlib absent): every command but plot and --html works, and
those two refuse in one line naming the extra, before measuring anything."""

import subprocess
import sys


def without_matplotlib(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """``smclab ARGS`` in a process where ``import matplotlib`` fails, as without the extra."""
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from smclab.cli import main\n"
        f"main({list(args)!r})"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_plot_and_html_name_the_extra_in_one_line(tmp_path):
    p = without_matplotlib(
        "plot", "--db", str(tmp_path / "none.sqlite"), "--sweep", "s", "--x", "step"
    )
    assert p.returncode == 2
    assert p.stderr == "smclab: error: plotting needs matplotlib: pip install 'smclab[plot]'\n"
    p = without_matplotlib(
        "diagnose",
        "--quick",
        "--html",
        str(tmp_path / "r.html"),
        "--db",
        str(tmp_path / "d.sqlite"),
    )
    assert p.returncode == 2 and "--html needs matplotlib" in p.stderr
    assert p.stderr.count("\n") == 1
    assert not (tmp_path / "d.sqlite").exists()  # refused before anything was measured


def test_other_commands_need_no_matplotlib():
    p = without_matplotlib("catalog", "--json")
    assert p.returncode == 0, p.stderr
    p = without_matplotlib("show", "--workload", "jit-emit", "--strategy", "mprotect-flip")
    assert p.returncode == 0 and "syscall" in p.stdout, p.stderr
