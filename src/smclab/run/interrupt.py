"""Interruptions: a signal to the command line stops it promptly, and stores nothing in flight.

While :func:`raise_on_signals` is active, SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` in
the main thread wherever it is, typically blocked waiting for the worker. :class:`Runner` then
kills its worker (which runs in its own session, out of reach of the terminal's signals) and the
exception propagates past the store: the experiment in flight is neither finished nor stored.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """A run stopped by a signal (to this process, or to its worker from outside).

    A BaseException, like KeyboardInterrupt: an interruption is no measurement error, and no
    ``except Exception`` may turn it into a stored error row. Exit status ``128 + signum``.
    """

    def __init__(self, signum: int, detail: str = "") -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
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
