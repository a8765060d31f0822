"""No orphaned worker: it dies with its parent, and an interruption stores nothing.

The command line is started as a user would, on an experiment that would run for hours
(10^10 iterations), and stopped while its worker is inside the generated code.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import run_cli

from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.run import machine
from smclab.run.interrupt import Interrupted
from smclab.run.worker import EXIT_ORPHANED, Runner
from smclab.store import open_store

LONG = ("--iterations", "10000000000", "--repeats", "1", "--events", "none")


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def gone(pid: int) -> bool:
    """Not running: no such process, or a zombie nobody reaped yet (its new parent may be slow)."""
    fields = _stat(pid)
    return fields is None or fields[0] in ("Z", "X")


def children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (a scan of /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and fields[1] == str(pid):
                found.append(int(entry))
    return found


def wait_for(what: str, pred, limit: float = 20.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def running_worker(parent: int) -> int | None:
    """The pid of ``parent``'s worker once it runs generated code (it mapped its RWX buffer)."""
    for pid in children(parent):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"smclab.run.worker" not in f.read():
                    continue
            with open(f"/proc/{pid}/maps") as f:
                if "rwxp" in f.read():
                    return pid
        except (FileNotFoundError, ProcessLookupError):
            pass
    return None


def start_cli(db, *args: str, **popen) -> tuple[subprocess.Popen, int]:
    """`smclab ARGS` of 10^10 iterations, and its worker's pid once it runs the experiment."""
    cmd = [sys.executable, "-m", "smclab", *args, *LONG, "--db", str(db)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    return proc, wait_for("the worker to run the experiment", lambda: running_worker(proc.pid))


def rows(db) -> list:
    with open_store(db, create=True) as s:
        return list(s.results())


@pytest.mark.parametrize(
    ("sig", "rc"),
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130), (signal.SIGKILL, -9)],
)
def test_a_signal_to_the_cli_ends_its_worker_and_stores_nothing(sig, rc, tmp_path):
    db = tmp_path / "s.sqlite"
    proc, worker = start_cli(db, "run")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == rc, err
    wait_for("the worker to die", lambda: gone(worker), limit=3)
    if sig != signal.SIGKILL:
        # the last line says it; before it only notes (a limit the warm-up changed), no trace
        *notes, last = err.strip().splitlines()
        assert last == f"smclab: interrupted by {sig.name} (the experiment in flight is not stored)"
        assert all(n.startswith("time limit ") for n in notes), err
    assert rows(db) == []


def test_sigterm_to_the_whole_process_group_is_no_measurement_error(tmp_path):
    db = tmp_path / "g.sqlite"
    proc, worker = start_cli(db, "run", start_new_session=True)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 143, err
    # one line says it; before it only notes (a limit the warm-up changed), no trace
    *notes, last = err.strip().splitlines()
    assert last == "smclab: interrupted by SIGTERM (the experiment in flight is not stored)"
    assert all(n.startswith("time limit ") for n in notes), err
    wait_for("the worker to die", lambda: gone(worker), limit=3)
    assert rows(db) == []  # no "SIGTERM: the worker was killed" error row


def _bare_worker(*args: str) -> str:
    """A script: start a worker (with ``args``), ask it for 10^10 iterations, print its pid."""
    req = {
        "op": "measure",
        "experiment": Experiment(iterations=10**10, repeats=1, events=()).to_dict(),
        "tsc_hz": 1e9,
    }
    return f"""
import json, os, subprocess, sys, time
w = subprocess.Popen(
    [sys.executable, "-m", "smclab.run.worker", {", ".join(repr(a) for a in args)}],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
w.stdin.write({json.dumps(json.dumps(req) + chr(10))}.encode())
w.stdin.flush()
print(w.pid, flush=True)
time.sleep(60)
"""


def test_the_watchdog_alone_ends_a_busy_worker_whose_parent_died():
    """Without PR_SET_PDEATHSIG, the parent watch thread still runs while generated code loops
    (ctypes released the GIL) and ends the worker."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _bare_worker("--no-pdeathsig", "--cpu", str(max(os.sched_getaffinity(0)))),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    worker = int(parent.stdout.readline())
    wait_for("the worker to run the experiment", lambda: running_worker(parent.pid) == worker)
    parent.kill()
    parent.wait()
    t0 = time.monotonic()
    wait_for("the worker to notice", lambda: gone(worker), limit=3)
    assert time.monotonic() - t0 < 2


def test_a_worker_whose_parent_is_already_gone_exits_at_once():
    """The race PR_SET_PDEATHSIG leaves: the parent died before the worker set it."""
    not_my_parent = os.getpid() + 1 if os.getpid() + 1 != os.getppid() else os.getpid() + 2
    p = subprocess.run(
        [sys.executable, "-m", "smclab.run.worker", "--parent", str(not_my_parent)],
        stdin=subprocess.PIPE,
        capture_output=True,
        timeout=30,
    )
    assert p.returncode == EXIT_ORPHANED


def test_a_worker_stopped_from_outside_is_an_interruption_not_an_error_row():
    with Runner() as runner:
        h = machine.host_facts(runner.tsc_hz())
        pid = runner.request({"op": "ping"}, timeout=30)["pid"]
        threading.Timer(1.0, os.kill, (pid, signal.SIGTERM)).start()
        with pytest.raises(Interrupted) as e:
            runner.measure(Experiment(iterations=10**10, repeats=1, events=()), h)
        assert e.value.signum == signal.SIGTERM
        # the next experiment gets a fresh worker
        assert runner.request({"op": "ping"}, timeout=30)["pid"] != pid


def test_a_second_signal_stops_a_sweep_at_once(tmp_path):
    """The first SIGTERM lets the experiment in flight finish (here: it never would); the second
    kills the worker and stores nothing for it."""
    db = tmp_path / "w.sqlite"
    proc, worker = start_cli(db, "sweep", "--step", "0,64")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert proc.poll() is None and not gone(worker)  # still on the experiment in flight
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 143, err
    wait_for("the worker to die", lambda: gone(worker), limit=3)
    assert rows(db) == []
    with open_store(db, create=False) as s:
        assert [w.status for w in s.sweeps()] == ["interrupted"]


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "-1", "0"])
def test_a_timeout_that_is_no_positive_number_is_bad_input(value, tmp_path):
    p = run_cli("run", "--timeout", value, "--db", str(tmp_path / "t.sqlite"))
    assert p.returncode == 2, p.stderr
    assert "--timeout" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_a_runner_refuses_a_time_limit_that_is_no_positive_number():
    for bad in (float("nan"), float("inf"), -1.0, 0.0):
        with pytest.raises(SpecError, match="positive number of seconds"):
            Runner(timeout=bad)
