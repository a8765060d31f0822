import os
import subprocess
import sys

import pytest


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Keep every test's store and caches out of the user's home."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "cache"))
    monkeypatch.delenv("SMCLAB_DB", raising=False)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `smclab ...` in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "smclab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )
