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


def measured_together(*exps, rounds: int = 7, min_ms: float = 2.0) -> list:
    """Measure ``exps`` in interleaved rounds (the protocol for anything compared): a slow
    phase of a shared host then hits all of them alike. Returns their Results, in order."""
    import dataclasses

    from smclab.run import machine
    from smclab.run.interleave import measure_interleaved
    from smclab.run.worker import Runner

    settings = {"repeats": rounds, "min_ms": min_ms, "events": ()}
    with Runner() as runner:
        host = machine.host_facts(runner.tsc_hz())
        return measure_interleaved(runner, [dataclasses.replace(e, **settings) for e in exps], host)


def ratio(a, b) -> float:
    """The median over the rounds of a / b (both measured together)."""
    from smclab.model.rounds import compare_rounds

    assert a.error is None and b.error is None, (a.error, b.error)
    return compare_rounds(a.round_values(), b.round_values()).ratio
