"""The worker: a child process, pinned to one CPU, that runs generated code.

The parent (:class:`Runner`) sends one JSON request per line on the worker's stdin and reads one
JSON reply per line from its stdout. A worker that dies (SIGILL, SIGSEGV, ...) or overruns its
time limit becomes a :class:`~smclab.model.result.Result` with ``error`` set; the next experiment
gets a fresh worker. A healthy worker is reused across experiments.

A worker never outlives its parent: it runs in its own session (a Ctrl-C or a signal to the
command line's process group does not reach it; the parent kills it, see
:mod:`smclab.run.interrupt`), the kernel sends it SIGKILL when its parent dies
(``PR_SET_PDEATHSIG``), and a watchdog thread ends it once its parent is gone (ctypes releases
the GIL while generated code runs, so the thread runs however long the experiment).

The time limit of an experiment follows its cost: after its warm-up the worker reports the
iterations it will run and what one cost, and the parent allows a margin over that.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from smclab.codegen.stale import Variant
from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.model.noise import Noise
from smclab.model.result import MeasurementError, Result, Samples
from smclab.run import counters, machine, measure
from smclab.run.interrupt import Interrupted
from smclab.run.noise import NoiseProbe
from smclab.workloads.jit_block.codegen import EXIT_MPROTECT_FAILED, EXIT_REMAP_FAILED

#: the worker's exit status when its parent is gone (or was gone before it could watch it)
EXIT_ORPHANED = 98
#: seconds between two looks of the watchdog at the worker's parent
WATCH_INTERVAL = 0.25
PR_SET_PDEATHSIG = 1
#: the time limit of a measurement is at least this many times what its warm-up predicts
#: for its longest possible run (every extra repeat a noisy set may take)
TIME_MARGIN = 2.0
#: no measurement takes longer (s) unless --timeout asks for more
HARD_LIMIT = 600.0
#: signals that end a worker from outside on purpose: an interruption, not a measurement error
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# --- child side ----------------------------------------------------------------------------


def _resolve_events(names: tuple[str, ...]) -> list[counters.EventSpec]:
    cid = machine.cpu_id()
    return [counters.resolve(n, cid.vendor, cid.family, cid.model) for n in names]


def _other_cpu() -> int | None:
    """A CPU other than the one this worker is pinned to (for a second thread), or None."""
    mine = os.sched_getaffinity(0)
    others = sorted(machine.usable_cpus() - mine)
    return others[-1] if others else None


def die_with_parent(parent: int, pdeathsig: bool = True) -> threading.Thread:
    """End this process when ``parent`` ends, by two independent means.

    The kernel sends SIGKILL at the parent's death (``PR_SET_PDEATHSIG``; if the parent died
    before that was set, ``getppid()`` already differs and the worker exits now). A daemon thread
    also looks every :data:`WATCH_INTERVAL` s and exits once ``getppid()`` changed; it runs while
    generated code loops in the main thread because ctypes calls release the GIL.

    The kernel ties PR_SET_PDEATHSIG to the parent *thread* that started the worker: a worker
    started from a thread that then ends is killed with it (the command line uses one thread).
    """
    if pdeathsig:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}")
    if os.getppid() != parent:
        os._exit(EXIT_ORPHANED)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_INTERVAL)
        os._exit(EXIT_ORPHANED)

    thread = threading.Thread(target=watch, name="smclab-parent-watch", daemon=True)
    thread.start()
    return thread


Send = Callable[[dict[str, Any]], None]


def _handle(req: dict[str, Any], send: Send) -> dict[str, Any]:
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
            s = measure.sample(
                exp,
                loaded.run,
                req["tsc_hz"],
                group,
                group.unavailable,
                lambda n, tpi: send({"plan": {"iterations": n, "ticks_per_iter": tpi}}),
            )
        s.notes = {e.name: e.note for e in specs if e.proxy or not e.verified}
        s.notes.update(group.caveats)
        return {"ok": True, "samples": dataclasses.asdict(s)}
    if op == "stale-code":  # the stale-code probe: a writer and an executing loop
        from smclab.run import stale

        got = stale.run(Variant.from_dict(req["variant"]), float(req["seconds"]), _other_cpu())
        return {"ok": True, **got}
    return {"ok": False, "error": f"unknown request {op!r}"}


def serve(cpu: int | None, stdin: IO[str], stdout: IO[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})  # this thread: the parent watch runs anywhere

    def send(msg: dict[str, Any]) -> None:
        stdout.write(json.dumps(msg) + "\n")
        stdout.flush()

    for line in stdin:
        try:
            reply = _handle(json.loads(line), send)
        except Exception as e:  # a Python-level failure is an error reply, not a crash
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        send(reply)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m smclab.run.worker")
    p.add_argument("--cpu", type=int, default=None)
    p.add_argument("--parent", type=int, default=None, help="die with this pid (default: ppid)")
    p.add_argument("--no-pdeathsig", action="store_true", help=argparse.SUPPRESS)  # tests
    args = p.parse_args()
    die_with_parent(args.parent or os.getppid(), pdeathsig=not args.no_pdeathsig)
    serve(args.cpu, sys.stdin, sys.stdout)


# --- parent side ---------------------------------------------------------------------------


#: exit statuses that end the worker on purpose (generated code, the parent watch)
EXIT_MEANING = {
    EXIT_REMAP_FAILED: "mmap failed in the generated code (remap strategy)",
    EXIT_MPROTECT_FAILED: "mprotect failed in the generated code (mprotect-flip strategy)",
    EXIT_ORPHANED: "its parent was gone",
}


class WorkerError(MeasurementError):
    """The worker died or timed out; the message names the signal or the limit."""


def default_cpu() -> int:
    """The last CPU this process may run on (CPU 0 tends to take the interrupts)."""
    return max(os.sched_getaffinity(0))


#: a limit for the rest of a request, from the worker's plan: (seconds from the request, why)
Limit = Callable[[dict[str, Any]], tuple[float, str]]


class Worker:
    """One child process. ``request`` raises :class:`WorkerError` if it dies or hangs, and
    :class:`Interrupted` if it was stopped by SIGINT, SIGTERM or SIGHUP from outside."""

    def __init__(self, cpu: int | None) -> None:
        self.cpu = cpu
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in close())
        self._buf = b""
        cmd = [sys.executable, "-m", "smclab.run.worker", "--parent", str(os.getpid())]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            bufsize=0,
            start_new_session=True,  # out of the terminal's and the caller's process group
        )

    def request(
        self, req: dict[str, Any], timeout: float, limit: Limit | None = None
    ) -> dict[str, Any]:
        """Send ``req``, return the reply. ``timeout`` s from now, the worker is killed; a
        ``plan`` message from the worker sets a new limit through ``limit``."""
        assert self.proc.stdin
        data = memoryview(json.dumps(req).encode() + b"\n")
        try:
            while data:
                data = data[self.proc.stdin.write(data) :]
        except BrokenPipeError:
            raise WorkerError(self._death()) from None
        start, why = time.monotonic(), ""
        while True:
            try:
                line = self._readline(start + timeout)
            except TimeoutError:
                self.kill()
                raise WorkerError(
                    f"timeout: no result within {timeout:.3g} s (worker killed){why}"
                ) from None
            if line is None:
                raise WorkerError(self._death())
            msg: dict[str, Any] = json.loads(line)
            if "plan" not in msg:
                return msg
            if limit is not None:
                timeout, why = limit(msg["plan"])

    def _readline(self, deadline: float) -> bytes | None:
        """The worker's next line (None at end of file); TimeoutError past ``deadline``."""
        assert self.proc.stdout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def _death(self) -> str:
        """What ended the worker; raises :class:`Interrupted` if a stop signal from outside did."""
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.proc.returncode
        if rc is not None and -rc in STOP_SIGNALS:
            raise Interrupted(-rc, ": the worker was stopped from outside")
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
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()
        self._stderr.close()


def plan_limit(
    exp: Experiment,
    floor: float,
    tsc_hz: float,
    cap: float = math.inf,
    say: Callable[[float, str], None] | None = None,
) -> Limit:
    """The time limit of measuring ``exp`` once the worker's warm-up told what one iteration
    costs: a margin over its longest possible run (every extra repeat of a noisy set), never
    less than ``floor``, never more than ``cap``; ``say(limit, why)`` hears of a limit above
    ``floor`` (and of which --timeout would let a capped one finish)."""

    def limit(plan: dict[str, Any]) -> tuple[float, str]:
        n, per_iter = plan["iterations"], plan["ticks_per_iter"] / tsc_hz
        expected = n * per_iter * exp.repeats
        seconds = max(floor, TIME_MARGIN * expected * measure.MAX_REPEAT_FACTOR)
        why = (
            f"its warm-up predicted ~{expected:.3g} s for {exp.repeats} repeat(s) of"
            f" {n} iterations at {per_iter * 1e9:.3g} ns each"
        )
        if seconds > cap:
            why += (
                f"; with margin {seconds:.3g} s, more than the {cap:g} s a measurement may"
                f" take (--timeout {math.ceil(seconds)} lets it finish)"
            )
            seconds = cap
        if say is not None and seconds > floor:
            say(seconds, why)
        return seconds, f"; {why}"

    return limit


def check_timeout(seconds: float) -> float:
    if not (math.isfinite(seconds) and seconds > 0):
        raise SpecError(f"a time limit must be a positive number of seconds, got {seconds}")
    return seconds


class Runner:
    """Runs experiments in a reused worker; replaces it after a crash.

    ``timeout``: seconds before a request is given up and its worker killed; a measurement's
    limit grows with what it was asked for and with what its warm-up predicts, up to the hard
    cap ``max(timeout, HARD_LIMIT)``. ``notice`` hears (once per value) of a limit in use that
    differs from ``timeout``.
    """

    def __init__(self, cpu: int | None = None, timeout: float = 120.0) -> None:
        self.cpu = default_cpu() if cpu is None else cpu
        self.timeout = check_timeout(timeout)
        self._worker: Worker | None = None
        self.workers_started = 0
        self.notice: Callable[[str], None] | None = None
        self._told: set[float] = set()

    @property
    def cap(self) -> float:
        """The longest any measurement may take (s)."""
        return max(self.timeout, HARD_LIMIT)

    def _say(self, seconds: float, why: str) -> None:
        seconds = float(f"{seconds:.3g}")
        if self.notice is not None and seconds != self.timeout and seconds not in self._told:
            self._told.add(seconds)
            self.notice(f"time limit {seconds:g} s, not --timeout {self.timeout:g} s: {why}")

    def _get(self) -> Worker:
        if self._worker is None or not self._worker.alive():
            if self._worker is not None:
                self._worker.close()
            self._worker = Worker(self.cpu)
            self.workers_started += 1
        return self._worker

    def request(
        self, req: dict[str, Any], timeout: float | None = None, limit: Limit | None = None
    ) -> dict[str, Any]:
        w = self._get()
        try:
            return w.request(req, timeout or self.timeout, limit)
        except BaseException:
            # dead, hung, or abandoned mid-request (an interruption): never reused
            w.kill()
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

    def samples(self, exp: Experiment, tsc_hz: float) -> tuple[Samples, Noise] | str:
        """The raw samples of one experiment and what the host did meanwhile, or the error
        that ended it (an interruption raises :class:`Interrupted`). The time limit grows with
        what was asked for (repeats of at least ``min_ms`` each, with margin), then, once the
        warm-up measured what one iteration costs, with the iterations to run
        (``--iterations 1e10`` on a slow loop)."""
        req = {"op": "measure", "experiment": exp.to_dict(), "tsc_hz": tsc_hz}
        asked = (exp.repeats + 3) * exp.min_ms / 1000 * 3
        floor = min(max(self.timeout, asked), self.cap)
        if floor > self.timeout:
            self._say(floor, f"{exp.repeats} repeat(s) of at least {exp.min_ms:g} ms need it")
        probe = NoiseProbe(self.cpu, self._get().proc.pid)
        try:
            reply = self.request(req, floor, plan_limit(exp, floor, tsc_hz, self.cap, self._say))
        except WorkerError as e:
            return str(e)
        if not reply.get("ok"):
            return str(reply.get("error", "unknown worker error"))
        return Samples(**reply["samples"]), probe.stop()

    def measure(self, exp: Experiment, host: dict[str, Any]) -> Result:
        """Measure one experiment; a crash or error becomes ``Result.error``."""
        got = self.samples(exp, host["tsc_hz"])
        if isinstance(got, str):
            return Result(exp, host, error=got)
        result = measure.summarize(exp, host, host["tsc_hz"], got[0])
        result.noise = got[1]
        return result

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
