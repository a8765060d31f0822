"""The benchmark scripts stay runnable as the API moves (their speeds are not tested here)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_script_imports_and_shows_its_help(script):
    p = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0, p.stderr
    assert "usage" in p.stdout.lower()


def test_diagnose_stability_compares_conclusions_not_numbers():
    import importlib.util

    path = BENCHMARKS[0].parent / "diagnose_stability.py"
    spec = importlib.util.spec_from_file_location("diagnose_stability", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def run(*texts, unstable=None):
        found = [
            {"probe": "code-age", "text": t, "numbers": {}, "unstable": unstable} for t in texts
        ]
        return {"findings": found, "checks": [], "seconds": 1.0}

    a = "Executing a line costs; it falls to its data control at 16K, 32K (from 256 B (4 lines))."
    b = "Executing a line costs; it falls to its data control at 1M (from 4096 B (64 lines))."
    c = "Calling through a retpoline lowers the cost against call reg at 4M A=0: 152 vs 246."
    d = "Calling through a retpoline has no consistent effect: lower at 4K A=0: 1 vs 2."
    assert mod.conclusion(a) == mod.conclusion(b)  # the same conclusion, other numbers
    report = mod.compare([run(a, c), run(b, d, unstable="the rounds do not settle 4K")])
    assert report["agreed"] == 1 and len(report["disagree"]) == 2
    assert report["labelled_unstable"] == 1
    assert {x["runs"][0] for x in report["disagree"]} == {1, 2}
