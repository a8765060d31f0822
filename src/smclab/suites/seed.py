"""The seed's table, reproduced on this host, next to the published Kaby Lake numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..measure import Result
from ..spec import Experiment
from . import Session

K, M = 1 << 10, 1 << 20
SEED_ITERATIONS = 100_000_000  # the seed's loop count, for its published seconds


@dataclass(frozen=True)
class SeedRow:
    name: str
    knobs: dict[str, Any]
    what: str
    published_seconds: float | None = None
    published_clears: int | None = None


#: The seed's four configurations, its baseline as it ran it, and three controls.
ROWS: tuple[SeedRow, ...] = (
    SeedRow("4K/0", {"buffer": 4 * K, "step": 0}, "seed loop", 14.53, 199_999_982),
    SeedRow("4K/64", {"buffer": 4 * K, "step": 64}, "seed loop", 14.91, 199_999_740),
    SeedRow("1M/2048", {"buffer": M, "step": 2048}, "seed loop, 256x4K", 7.89, 105_550_699),
    SeedRow("1M/4096", {"buffer": M, "step": 4096}, "seed loop, 256x4K", 9.83, 130_573_069),
    SeedRow(
        "baseline",
        {"buffer": 4 * K, "step": 0, "barrier": "mfence", "call": "source"},
        "seed baseline: mfence; calls the original payload, never the copy",
        1.74,
    ),
    SeedRow(
        "no-store",
        {"buffer": 4 * K, "step": 0, "store": "none"},
        "no copy; calls the pre-filled slot",
    ),
    SeedRow(
        "far-store",
        {"buffer": 4 * K, "step": 0, "store": "far"},
        "copy into data far from code; calls the slot",
    ),
    SeedRow(
        "direct",
        {"buffer": 4 * K, "step": 0, "call": "direct", "layout": "near"},
        "copy, then call rel32 to the copy (buffer near the code)",
    ),
    SeedRow(
        "4K/0 near",
        {"buffer": 4 * K, "step": 0, "layout": "near"},
        "seed loop with the buffer near the code, as direct needs",
    ),
)
ROW_NAMES = tuple(r.name for r in ROWS)


@dataclass
class SeedTable:
    host: dict[str, Any]
    rows: list[tuple[SeedRow, Result]]

    def result(self, name: str) -> Result:
        return next(res for row, res in self.rows if row.name == name)

    def ticks(self, name: str) -> float | None:
        t = self.result(name).ticks_per_iter
        return t.median if t else None

    def ratio_to_baseline(self, name: str) -> float | None:
        a, b = self.ticks(name), self.ticks("baseline")
        return a / b if a is not None and b else None

    def findings(self) -> list[str]:
        """Sentences the measurements support (nothing is printed for a missing row)."""
        out = []
        step0, far, none_ = self.ticks("4K/0"), self.ticks("far-store"), self.ticks("no-store")
        base, direct = self.ticks("baseline"), self.ticks("direct")
        if step0 and far:
            out.append(
                f"Copying the payload onto the code it then calls (4K/0) costs {step0:.0f} ticks"
                f"/iter, {step0 / far:.1f}x the same copy into data memory ({far:.0f}): the"
                f" penalty is the code modification, not the copy."
            )
        near = self.ticks("4K/0 near")
        if near and direct:
            out.append(
                f"Calling the copy with a direct call rel32 costs {direct:.0f} ticks/iter against"
                f" {near:.0f} for call r13 with the same (near) layout: the indirect-call"
                f" prediction is {'not ' if direct / near > 0.8 else ''}the main cost."
            )
        if near and step0 and abs(near / step0 - 1) > 0.05:
            out.append(
                f"Where the buffer lies matters: {step0:.0f} ticks/iter with the buffer terabytes"
                f" from the code (as the seed's mmap), {near:.0f} with it 1 MiB away."
            )
        if base and step0:
            out.append(
                f"The seed's baseline calls the original payload, never the copy, so it measures"
                f" the copy and the mfence but no code modification; here it is"
                f" {step0 / base:.1f}x faster than 4K/0 (Kaby Lake: {14.53 / 1.74:.1f}x)."
            )
        if none_ and far:
            out.append(
                f"Without any store the loop costs {none_:.0f} ticks/iter; the copy itself"
                f" adds {far - none_:.0f}."
            )
        clears = self.result("4K/0").counters.get("smc-clears")
        if clears is not None:
            if clears.per_iter is not None:
                what = "SMC clears" if not clears.note else "Proxy SMC events (see the note)"
                out.append(f"{what} at 4K/0: {clears.per_iter:.2f} per iteration.")
            else:
                out.append(f"SMC clears were not counted on this host ({clears.reason}).")
        return out

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for row, res in self.rows:
            d = res.to_dict()
            d.pop("host")
            rows.append(
                {
                    "name": row.name,
                    "what": row.what,
                    **d,
                    "ratio_to_baseline": self.ratio_to_baseline(row.name),
                    "published": {
                        "seconds": row.published_seconds,
                        "smc_clears": row.published_clears,
                    },
                }
            )
        return {"host": self.host, "rows": rows, "findings": self.findings()}


def experiments(
    iterations: int | None = None, repeats: int = 5, events: tuple[str, ...] | None = None
) -> list[tuple[SeedRow, Experiment]]:
    extra: dict[str, Any] = {"iterations": iterations, "repeats": repeats}
    if events is not None:
        extra["events"] = events
    return [(row, Experiment(**row.knobs, **extra)) for row in ROWS]


def run_seed(
    session: Session,
    iterations: int | None = None,
    repeats: int = 5,
    events: tuple[str, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> SeedTable:
    plan = experiments(iterations, repeats, events)
    for _, exp in plan:  # reject before running anything
        session.check(exp)
    rows = []
    for row, exp in plan:
        if progress:
            progress(row.name)
        rows.append((row, session.run(exp, "seed", row.name)))
    return SeedTable(session.host, rows)
