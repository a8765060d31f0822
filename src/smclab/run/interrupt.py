"""Interruptions, one model: a signal to the command line stops it, and stores nothing in flight.

While :func:`raise_on_signals` is active, SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` in
the main thread wherever it is, typically blocked waiting for the worker. :class:`Runner` then
kills its worker (which runs in its own session, out of reach of the terminal's signals) and the
exception propagates past the store: the experiment in flight is neither finished nor stored.

While :class:`StopSignals` is active (a long command: sweep, diagnose, advise), the first SIGINT
or SIGTERM only asks to stop after the experiment in flight (a suite reads it through its
observer's ``stop``, and raises ``Interrupted(signum, stored=True)`` if it cannot finish); a
second one raises :class:`Interrupted` at once. Only the command line installs handlers.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """A run stopped by a signal (to this process, or to its worker from outside).

    A BaseException, like KeyboardInterrupt: an interruption is no measurement error, and no
    ``except Exception`` may turn it into a stored error row. Exit status ``128 + signum``.
    """

    def __init__(self, signum: int, detail: str = "", stored: bool = False) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        #: stopped between two experiments: everything measured so far is stored
        self.stored = stored
        super().__init__(f"{self.name}{detail}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextmanager
def raise_on_signals(signals: tuple[int, ...] = SIGNALS) -> Iterator[None]:
    """While active, each of ``signals`` raises :class:`Interrupted` (main thread only)."""
    old = {s: signal.signal(s, _raise) for s in signals}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


class StopSignals:
    """While active, SIGINT and SIGTERM ask to stop after the experiment in flight.

    Call the object to read the first signal received (or None). A second signal stops at
    once: :class:`Interrupted` (the experiment in flight is not stored).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise Interrupted(signum)
        self.signum = signum

    def __call__(self) -> int | None:
        return self.signum

    def __enter__(self) -> StopSignals:
        for s in self.SIGNALS:
            self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)
