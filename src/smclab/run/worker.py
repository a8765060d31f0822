"""The worker: a child process, pinned to one CPU, that runs generated code.

The parent (:class:`Runner`) sends one JSON request per line on the worker's stdin and reads one
JSON reply per line from its stdout. A worker that dies (SIGILL, SIGSEGV, ...) or overruns its
time limit becomes a :class:`~smclab.model.result.Result` with ``error`` set; the next experiment
gets a fresh worker. A healthy worker is reused across experiments.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
from typing import IO, Any

from smclab.codegen.jit import EXIT_REMAP_FAILED
from smclab.model.experiment import Experiment
from smclab.model.knobs import SpecError
from smclab.model.result import MeasurementError, Result, Samples
from smclab.run import counters, machine, measure

# --- child side ----------------------------------------------------------------------------


def _resolve_events(names: tuple[str, ...]) -> list[counters.EventSpec]:
    cid = machine.cpu_id()
    return [counters.resolve(n, cid.vendor, cid.family, cid.model) for n in names]


def _other_cpu() -> int | None:
    """A CPU other than the one this worker is pinned to (for a second thread), or None."""
    mine = os.sched_getaffinity(0)
    others = sorted(machine.online_cpus() - mine)
    return others[-1] if others else None


def _handle(req: dict[str, Any]) -> dict[str, Any]:
    from smclab.run import native  # only the worker maps and runs generated code

    op = req.get("op")
    if op == "ping":
        return {"ok": True, "pid": os.getpid(), "cpu": sorted(os.sched_getaffinity(0))}
    if op == "tsc":
        fn, addr, size = native.rdtsc_function()
        try:
            return {"ok": True, "tsc_hz": machine.measure_tsc_hz(fn)}
        finally:
            native.munmap(addr, size)
    if op == "measure":
        exp = Experiment.from_dict(req["experiment"])
        specs = _resolve_events(exp.events)
        with (
            counters.CounterGroup(specs) as group,
            native.Loaded(exp, _other_cpu()) as loaded,
        ):
            # the group's own dict: stop() adds events it finds were never scheduled
            s = measure.sample(exp, loaded.run, req["tsc_hz"], group, group.unavailable)
        s.notes = {e.name: e.note for e in specs if e.proxy or not e.verified}
        s.notes.update(group.caveats)
        return {"ok": True, "samples": dataclasses.asdict(s)}
    return {"ok": False, "error": f"unknown request {op!r}"}


def serve(cpu: int | None, stdin: IO[str], stdout: IO[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    for line in stdin:
        try:
            reply = _handle(json.loads(line))
        except Exception as e:  # a Python-level failure is an error reply, not a crash
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m smclab.run.worker")
    p.add_argument("--cpu", type=int, default=None)
    args = p.parse_args()
    serve(args.cpu, sys.stdin, sys.stdout)


# --- parent side ---------------------------------------------------------------------------


#: exit statuses generated code uses to end the worker on purpose
EXIT_MEANING = {EXIT_REMAP_FAILED: "mmap failed in the generated code (remap strategy)"}


class WorkerError(MeasurementError):
    """The worker died or timed out; the message names the signal or the limit."""


def default_cpu() -> int:
    """The last CPU this process may run on (CPU 0 tends to take the interrupts)."""
    return max(os.sched_getaffinity(0))


class Worker:
    """One child process. ``request`` raises :class:`WorkerError` if it dies or hangs."""

    def __init__(self, cpu: int | None) -> None:
        self.cpu = cpu
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in close())
        cmd = [sys.executable, "-m", "smclab.run.worker"]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )

    def request(self, req: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise WorkerError(self._death()) from None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.kill()
            raise WorkerError(f"timeout: no result within {timeout:g} s (worker killed)")
        line = self.proc.stdout.readline()
        if not line:
            raise WorkerError(self._death())
        return json.loads(line)

    def _death(self) -> str:
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.proc.returncode
        if rc is not None and rc < 0:
            try:
                return f"{signal.Signals(-rc).name}: the worker was killed by a signal"
            except ValueError:
                return f"signal {-rc}: the worker was killed"
        if rc in EXIT_MEANING:
            return f"worker exited with status {rc}: {EXIT_MEANING[rc]}"
        self._stderr.seek(0)
        tail = self._stderr.read().strip().splitlines()[-1:] or ["no message"]
        return f"worker exited with status {rc}: {tail[0]}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self._stderr.close()


def check_timeout(seconds: float) -> float:
    if not (math.isfinite(seconds) and seconds > 0):
        raise SpecError(f"a time limit must be a positive number of seconds, got {seconds}")
    return seconds


class Runner:
    """Runs experiments in a reused worker; replaces it after a crash."""

    def __init__(self, cpu: int | None = None, timeout: float = 120.0) -> None:
        self.cpu = default_cpu() if cpu is None else cpu
        self.timeout = check_timeout(timeout)
        self._worker: Worker | None = None
        self.workers_started = 0

    def _get(self) -> Worker:
        if self._worker is None or not self._worker.alive():
            if self._worker is not None:
                self._worker.close()
            self._worker = Worker(self.cpu)
            self.workers_started += 1
        return self._worker

    def request(self, req: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        w = self._get()
        try:
            return w.request(req, timeout or self.timeout)
        except WorkerError:
            w.close()
            self._worker = None
            raise

    def tsc_hz(self) -> float:
        def measure_in_worker() -> float:
            reply = self.request({"op": "tsc"}, timeout=30)
            if not reply.get("ok"):
                raise WorkerError(reply.get("error", "tsc calibration failed"))
            return float(reply["tsc_hz"])

        return machine.cached_tsc_hz(measure_in_worker)

    def measure(self, exp: Experiment, host: dict[str, Any]) -> Result:
        """Measure one experiment; a crash or error becomes ``Result.error``. The time limit
        grows with what was asked for (repeats of at least ``min_ms`` each, with margin)."""
        tsc_hz = host["tsc_hz"]
        req = {"op": "measure", "experiment": exp.to_dict(), "tsc_hz": tsc_hz}
        asked = (exp.repeats + 3) * exp.min_ms / 1000 * 3
        try:
            reply = self.request(req, max(self.timeout, asked))
        except WorkerError as e:
            return Result(exp, host, error=str(e))
        if not reply.get("ok"):
            return Result(exp, host, error=reply.get("error", "unknown worker error"))
        return measure.summarize(exp, host, tsc_hz, Samples(**reply["samples"]))

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    main()
