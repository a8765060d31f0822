"""Sweeps: a grid of knob values, expanded, filtered and run in one worker, resumable.

A :class:`Grid` maps Experiment fields to the values to try; it comes from command-line options
(comma-separated lists) or a TOML file. :func:`plan` expands the cartesian product, drops what
:class:`Experiment` rejects or this host cannot run (counted by reason), and names
the sweep. :func:`run_sweep` runs what the store does not hold yet for that sweep (matched on
``Experiment.code_key()``), storing each result in its own transaction, so an interrupted
sweep resumes where it stopped without duplicated rows (``smclab.store.export`` flattens
stored results for JSON and CSV).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import re
import signal
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smclab.errors import SpecError, read_input
from smclab.isa import gas
from smclab.model.experiment import (
    FIELDS,
    KNOBS,
    LIST_FIELDS,
    Experiment,
    field_default,
    field_meta,
    field_name,
    parse_list,
    toml_values,
)
from smclab.model.result import Result, StoredResult
from smclab.run import machine
from smclab.run.interrupt import Interrupted
from smclab.store import ResultStore, StoreError
from smclab.store.export import export_rows
from smclab.store.lock import Holder
from smclab.suites.session import Session, check_experiment

SUITE = "sweep"
#: every suite results are stored under (``results --suite``, ``compare --suite``)
SUITES = ("run", "sweep", "seed", "diagnose", "advise")
MAX_COMBINATIONS = 100_000
#: the largest grid file read (a grid is a few lines of TOML)
MAX_GRID_FILE = 1 << 20
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise SpecError(
            f"sweep name '{name}' must be 1-64 letters, digits, '.', '_', ':' or '-'"
            " (starting with a letter or digit)"
        )
    return name


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Grid:
    """Experiment field -> the values to try (one value: a fixed setting).

    Axes are kept in the Experiment's field order, values deduplicated, and an axis that only
    holds the field's default is dropped, so equal grids compare (and hash) equal.
    """

    axes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    name: str | None = None

    def __post_init__(self) -> None:
        axes = {}
        for key in FIELDS:
            if key in self.axes:
                values = tuple(dict.fromkeys(self.axes[key]))
                if values != (field_default(key),):
                    axes[key] = values
        unknown = set(self.axes) - set(FIELDS)
        if unknown:
            raise SpecError(f"unknown knob '{sorted(unknown)[0]}' (knobs: {', '.join(FIELDS)})")
        object.__setattr__(self, "axes", axes)
        if self.name is not None:
            check_name(self.name)

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_options(cls, options: dict[str, str | None], name: str | None = None) -> Grid:
        """From option texts (``{'step': '0,64'}``; None: not given)."""
        return cls({k: parse_list(k, v) for k, v in options.items() if v is not None}, name)

    @classmethod
    def from_toml(cls, text: str, source: str = "the grid") -> Grid:
        """``name = "..."``, fixed settings at the top level, lists of values under ``[grid]``."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise SpecError(f"bad TOML in {source}: {' '.join(str(e).split())}") from None
        name = data.pop("name", None)
        if name is not None and not isinstance(name, str):
            raise SpecError(f"name in {source} must be a string")
        table = data.pop("grid", {})
        if not isinstance(table, dict):
            raise SpecError(f"[grid] in {source} must be a table of knob = [values]")
        axes: dict[str, tuple[Any, ...]] = {}
        try:
            for key, value in [*data.items(), *table.items()]:
                fname = field_name(key)
                if fname in axes:
                    raise SpecError(f"{key} is given twice")
                if fname in LIST_FIELDS and key in table:
                    raise SpecError(f"{key} is one list of counters: set it outside [grid]")
                axes[fname] = toml_values(key, value)
            return cls(axes, name)
        except SpecError as e:
            raise SpecError(f"{source}: {e}") from None

    @classmethod
    def load(cls, path: str | Path) -> Grid:
        return cls.from_toml(read_input(path, MAX_GRID_FILE, "grid file"), str(path))

    @classmethod
    def from_json(cls, data: dict[str, list[Any]], name: str | None = None) -> Grid:
        axes = {
            k: tuple(tuple(v) if isinstance(v, list) else v for v in vs) for k, vs in data.items()
        }
        return cls(axes, name)

    def merged(self, other: Grid) -> Grid:
        """This grid with ``other``'s axes (and name, if set) taking precedence."""
        return Grid({**self.axes, **other.axes}, other.name or self.name)

    def named(self, name: str | None) -> Grid:
        return self if name is None else Grid(self.axes, name)

    # -- identity ---------------------------------------------------------------------
    def to_json(self) -> dict[str, list[Any]]:
        return {k: [_jsonable(v) for v in vs] for k, vs in self.axes.items()}

    def key(self) -> str:
        """A hash of the grid (not of its name or the order of values): equal grids, equal keys."""
        canon = {k: sorted(vs, key=json.dumps) for k, vs in self.to_json().items()}
        text = json.dumps(canon, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    @property
    def id(self) -> str:
        """The sweep id: the name if given, else derived from the grid's hash."""
        return self.name or f"sweep-{self.key()}"

    def size(self) -> int:
        return math.prod(len(v) for v in self.axes.values())

    def varying(self) -> tuple[str, ...]:
        return tuple(k for k, v in self.axes.items() if len(v) > 1)

    def combinations(self) -> Iterator[dict[str, Any]]:
        keys = list(self.axes)
        for values in itertools.product(*(self.axes[k] for k in keys)):
            yield dict(zip(keys, values, strict=True))


@dataclass
class Plan:
    """What a sweep runs: the valid, supported experiments, and why the others were dropped."""

    grid: Grid
    sweep_id: str
    experiments: list[Experiment]
    skipped: dict[str, int]  # reason -> number of combinations
    total: int  # combinations in the grid
    suite: str = SUITE  # the results' suite column
    labels: dict[str, str] = field(default_factory=dict)  # code_key -> stored name
    retry_errors: bool = False  # run again what is stored only as an error row
    #: measure the pending experiments in interleaved rounds (their results will be compared)
    interleave: bool = False

    @property
    def name(self) -> str | None:
        return self.grid.name


def plan(
    grid: Grid,
    cpu: machine.CpuId | None = None,
    flags: frozenset[str] | None = None,
    sweep_id: str | None = None,
) -> Plan:
    """Expand ``grid``; raises SpecError if it is too large or nothing in it can run here."""
    total = grid.size()
    if total > MAX_COMBINATIONS:
        raise SpecError(f"the grid has {total} combinations (at most {MAX_COMBINATIONS})")
    cpu = cpu or machine.cpu_id()
    flags = machine.cpu_flags() if flags is None else flags
    skipped: Counter[str] = Counter()
    experiments: dict[str, Experiment] = {}
    for combo in grid.combinations():
        try:
            if "asm" in combo:  # the grid names a file: the experiment holds its text
                combo["asm_name"], combo["asm"] = gas.read_file(combo["asm"])
            exp = Experiment(**combo)
            check_experiment(exp, cpu, flags)
        except SpecError as e:
            skipped[str(e)] += 1
            continue
        experiments.setdefault(exp.code_key(), exp)
    if not experiments:
        reasons = "; ".join(f"{r} ({n}x)" for r, n in skipped.most_common(3))
        more = f"; {len(skipped) - 3} more reasons" if len(skipped) > 3 else ""
        raise SpecError(
            f"no experiment of the grid can run: all {total} combination(s) dropped:"
            f" {reasons}{more}".replace("\n", " ")
        )
    return Plan(grid, sweep_id or grid.id, list(experiments.values()), dict(skipped), total)


def requested_grid(
    axes: dict[str, str], grid_file: str | None, name: str | None, resume_id: str | None
) -> Grid:
    """The grid ``smclab sweep`` options ask for: knob lists (``axes``), a TOML file (whose
    axes they override) and a name; with ``resume_id`` none of them (the stored grid is run,
    see :func:`plan_for`). Raises SpecError."""
    if resume_id is not None:
        if axes or grid_file or name:
            raise SpecError("--resume runs the stored grid: give no knobs, --grid or --name")
    elif not axes and not grid_file:
        raise SpecError("no grid: give knobs with comma-separated values or --grid FILE")
    grid = Grid.from_options(dict(axes))
    if grid_file:
        grid = Grid.load(grid_file).merged(grid)
        if not grid.axes:
            raise SpecError(f"the grid file {grid_file} names no knobs (see `smclab sweep --help`)")
    return grid.named(name)


def stored_grid(store: ResultStore, sweep_id: str) -> Grid:
    """The grid of the stored sweep ``sweep_id`` (to resume it); SpecError if there is none
    or another suite than a grid sweep recorded it."""
    found = store.sweep(sweep_id)
    if found is None:
        raise SpecError(f"no sweep '{sweep_id}' in {store.location}")
    suite = store.sweep_suite(sweep_id)
    if suite is None and sweep_id.startswith("diagnose-"):
        suite = "diagnose"  # a probe that stores counts, not results (stale-code)
    if suite not in (None, SUITE):
        raise SpecError(
            f"sweep '{sweep_id}' was recorded by `smclab {suite}`, not by"
            f" a grid: run `smclab {suite}` again instead"
        )
    return Grid.from_json(found.grid, found.name)


def plan_for(
    session: Session,
    grid: Grid,
    resume_id: str | None = None,
    retry_errors: bool = False,
    interleave: bool = False,
) -> Plan:
    """The plan of ``grid`` on the session's host, or of the stored sweep ``resume_id``
    (``interleave``: its pending experiments are measured in interleaved rounds)."""
    if resume_id is not None:
        grid = stored_grid(session.store, resume_id)
    p = plan(grid, session.cpu, session.flags, resume_id)
    return dataclasses.replace(p, retry_errors=retry_errors, interleave=interleave)


def sweep_results(
    store: ResultStore,
    sweep_id: str | None = None,
    suite: str | None = None,
    host_id: int | None = None,
) -> list[StoredResult]:
    """Stored results of ``suite``, ``sweep_id`` and ``host_id`` (None: any); SpecError if a
    sweep is named that the store does not know."""
    stored = list(store.results(suite=suite, sweep_id=sweep_id, host_id=host_id))
    if sweep_id is not None and not stored and store.sweep(sweep_id) is None:
        raise SpecError(f"no sweep '{sweep_id}' in {store.location}")
    return stored


# -- running --------------------------------------------------------------------------------


class Observer:
    """Hooks :func:`run_sweep` calls (a progress bar); the defaults do nothing."""

    def begin(self, total: int, done: int) -> None:
        """``total`` runnable experiments, ``done`` of them already stored."""

    def start(self, exp: Experiment) -> None: ...

    def finish(self, result: Result) -> None: ...

    def progress(self, done: int, total: int) -> None:
        """Interleaved rounds: ``done`` of ``total`` measurements (calibrations included)."""

    def stop(self) -> int | None:
        """A signal number to stop before the next experiment, or None to go on."""
        return None


@dataclass
class SweepRun:
    plan: Plan
    already_done: int
    results: list[Result] = field(default_factory=list)
    remaining: int = 0
    interrupted: int | None = None  # the signal that stopped the sweep

    @property
    def ran(self) -> int:
        return len(self.results)

    def summary(self, stored: list[StoredResult] | None = None) -> dict[str, Any]:
        """The ``sweep`` object of ``smclab sweep --json``: ``errors`` counts the experiments
        of ``stored`` whose latest result (per host) is an error, or the errors of this run."""
        outcomes = self.results if stored is None else latest_outcomes(stored)
        errors = sum(1 for r in outcomes if r.error)
        return {
            "id": self.plan.sweep_id,
            "name": self.plan.name,
            "total": self.plan.total,
            "skipped": self.plan.skipped,
            "already_done": self.already_done,
            "ran": self.ran,
            "errors": errors,
            "remaining": self.remaining,
            "interrupted": signal.Signals(self.interrupted).name if self.interrupted else None,
        }


def latest_outcomes(stored: list[StoredResult]) -> list[StoredResult]:
    """The latest stored result of each experiment per host, errors included: an error a
    later success superseded (``--retry-errors``) no longer counts."""
    latest: dict[tuple[int, str], StoredResult] = {}
    for r in stored:
        latest[(r.host_id, r.exp_key)] = r  # stores list results oldest first
    return list(latest.values())


def pending(session: Session, p: Plan) -> list[Experiment]:
    """The planned experiments not stored yet for this sweep (on this host)."""
    host = session.store.host_id(session.host)
    done = session.store.done_keys(p.sweep_id, host, errors=not p.retry_errors)
    return [e for e in p.experiments if e.code_key() not in done]


def dry_run(session: Session, p: Plan) -> tuple[dict[str, Any], list[Experiment]]:
    """What running ``p`` would do: its summary and the experiments it would run."""
    todo = pending(session, p)
    run = SweepRun(p, len(p.experiments) - len(todo), remaining=len(todo))
    return run.summary([]), todo


def plan_results(store: ResultStore, p: Plan) -> list[StoredResult]:
    """The stored results of ``p``'s experiments in its sweep (every host, oldest first)."""
    keys = {e.code_key() for e in p.experiments}
    return [r for r in store.results(sweep_id=p.sweep_id) if r.exp_key in keys]


def sweep_json(summary: dict[str, Any], stored: list[StoredResult]) -> dict[str, Any]:
    """What ``smclab sweep --json`` prints."""
    return {"sweep": summary, "rows": export_rows(stored)}


def run_sweep(session: Session, p: Plan, observer: Observer | None = None) -> SweepRun:
    """Run what is not stored yet for ``p.sweep_id``; every result is stored as it comes.

    The sweep is locked in the store while it runs: another process asking for the same sweep
    id gets :class:`smclab.store.SweepLocked` at once (it does not wait). Whatever stops the
    run (a signal, a failed write, a crashed worker), it is left ``interrupted``, not
    ``running``, if the store can still be written; if not, listing derives it from the lock.
    """
    obs = observer or Observer()
    store = session.store
    holder = Holder.current(machine.fingerprint(session.host))
    store.lock_sweep(p.sweep_id, holder)
    status = "interrupted"
    try:
        todo = pending(session, p)
        run = SweepRun(p, len(p.experiments) - len(todo), remaining=len(todo))
        store.save_sweep(p.sweep_id, p.name, p.grid.to_json(), p.total, p.skipped)
        obs.begin(len(p.experiments), run.already_done)
        names = [p.labels.get(e.code_key(), e.label()) for e in todo]
        if p.interleave:
            _run_interleaved(session, p, todo, names, run, obs)
        else:
            for exp, name in zip(todo, names, strict=True):
                signum = obs.stop()
                if signum:
                    run.interrupted = signum
                    break
                obs.start(exp)
                result = session.run(exp, p.suite, name, p.sweep_id)
                run.results.append(result)
                run.remaining -= 1
                obs.finish(result)
        if not run.remaining:
            status = "done"
    finally:
        with contextlib.suppress(StoreError):  # the error in flight matters more
            store.set_sweep_status(p.sweep_id, status)
        with contextlib.suppress(StoreError):
            store.unlock_sweep(p.sweep_id, holder)
    return run


def _run_interleaved(
    session: Session,
    p: Plan,
    todo: list[Experiment],
    names: list[str],
    run: SweepRun,
    obs: Observer,
) -> None:
    """The pending experiments in interleaved rounds; a stop asked for between two
    measurements ends the set with nothing of it stored (its points only mean something
    together)."""
    asked: list[int] = []

    def stop() -> int | None:
        signum = obs.stop()
        if signum:
            asked.append(signum)
        return signum

    if not todo:
        return
    try:
        results = session.run_interleaved(todo, p.suite, names, p.sweep_id, obs.progress, stop)
    except Interrupted:
        if not asked:
            raise
        run.interrupted = asked[0]
        return
    for result in results:
        run.results.append(result)
        run.remaining -= 1
        obs.finish(result)


def varying_knobs(results: list[StoredResult]) -> list[str]:
    """The knobs (and measurement settings) whose value differs between ``results`` (not the
    ones too long for a column: an assembly file's text shows as its name)."""
    keys = [k for k in (*KNOBS, "repeats") if field_meta(k).get("column", True)]
    return [k for k in keys if len({json.dumps(r.knob(k)) for r in results}) > 1]
