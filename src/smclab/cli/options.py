"""Options: every Experiment field as an option generated from its knob metadata, and the
options several commands share (``--db``, ``--cpu``, ``--timeout``, ``--json``), each declared
once here."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import click
from click.shell_completion import CompletionItem

from smclab.errors import SpecError
from smclab.isa.gas import read_file
from smclab.model.experiment import FIELDS, Experiment, field_default, field_meta, parse_value
from smclab.model.rounds import FULL_ROUNDS, MIN_ROUNDS, QUICK_ROUNDS, RIGOROUS_ROUNDS
from smclab.run.worker import HARD_LIMIT
from smclab.suites.catalog import VARIANTS, variant_experiment
from smclab.suites.sweep import SUITES

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

METAVARS = {
    "size": "SIZE",
    "int": "N",
    "float": "X",
    "choice": "NAME",
    "strategy": "ID",
    "events": "LIST",
    "asm": "FILE",
    "text": "TEXT",
}


def field_option(name: str) -> Decorator:
    """The option of Experiment field ``name`` (text value, None when not given)."""
    meta = field_meta(name)
    default = field_default(name)
    shown = ",".join(default) if isinstance(default, tuple) else default
    text = meta["help"]
    if meta["choices"] and meta["kind"] == "choice":  # a strategy: see the catalog
        text += f" One of: {', '.join(meta['choices'])}."
    if shown not in (None, ""):
        text += f" [default: {shown}]"
    opt = "--" + name.replace("_", "-")
    return click.option(
        opt,
        name,
        default=None,
        hidden=meta.get("hidden", False),
        metavar=METAVARS[meta["kind"]],
        help=text,
        shell_complete=_completer(lambda: knob_values(name)),
    )


def knob_values(name: str) -> list[str]:
    """What a knob's option completes to: its choices (a strategy's: every strategy id)."""
    return [str(c) for c in field_meta(name)["choices"] or ()]


def _completer(values: Callable[[], list[str]]) -> Callable[..., list[CompletionItem]]:
    """Shell completion of a value, or of the last of a comma-separated list (sweep axes)."""

    def complete(ctx: Any, param: Any, incomplete: str) -> list[CompletionItem]:
        head, _, last = incomplete.rpartition(",")
        prefix = f"{head}," if head else ""
        return [CompletionItem(prefix + v) for v in values() if v.startswith(last)]

    return complete


def _field_options(
    fn: Callable[..., Any],
    collect: Callable[[dict[str, Any], dict[str, Any]], Any],
    arg: str,
    fields: Sequence[str] = FIELDS,
) -> Callable[..., Any]:
    """``fn`` with each Experiment field of ``fields`` (default: all) as an option; ``collect``
    turns the given texts ({field: text}) into the value passed to ``fn`` as ``arg`` (it may
    take options of its own from the others, its second argument)."""
    names = list(fields)

    @functools.wraps(fn)
    def wrapper(**kw: Any) -> Any:
        given = {n: v for n in names if (v := kw.pop(n)) is not None}
        return fn(**{arg: collect(given, kw)}, **kw)

    command: Callable[..., Any] = wrapper
    for name in reversed(names):
        command = field_option(name)(command)
    return command


def _experiment(given: dict[str, str], other: dict[str, Any]) -> Experiment:
    knobs = {n: parse_value(n, v) for n, v in given.items()}
    if "asm" in knobs:  # --asm FILE: the experiment keeps the file's text
        name, knobs["asm"] = read_file(knobs["asm"])
        knobs.setdefault("asm_name", name)
    variant = other.pop("variant")
    return Experiment(**knobs) if variant is None else variant_experiment(variant, **knobs)


def spec_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--variant`` and every Experiment field as an option (from its metadata); the command
    gets ``exp``."""
    command = _field_options(fn, _experiment, "exp")
    return click.option(
        "--variant",
        default=None,
        metavar="ID",
        shell_complete=_completer(lambda: list(VARIANTS)),
        help="Start from this catalog variant (see `smclab catalog`); knob options change it.",
    )(command)


def sweep_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Every Experiment field as an option taking a comma-separated list; the command gets
    ``axes`` ({field: text} for the options given)."""
    return _field_options(fn, lambda given, _: given, "axes")


def settings_options(*fields: str) -> Decorator:
    """The measurement settings ``fields`` as options (from their metadata, as every other
    field's); the command gets ``settings`` ({field: value} for the options given)."""

    def parsed(given: dict[str, Any], _: dict[str, Any]) -> dict[str, Any]:
        return {n: parse_value(n, v) for n, v in given.items()}

    return lambda fn: _field_options(fn, parsed, "settings", fields)


class Seconds(click.FloatRange):
    """A range of seconds that also refuses nan (which no bound of FloatRange catches)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        rv = super().convert(value, param, ctx)
        if math.isnan(rv):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return rv


def suite_option(help: str = "Only this suite's results.") -> Decorator:
    return click.option("--suite", type=click.Choice(SUITES), default=None, help=help)


def db_option(
    help: str = "Store: an SQLite file or a postgresql:// URL (default: $SMCLAB_DB or the XDG"
    " data dir).",
) -> Decorator:
    return click.option("--db", type=click.Path(dir_okay=False), default=None, help=help)


def cpu_option(help: str = "CPU the worker is pinned to (default: the last one).") -> Decorator:
    return click.option("--cpu", type=int, default=None, help=help)


def json_option(help: str = "Print JSON.") -> Decorator:
    return click.option("--json", "as_json", is_flag=True, help=help)


timeout_option = click.option(
    "--timeout",
    type=Seconds(min=0.1, max=86400),
    default=120.0,
    show_default=True,
    help="Seconds before a hung experiment is killed (more for a long one: the limit grows"
    f" with what its warm-up predicts, up to {HARD_LIMIT:g} s or this; the limit used is"
    " printed when it differs).",
)


def rounds_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--rounds N`` and ``--rigorous``: how many interleaved rounds a diagnose or advise run
    measures; the command gets ``rounds`` (None: the default of quick or full)."""

    @click.option(
        "--rounds",
        type=click.IntRange(MIN_ROUNDS, 1000),
        default=None,
        metavar="N",
        help=f"Interleaved rounds per point (default: {QUICK_ROUNDS} with --quick, else"
        f" {FULL_ROUNDS}); a difference is [high] only from 8 rounds on.",
    )
    @click.option(
        "--rigorous",
        is_flag=True,
        help=f"{RIGOROUS_ROUNDS} rounds: [high] confidence is reachable even with two"
        " rounds against.",
    )
    @functools.wraps(fn)
    def wrapper(*args: Any, rounds: int | None, rigorous: bool, **kwargs: Any) -> Any:
        if rigorous and rounds is not None:
            raise SpecError("--rigorous is 15 rounds: give --rounds or --rigorous, not both")
        return fn(*args, rounds=RIGOROUS_ROUNDS if rigorous else rounds, **kwargs)

    return wrapper


def session_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--db``, ``--cpu``, ``--timeout`` and ``--json``: what a measuring command takes."""
    for option in (db_option(), cpu_option(), timeout_option, json_option()):
        fn = option(fn)
    return fn
