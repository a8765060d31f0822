"""Suites: a :class:`Session` (worker + host facts + store) and the experiments run through it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.model.noise import Noise
from smclab.model.result import Result
from smclab.model.rounds import FULL_ROUNDS, QUICK_ROUNDS
from smclab.run import counters, machine
from smclab.run.interleave import measure_interleaved
from smclab.run.worker import Runner
from smclab.store import ResultStore, open_store
from smclab.workloads.seed.codegen import user_code


def run_settings(quick: bool, rounds: int | None = None) -> dict[str, Any]:
    """The measurement settings of a diagnose or advise run: ``rounds`` interleaved rounds
    (default: 5 quick, 7 full) of at least 5 ms (quick) or 20 ms per point."""
    return {
        "repeats": rounds or (QUICK_ROUNDS if quick else FULL_ROUNDS),
        "min_ms": 5.0 if quick else 20.0,
    }


def check_experiment(exp: Experiment, cpu: machine.CpuId, flags: frozenset[str]) -> None:
    """Reject, before running, what this host cannot run or count (raises SpecError)."""
    exp.check_host(flags)
    if exp.cpus_needed() > 1 and (why := machine.second_cpu_missing()):
        raise SpecError(f"{exp.label()} {why}")
    if exp.asm:  # assembled and checked before anything runs
        user_code(exp)
    for name in exp.events:
        try:
            counters.resolve(name, cpu.vendor, cpu.family, cpu.model)
        except counters.UnknownEvent as e:
            raise SpecError(str(e)) from None


def checked_cpu(cpu: int) -> int:
    """``cpu`` if this process may run on it (raises SpecError)."""
    if cpu not in machine.allowed_cpus():
        raise SpecError(f"cpu {cpu} is not available (allowed: {sorted(machine.allowed_cpus())})")
    return cpu


class Session:
    """Runs experiments in a reused worker and stores every result."""

    def __init__(
        self, db: str | Path | None = None, cpu: int | None = None, timeout: float = 120.0
    ) -> None:
        self.store: ResultStore = open_store(db, create=True)
        self.runner = Runner(cpu, timeout)
        self.cpu = machine.cpu_id()
        self.flags = machine.cpu_flags()
        self._host: dict[str, Any] | None = None
        self._noise: list[Noise] = []

    @property
    def host(self) -> dict[str, Any]:
        if self._host is None:
            self._host = machine.host_facts(self.runner.tsc_hz())
        return self._host

    def check(self, exp: Experiment) -> None:
        check_experiment(exp, self.cpu, self.flags)

    def run(
        self, exp: Experiment, suite: str, name: str | None = None, sweep_id: str | None = None
    ) -> Result:
        """Measure ``exp`` in the worker and store the result (errors included)."""
        self.check(exp)
        result = self.runner.measure(exp, self.host)
        self._keep(result)
        self.store.add(result, suite, name, sweep_id)
        return result

    def _keep(self, result: Result) -> None:
        if result.noise is not None:
            self._noise.append(result.noise)

    def noise(self) -> Noise | None:
        """What the host did during every measurement of this session, combined."""
        return Noise.combine(self._noise)

    def run_interleaved(
        self,
        exps: Sequence[Experiment],
        suite: str,
        names: Sequence[str | None] | None = None,
        sweep_id: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        stop: Callable[[], int | None] | None = None,
    ) -> list[Result]:
        """Measure ``exps`` in interleaved rounds (see :mod:`smclab.run.interleave`) and store
        every result once all rounds are done (an interruption stores none of them)."""
        for exp in exps:
            self.check(exp)
        results = measure_interleaved(self.runner, exps, self.host, progress=progress, stop=stop)
        for i, result in enumerate(results):
            self._keep(result)
            self.store.add(result, suite, names[i] if names else None, sweep_id)
        return results

    def close(self) -> None:
        self.runner.close()
        self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
