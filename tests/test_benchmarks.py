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
