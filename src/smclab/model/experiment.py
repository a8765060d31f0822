"""Experiment specification: a frozen, validated description of one generated loop.

An :class:`Experiment` says *what* code is generated and run (its ``workload`` and the knobs
of that workload) and *how* it is measured (iterations, repeats, min-ms, events).

A workload (``seed``, ``jit-block``, ``jit-emit``, ``patch``, ``relocate``, see
:mod:`smclab.workloads`) is one package, registered once as a :class:`Workload`: its knobs
(:class:`~smclab.model.knobs.Knob`, with their choices and help), its validation, the CPU flags
it needs, its label, its code generator, its catalog variants and its advice. This module only
holds the registry; the built-in workloads register themselves when it is first read, and so
does every module named in ``$SMCLAB_WORKLOADS`` (module names or ``.py`` files, separated by
``os.pathsep``: a workload outside smclab, which the worker process loads too).

Every invalid combination is rejected by :meth:`Experiment.validate` with one sentence.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from smclab.errors import SpecError
from smclab.model.knobs import Knob, check_choice

#: the environment variable naming workloads outside smclab (modules or .py files)
PLUGINS_ENV = "SMCLAB_WORKLOADS"
DEFAULT_EVENTS = ("smc-clears",)


def _none(exp: Experiment) -> list[tuple[str, tuple[str, ...]]]:
    return []


def _no_variants() -> list[Any]:
    return []


def _one_cpu(exp: Experiment) -> int:
    return 1


@dataclass(frozen=True)
class Workload:
    """One workload, in one place: what :func:`register` records.

    ``knobs`` are the knobs it declares; ``reads`` names knobs another workload declared that
    it reads too (jit-emit reads jit-block's ``block`` and ``strategy``). ``validate`` raises
    SpecError for a bad combination; ``needs`` gives (knob value, the CPU flags it needs);
    ``head`` starts the label (the knobs in ``shown`` are in it; every other knob that differs
    from its default follows as its :meth:`Knob.shown`). ``layout_for(exp, base, code_size)``
    and ``build(exp, layout)`` generate the code (:mod:`smclab.codegen`); ``variants()`` are
    its catalog entries; ``advice`` its naive way, floor and candidates
    (:class:`~smclab.workloads.advice.CandidateSet`); ``space`` its advise search space.
    """

    name: str
    summary: str
    knobs: tuple[Knob, ...]
    validate: Callable[[Experiment], None]
    head: Callable[[Experiment], str]
    layout_for: Callable[[Experiment, int, int], Any]
    build: Callable[[Experiment, Any], Any]
    reads: tuple[str, ...] = ()
    shown: tuple[str, ...] = ()
    needs: Callable[[Experiment], list[tuple[str, tuple[str, ...]]]] = _none
    variants: Callable[[], list[Any]] = _no_variants
    advice: Any = None
    space: Any = None
    #: iterations one event (a patch) is spread over, for a per-event cost (None: no events)
    per_event: Callable[[Experiment], int | None] | None = None
    #: CPUs an experiment runs on (2 with a writer thread on another CPU)
    cpus: Callable[[Experiment], int] = _one_cpu

    @property
    def knob_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.knobs) + self.reads


#: the measurement settings, after every workload's knobs
MEASURE = (
    Knob("iterations", None, "int", "Iterations per repeat (default: calibrated).", measure=True),
    Knob("repeats", 5, "int", "Timed repeats.", measure=True),
    Knob(
        "min_ms", 20.0, "float", "Calibrate so one repeat lasts at least this long.", measure=True
    ),
    Knob(
        "events",
        DEFAULT_EVENTS,
        "events",
        "Counters (see `smclab host`); none: no counters.",
        measure=True,
    ),
)

_REGISTRY: dict[str, Workload] = {}
#: knob name -> the knob, in registration order (see FIELDS for the workload knob and the
#: measurement settings around them)
_KNOBS: dict[str, Knob] = {}
#: knob name -> the workload that declares it
_DECLARED: dict[str, str] = {}
#: knob name -> the workloads it applies to
_OWNERS: dict[str, list[str]] = {}
_loaded = False
#: why a module named in $SMCLAB_WORKLOADS did not load (the command line reports the first)
PLUGIN_ERRORS: list[str] = []


def register(w: Workload) -> Workload:
    """Add workload ``w`` (again: replace it); its knobs become Experiment knobs. A knob name
    may be declared by one workload only (another ``reads`` it)."""
    reserved = {"workload", "knobs", *(k.name for k in MEASURE)}
    for k in w.knobs:
        if k.name in reserved or _DECLARED.get(k.name, w.name) != w.name:
            raise ValueError(f"workload {w.name}: knob '{k.name}' is declared elsewhere")
    for name in w.reads:
        if name not in _KNOBS:
            raise ValueError(f"workload {w.name} reads '{name}', which no workload declares")
    _REGISTRY[w.name] = w
    for k in w.knobs:
        _KNOBS[k.name] = k
        _DECLARED[k.name] = w.name
    for name in w.knob_names:
        owners = _OWNERS.setdefault(name, [])
        if w.name not in owners:
            owners.append(w.name)
    return w


def unregister(name: str) -> None:
    """Remove workload ``name`` and the knobs only it had (a test's workload, when done)."""
    w = _REGISTRY.pop(name)
    for knob in w.knob_names:
        owners = _OWNERS[knob]
        owners.remove(name)
        if not owners:
            del _OWNERS[knob], _KNOBS[knob], _DECLARED[knob]


def _load() -> None:
    """Register the built-in workloads and those named in $SMCLAB_WORKLOADS (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import smclab.workloads  # noqa: F401  (each built-in registers itself)

    for item in filter(None, os.environ.get(PLUGINS_ENV, "").split(os.pathsep)):
        try:
            load_plugin(item)
        except Exception as e:  # any error of a module not ours: said once, in one line
            reason = " ".join(str(e).split()) or type(e).__name__
            PLUGIN_ERRORS.append(f"{PLUGINS_ENV}: cannot load {item}: {reason}")


def load_plugin(item: str) -> None:
    """Import the module (a name, or a ``.py`` file) defining a workload outside smclab."""
    if not item.endswith(".py"):
        importlib.import_module(item)
        return
    name = "smclab_plugin_" + os.path.splitext(os.path.basename(item))[0]
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, item)
    if spec is None or spec.loader is None:
        raise SpecError(f"{PLUGINS_ENV}: cannot load {item}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def workloads() -> dict[str, Workload]:
    """Every registered workload, by name, in registration order."""
    _load()
    return _REGISTRY


def get_workload(name: str) -> Workload:
    """The workload ``name``; SpecError (with the choices) if there is none."""
    found = workloads()
    if name not in found and PLUGIN_ERRORS:
        raise SpecError(f"unknown workload '{name}' ({PLUGIN_ERRORS[0]})")
    check_choice("workload", name, found)
    return found[name]


class _Live(Sequence[str]):
    """A sequence read from the registry each time (a workload registered later is in it)."""

    def __init__(self, read: Callable[[], list[str]]) -> None:
        self._read = read

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        return self._read()[i]

    def __len__(self) -> int:
        return len(self._read())

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __repr__(self) -> str:
        return repr(tuple(self._read()))


def _knob_names() -> list[str]:
    _load()
    return list(_KNOBS)


WORKLOAD = Knob(
    "workload",
    "seed",
    "choice",
    "Workload (see `smclab catalog`).",
    _Live(lambda: list(workloads())),
)
#: every registered workload's name, read when used
WORKLOADS: Sequence[str] = WORKLOAD.choices  # type: ignore[assignment]
#: the workload and every workload's knobs (not measurement settings), in registration order
KNOBS: Sequence[str] = _Live(lambda: ["workload", *_knob_names()])
#: every Experiment field: the workload, the knobs, the measurement settings
FIELDS: Sequence[str] = _Live(lambda: ["workload", *_knob_names(), *(k.name for k in MEASURE)])


def knob_of(name: str) -> Knob:
    """The Knob of Experiment field ``name`` (after :func:`field_name`)."""
    if name == "workload":
        return WORKLOAD
    for k in MEASURE:
        if k.name == name:
            return k
    _load()
    return _KNOBS[name]


def field_name(text: str) -> str:
    """The Experiment field a knob name means (``min-ms`` -> ``min_ms``), or SpecError."""
    key = text.replace("-", "_")
    if key not in FIELDS:
        raise SpecError(f"unknown knob '{text}' (knobs: {', '.join(FIELDS)})")
    return key


def field_meta(name: str) -> dict[str, Any]:
    """The field's metadata; ``choices`` as a tuple, read now from its registry; ``applies``:
    the workloads a knob applies to (None: all)."""
    meta = knob_of(name).meta()
    meta["applies"] = tuple(_OWNERS[name]) if name in _OWNERS else None
    return meta


def field_default(name: str) -> Any:
    return knob_of(name).default


def parse_value(name: str, text: str) -> Any:
    """Parse one option value of field ``name`` from text (sizes accept K/M/G)."""
    return knob_of(field_name(name)).parse(text)


def parse_list(name: str, text: str) -> tuple[Any, ...]:
    """The values of option ``--name a,b,c`` (for ``events`` the whole list is one value)."""
    return knob_of(field_name(name)).parse_list(text)


def toml_values(name: str, value: Any) -> tuple[Any, ...]:
    """The values of ``name = value`` (or a list of values) in a TOML grid."""
    return knob_of(field_name(name)).toml_values(value)


#: fields whose one value is itself a list: set once per sweep, never an axis
LIST_FIELDS: Sequence[str] = _Live(lambda: [n for n in FIELDS if knob_of(n).is_list])


def applies(name: str, workload: str) -> bool:
    """Whether knob ``name`` means something to ``workload`` (measurement settings and the
    workload apply to all)."""
    return name not in _OWNERS or workload in _OWNERS[name]


@dataclass(frozen=True, init=False)
class Experiment:
    """One experiment: ``workload``, the values of its knobs that differ from their defaults
    (``knobs``, sorted by name; read each as an attribute: ``exp.buffer``, a knob of another
    workload reads as its default) and the measurement settings.

    ``Experiment(workload="seed", buffer=8192, repeats=3)``: every knob is a keyword.
    """

    workload: str
    knobs: tuple[tuple[str, Any], ...]
    iterations: int | None
    repeats: int
    min_ms: float
    events: tuple[str, ...]
    _values: dict[str, Any] = field(init=False, repr=False, compare=False, hash=False)

    def __init__(
        self,
        workload: str = "seed",
        knobs: Sequence[tuple[str, Any]] = (),
        iterations: int | None = None,
        repeats: int = 5,
        min_ms: float = 20.0,
        events: Sequence[str] = DEFAULT_EVENTS,
        **values: Any,
    ) -> None:
        get_workload(workload)
        given = {**dict(knobs), **values}
        unknown = sorted(n for n in given if n not in _KNOBS)
        if unknown:
            raise SpecError(f"unknown experiment field(s): {', '.join(unknown)}")
        mine = {n: v for n, v in given.items() if v != _KNOBS[n].default or applies(n, workload)}
        set_ = object.__setattr__
        set_(self, "workload", workload)
        changed = sorted((n, v) for n, v in mine.items() if not self._is_default(n, v))
        set_(self, "knobs", tuple(changed))
        set_(self, "iterations", iterations)
        set_(self, "repeats", repeats)
        set_(self, "min_ms", min_ms)
        set_(self, "events", tuple(events))
        set_(self, "_values", mine)
        self.validate()

    @staticmethod
    def _is_default(name: str, value: Any) -> bool:
        return bool(value == _KNOBS[name].default)

    def __getattr__(self, name: str) -> Any:
        """A knob's value (its default when not set)."""
        if name.startswith("_") or name not in _KNOBS:
            raise AttributeError(f"Experiment has no field '{name}'")
        return self.__dict__["_values"].get(name, _KNOBS[name].default)

    @property
    def spec(self) -> Workload:
        """This experiment's workload."""
        return get_workload(self.workload)

    # -- validation -------------------------------------------------------------------
    def validate(self) -> None:
        foreign = [n for n, _ in self.knobs if not applies(n, self.workload)]
        if foreign:
            verb = "applies" if len(foreign) == 1 else "apply"
            owners = sorted({w for n in foreign for w in _OWNERS[n]})
            raise SpecError(
                f"{', '.join(foreign)} only {verb} to the {' and '.join(owners)} workload"
                + ("s" if len(owners) > 1 else "")
            )
        self.spec.validate(self)
        if self.iterations is not None and not 1 <= self.iterations <= 10**10:
            raise SpecError(f"iterations must be between 1 and 1e10, got {self.iterations}")
        if not 1 <= self.repeats <= 1000:
            raise SpecError(f"repeats must be between 1 and 1000, got {self.repeats}")
        if not 0.1 <= self.min_ms <= 60_000:
            raise SpecError(f"min-ms must be between 0.1 and 60000, got {self.min_ms}")

    def _default(self, name: str) -> bool:
        return bool(getattr(self, name) == field_default(name))

    def required_flags(self) -> tuple[str, ...]:
        """CPU flags this experiment needs to run without a SIGILL."""
        return tuple(f for _, flags in self.spec.needs(self) for f in flags)

    def check_host(self, cpu_flags: set[str] | frozenset[str]) -> None:
        """Reject, before running, what this CPU cannot execute."""
        for value, flags in self.spec.needs(self):
            for flag in flags:
                if flag not in cpu_flags:
                    raise SpecError(f"'{value}' needs the CPU flag '{flag}', which this CPU lacks")

    def cpus_needed(self) -> int:
        """CPUs this experiment runs on: two with a writer thread on another CPU (a seed's
        ``cross``, a patch of kind ``cross``), else one."""
        return self.spec.cpus(self)

    def iterations_per_patch(self) -> int | None:
        """How many iterations one patch is spread over (the patch workload), else None."""
        per = self.spec.per_event
        return per(self) if per else None

    # -- identity ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The workload, each of its knobs, the measurement settings (JSON-ready)."""
        d: dict[str, Any] = {"workload": self.workload}
        d.update({n: getattr(self, n) for n in self.spec.knob_names})
        d.update(
            iterations=self.iterations,
            repeats=self.repeats,
            min_ms=self.min_ms,
            events=list(self.events),
        )
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Experiment:
        return cls(**data)

    def canonical(self) -> dict[str, Any]:
        """The fields that differ from their defaults (plus the workload): what identifies the
        experiment, so a knob added later (at its default) changes no existing key."""
        d = {"workload": self.workload, **dict(self.knobs)}
        for k in MEASURE:
            value = getattr(self, k.name)
            if value != k.default:
                d[k.name] = list(value) if isinstance(value, tuple) else value
        return d

    def code_key(self) -> str:
        """A stable hash of what is generated and measured (not of the event list)."""
        d = self.canonical()
        d.pop("events", None)
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def knob_key(self) -> str:
        """A stable hash of the knobs only: the same experiment however it was measured."""
        d = {"workload": self.workload, **dict(self.knobs)}
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def label(self) -> str:
        """A short name: the workload's head, then every other knob that differs from its
        default (so two experiments that differ in a knob never share a label)."""
        w = self.spec
        parts = [w.head(self)]
        for name in w.knob_names:
            if name not in w.shown and not self._default(name):
                text = knob_of(name).shown(self)
                if text:
                    parts.append(text)
        return " ".join(p for p in parts if p)
