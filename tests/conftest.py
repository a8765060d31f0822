import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

# workers leave no /tmp/perf-PID.map behind (module-scoped fixtures start workers too);
# tests/test_perfmap.py turns it back on where it checks the map
os.environ["SMCLAB_PERF_MAP"] = "0"
os.environ.pop("SMCLAB_JITDUMP", None)  # off, as by default; tests/test_jitdump.py sets it

#: what the source of a test (or of a fixture it uses) shows when it starts a process: the
#: command line, a worker, a session that measures
STARTS_PROCESSES = (
    "run_cli",
    "Runner(",
    "Session(",
    "measured_together(",
    "measure_interleaved(",
    "subprocess.",
    "Popen(",
    "cli.main(",
    "exec(compile(",
)
#: what the source of a test shows when it asserts a direction of the live host's physics
PHYSICS = ("measured_together(", "ratio(", "compare_rounds(")


def _sources(item: pytest.Item) -> str:
    """The source of the test function, of the fixtures it uses and of the functions of its
    module it calls (two calls deep)."""
    funcs = [getattr(item, "function", None)]
    for name, defs in item._fixtureinfo.name2fixturedefs.items():
        if not name.startswith("_"):  # not the guards of this file
            funcs.append(defs[-1].func)
    module = getattr(item, "module", None)
    helpers = (
        {
            n: f
            for n, f in vars(module).items()
            if inspect.isfunction(f)
            and f.__module__ == module.__name__
            and not n.startswith("test_")
        }
        if module
        else {}
    )
    out: list[str] = []
    seen: set[object] = set()
    for _ in range(3):
        for f in funcs:
            if f is None or f in seen:
                continue
            seen.add(f)
            try:
                out.append(inspect.getsource(f))
            except (OSError, TypeError):
                continue
        text = "\n".join(out)
        funcs = [f for n, f in helpers.items() if f"{n}(" in text and f not in seen]
    return "\n".join(out)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by what it needs: ``pg`` (a PostgreSQL server), ``worker`` (it starts
    the CLI or a worker process), ``physics`` (it measures a direction on the live host), so
    ``pytest -m "not physics and not worker and not pg"`` runs the pure tests. A test marks
    itself where its source does not show it (``@pytest.mark.worker``); the guard below fails
    an unmarked test that starts a process."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "pg_url" in item.fixturenames or params.get("store_url") == "postgresql":
            item.add_marker(pytest.mark.pg)
        src = _sources(item)
        if any(s in src for s in STARTS_PROCESSES):
            item.add_marker(pytest.mark.worker)
        if any(s in src for s in PHYSICS):
            item.add_marker(pytest.mark.physics)


@pytest.fixture(autouse=True)
def _no_process_unless_marked(request, monkeypatch):
    """A test not marked ``worker`` (or ``pg``) that starts a process fails: the markers never
    let a slow test into the pure run."""
    if request.node.get_closest_marker("worker") or request.node.get_closest_marker("pg"):
        return
    real = subprocess.Popen.__init__

    def guarded(self, args, *rest, **kwargs):
        argv = [args] if isinstance(args, str | bytes) else list(args)
        if argv and (argv[0] == sys.executable or "smclab" in " ".join(map(str, argv))):
            raise AssertionError(f"{request.node.nodeid} starts {argv[:3]}: mark it worker")
        real(self, args, *rest, **kwargs)  # a tool (GNU as): quick, allowed

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded)


#: the checkout the tests run from: the suite must leave it as it found it
ROOT = Path(__file__).resolve().parent.parent
#: folders the tools make (caches, environments, builds), not compared
TOOL_DIRS = {".git", ".venv", ".ci-venv", "__pycache__", ".pytest_cache", ".ruff_cache"}
TOOL_DIRS |= {".mypy_cache", "build"}


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` but the tools' folders: path -> (size, mtime in ns)."""
    state = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in TOOL_DIRS and not d.endswith(".egg-info")]
        for name in files:
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            state[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
    return state


def tree_changes(before: dict, after: dict) -> list[str]:
    """What a run did to a tree: files added, removed or changed."""
    return sorted(
        [f"added {p}" for p in after.keys() - before.keys()]
        + [f"removed {p}" for p in before.keys() - after.keys()]
        + [f"changed {p}" for p in before.keys() & after.keys() if before[p] != after[p]]
    )


def pytest_sessionstart(session):
    session.config.stash[TREE] = {r: tree_state(r) for r in {ROOT, Path.cwd().resolve()}}


def pytest_sessionfinish(session, exitstatus):
    """The suite fails if it left files in the checkout (or the folder it ran in): tests write
    into temporary folders only."""
    changes = [
        f"{root}: {c}"
        for root, before in session.config.stash.get(TREE, {}).items()
        for c in tree_changes(before, tree_state(root))
    ]
    if changes:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("the test suite left files in the working tree:", red=True)
            for c in changes:
                reporter.write_line(f"  {c}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


TREE = pytest.StashKey[dict]()


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


def measured_together(*exps, rounds: int = 9, min_ms: float = 2.0) -> list:
    """Measure ``exps`` in interleaved rounds (the protocol for anything compared): a slow
    phase of a shared host then hits all of them alike. Returns their Results, in order.
    9 rounds: one may go the other way on a loaded box and the sign test still decides
    (8 of 9: p = 0.04)."""
    import dataclasses

    from smclab.run import machine
    from smclab.run.interleave import measure_interleaved
    from smclab.run.worker import Runner

    settings = {"repeats": rounds, "min_ms": min_ms, "events": ()}
    with Runner() as runner:
        host = machine.host_facts(runner.tsc_hz())
        return measure_interleaved(runner, [dataclasses.replace(e, **settings) for e in exps], host)


#: why the stubbed session's host has no second CPU
ONE_CPU = "needs a second CPU: the affinity mask allows only CPU 0 of the 2 online"


def stubbed_session(monkeypatch, tmp_path, ticks):
    """A session of an Intel host with no CPU flags and one usable CPU (:data:`ONE_CPU`), a
    store in ``tmp_path``, and interleaved runs stubbed: the ``i``-th experiment of a batch
    measures ``ticks(i, exp)`` ticks per iteration in each of its rounds (no worker)."""
    import types

    from smclab.model.result import Result, Stats
    from smclab.run import machine
    from smclab.store import open_store
    from smclab.suites.session import check_experiment

    host = {"vendor": "GenuineIntel", "family": 6, "model": 0xCF, "flags": [], "tsc_hz": 2e9}
    monkeypatch.setattr(machine, "second_cpu_missing", lambda: ONE_CPU)

    def measured(exps, suite, names=None, sweep_id=None, progress=None, stop=None):
        out = []
        for i, e in enumerate(exps):
            v = [ticks(i, e)] * e.repeats
            r = Result(e, host, 1000, Stats.of(v, tuple(v), "s"), Stats.of(v), {})
            r.rounds = [[x] for x in v]  # one repeat per interleaved round
            out.append(r)
        return out

    cpu = machine.CpuId("GenuineIntel", 6, 0xCF, 1)
    return types.SimpleNamespace(
        host=host,
        check=lambda e: check_experiment(e, cpu, frozenset()),
        store=open_store(tmp_path / "a.sqlite", create=True),
        run_interleaved=measured,
    )


def costs_more(a, b):
    """Assert a direction every x86-64 CPU shows: ``a`` costs more than ``b`` (both Results of
    one interleaved run). Decided by the exact sign test over their paired rounds
    (:func:`smclab.model.rounds.compare_rounds`: p <= 0.07 and a median ratio beyond the 5%
    noise floor); the effect size (the median ratio and its interval) is taken from the same
    run and shown on failure, never compared with a magnitude another CPU showed (those are
    asserted on recorded data). Returns the comparison."""
    from smclab.model.rounds import compare_rounds

    assert a.error is None and b.error is None, (a.error, b.error)
    ra, rb = a.round_values(), b.round_values()
    c = compare_rounds(ra, rb)
    assert c.verdict == "higher", (
        f"expected {a.experiment.label()} > {b.experiment.label()}: ratio {c.ratio:.3g}"
        f" ({c.low:.3g}-{c.high:.3g}), {c.above} of {c.rounds} rounds higher, p={c.p:.3g};"
        f" rounds {ra} vs {rb}"
    )
    return c


# -- store backends --------------------------------------------------------------------------
#: a PostgreSQL server the store tests may create databases on (.ci/run starts one)
PG_URL = os.environ.get("SMCLAB_TEST_PG")


def pg_unavailable() -> str | None:
    """Why the PostgreSQL cases cannot run (None: they can)."""
    if not PG_URL:
        return "no PostgreSQL server: set SMCLAB_TEST_PG=postgresql://... (see README)"
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed: pip install '.[postgres]'"
    try:
        psycopg.connect(PG_URL, connect_timeout=5).close()
    except psycopg.Error as e:
        return f"cannot connect to SMCLAB_TEST_PG: {' '.join(str(e).split())}"
    return None


def need_pg() -> None:
    """Skip without a server, or fail when one is required (SMCLAB_REQUIRE_PG=1, as in CI)."""
    reason = pg_unavailable()
    if reason is None:
        return
    if os.environ.get("SMCLAB_REQUIRE_PG") == "1":
        pytest.fail(f"SMCLAB_REQUIRE_PG=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def pg_database_url(dbname: str, url: str | None = None) -> str:
    """``url`` (SMCLAB_TEST_PG) with another database name."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url or PG_URL or "")
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def pg_admin():
    import psycopg

    return psycopg.connect(PG_URL, autocommit=True)


@pytest.fixture
def pg_url():
    """The URL of a new, empty PostgreSQL database (dropped afterwards)."""
    import uuid

    need_pg()
    name = f"smclab_test_{uuid.uuid4().hex[:12]}"
    with pg_admin() as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield pg_database_url(name)
    finally:
        with pg_admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A new store's location on each backend: a file path, or an empty database's URL."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite")
    return request.getfixturevalue("pg_url")
