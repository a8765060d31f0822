"""A perf map for the generated code: ``/tmp/perf-<pid>.map``, so ``perf report`` names it.

perf reads this file (one ``START SIZE name`` line per symbol, hex, no ``0x``) for addresses
in anonymous executable memory of process ``pid`` when it *reports*, so the file stays after
the worker ends, as every JIT's does. The worker writes the symbols of each experiment it
loads (:meth:`smclab.codegen.program.Program.symbols`: the loop, the payload or block, the
writer thread, the exec buffer), replacing entries the new code overlaps. On by default;
``SMCLAB_PERF_MAP=0`` turns it off.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

Symbol = tuple[int, int, str]  # address, size, name


def enabled() -> bool:
    return os.environ.get("SMCLAB_PERF_MAP", "1") != "0"


def path(pid: int | None = None) -> Path:
    return Path(f"/tmp/perf-{pid or os.getpid()}.map")


def read(p: Path) -> list[Symbol]:
    """The symbols of a perf map (lines that do not parse are left out)."""
    out: list[Symbol] = []
    try:
        text = p.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split(" ", 2)
        try:
            out.append((int(parts[0], 16), int(parts[1], 16), parts[2]))
        except (IndexError, ValueError):
            continue
    return out


def publish(symbols: Iterable[Symbol], pid: int | None = None) -> Path | None:
    """Add ``symbols`` to this process's perf map, dropping older entries they overlap; the
    file is replaced in one rename, so perf never reads half of it. None when turned off or
    /tmp is not writable (a perf map is a convenience, never a reason to fail a run)."""
    if not enabled():
        return None
    p = path(pid)
    new = [s for s in symbols if s[1] > 0]

    def overlaps(old: Symbol) -> bool:
        return any(a < old[0] + old[1] and old[0] < a + n for a, n, _ in new)

    kept = [s for s in read(p) if not overlaps(s)]
    lines = "".join(f"{a:x} {n:x} {' '.join(name.split())}\n" for a, n, name in kept + new)
    tmp = p.with_name(f".{p.name}.tmp")
    try:
        tmp.write_text(lines)
        tmp.replace(p)
    except OSError:
        tmp.unlink(missing_ok=True)
        return None
    return p
