"""What every command shares to talk to the user: the consoles, JSON printing, the session
(with its noisy-host note) and the progress bar of the long suites."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from smclab.model.experiment import Experiment
from smclab.model.result import Result, versioned
from smclab.run.interrupt import Interrupted, StopSignals
from smclab.suites import sweep as sw
from smclab.suites.session import Session, checked_cpu

console = Console()
err_console = Console(stderr=True)
#: notes on stderr stay one line each when it is a file or a pipe (a CI log: grep finds them)
err_console.soft_wrap = not err_console.is_terminal


class Settings:
    """What the global options set for the command that runs."""

    #: --quiet: no progress, no notes on stderr (errors still say what failed)
    quiet = False


settings = Settings()


def note(text: str) -> None:
    """One note on stderr (a warning that is no error), unless --quiet."""
    if not settings.quiet:
        err_console.print(text, style="yellow", highlight=False, markup=False)


@contextlib.contextmanager
def status(text: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr saying ``text`` (none with --quiet); yields how to update it."""
    if settings.quiet:
        yield lambda _: None
        return
    with err_console.status(text) as shown:
        yield shown.update


def print_json(data: dict[str, Any]) -> None:
    """A command's JSON output, with its ``format`` (see :data:`smclab.model.result.FORMAT`)."""
    click.echo(json.dumps(versioned(data), indent=2))


@contextlib.contextmanager
def session(db: str | None, cpu: int | None, timeout: float) -> Iterator[Session]:
    """A Session; when it ends normally, one line on stderr if the host was noisy meanwhile."""
    with Session(db, None if cpu is None else checked_cpu(cpu), timeout) as s:
        s.runner.notice = s.store.notice = note
        yield s
        noise = s.noise()
        warning = noise.warning() if noise else None
        if warning:
            note(warning)


class SweepProgress(sw.Observer):
    """A rich progress bar on stderr: done/total, ETA, errors so far, the config in flight."""

    def __init__(self, stop: Callable[[], int | None]) -> None:
        self._stop = stop
        self.errors = 0
        self.rounds = False
        self.bar = Progress(
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[errors]} errors"),
            TextColumn("{task.description}"),
            console=err_console,
            transient=True,
            disable=settings.quiet or not err_console.is_terminal,
        )
        self.task = self.bar.add_task("", total=None, errors=0)

    def begin(self, total: int, done: int) -> None:
        self.bar.update(self.task, total=total, completed=done)

    def start(self, exp: Experiment) -> None:
        self.bar.update(self.task, description=exp.label())

    def finish(self, result: Result) -> None:
        self.errors += bool(result.error)
        # in interleaved rounds the bar counts measurements (progress), not results
        self.bar.update(self.task, advance=0 if self.rounds else 1, errors=self.errors)

    def progress(self, done: int, total: int) -> None:
        self.rounds = True
        self.bar.update(self.task, completed=done, total=total, description="interleaved rounds")

    def stop(self) -> int | None:
        return self._stop()


def observed(run: Callable[[Any], Any]) -> Any:
    """Run ``run(observer)`` with a progress bar and SIGINT/SIGTERM stopping after the point."""
    out = None
    with StopSignals() as stop:
        progress = SweepProgress(stop)
        try:
            with progress.bar:
                out = run(progress)
        except Interrupted as e:
            if not e.stored:  # a second signal: the point in flight is lost
                raise
    signum = stop()
    if signum:
        click.echo("smclab: interrupted; the points measured so far are stored", err=True)
        sys.exit(128 + signum)
    return out
