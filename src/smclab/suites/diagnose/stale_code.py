"""Stale code: does this CPU ever run code older than what another CPU already published, and
what does it cost to be safe?

A writer thread on one CPU keeps patching the imm64 of ``mov rax, imm64; ret`` (the code's
version), then publishing the version in a data word; the executing thread on another CPU
reads the data word, runs its protocol, calls the code and counts *stale* runs (an older
version than the data word showed) and *torn* runs (a mix of two versions, or a fault). Both
loops are generated machine code (:mod:`smclab.codegen.stale`), run in the worker
(:mod:`smclab.run.stale`). Variants: where the patched bytes lie (one aligned 8-byte word,
across a 64-byte line, across a page), how the writer stores (mov, lock cmpxchg, xchg), what
the executing side runs (nothing, cpuid, serialize, lfence, mfence), and a writer that calls
``membarrier(PRIVATE_EXPEDITED_SYNC_CORE)`` between patching and publishing.

The variants run in interleaved rounds within ``--budget`` seconds; each variant's counts
(and its ticks per run, per round) are stored as the sweep ``diagnose-<run>-stale-code``
(its grid holds one column per field and the host's facts, see :func:`columns`). The facts of
a stored run are ``findings_of(from_columns(grid), host_of(grid))`` for ``grid = sweep.grid``:
the same findings, with their numbers (per variant: runs, stale, torn, bounds, ticks per run;
the cost of each safe protocol), that diagnose printed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from smclab.codegen.stale import PLACEMENTS, STORES, Variant
from smclab.run.worker import WorkerError
from smclab.suites.session import Session
from smclab.suites.sweep import Observer

from . import base
from .base import Finding, Host, Point, ProbeSpec, RowsProbe
from .plot import Bars

ORDER = 60
NAME = "stale-code"
#: 95% one-sided: exact when nothing was seen, Wilson's score bound otherwise
ALPHA, Z95 = 0.05, 1.6449
ROUNDS, QUICK_ROUNDS = 5, 3
BUDGET, QUICK_BUDGET = 20.0, 4.0
#: a slice shorter than this says little (the executing loop runs in ~10 ms chunks); longer
#: than MAX_SLICE would make a stop wait: a larger budget runs more rounds instead
MIN_SLICE, MAX_SLICE = 0.02, 1.0
EXECUTOR_PROTOCOLS = ("cpuid", "serialize", "lfence", "mfence")


def variants(quick: bool) -> list[Variant]:
    """The declared space: every placement x store without a protocol (does skipping it go
    wrong?), every protocol and the membarrier writer with plain stores (what does each
    cost?); quick keeps the aligned word for the protocols and plain stores for straddles."""
    out = [Variant(p, s) for p in PLACEMENTS for s in STORES if not quick or p == "word"]
    out += [Variant(p, "mov") for p in PLACEMENTS if quick and p != "word"]
    for p in ("word",) if quick else tuple(PLACEMENTS):
        out += [Variant(p, "mov", proto) for proto in EXECUTOR_PROTOCOLS]
        out.append(Variant(p, "mov", writer="membarrier"))
    return out


def upper95(k: int, n: int) -> float:
    """A 95% upper bound of the rate of an event seen ``k`` times in ``n`` runs: exact when
    ``k`` is 0 (``1 - 0.05**(1/n)``, about 3/n: the rule of three), Wilson's score bound
    otherwise; 1.0 without runs."""
    if n <= 0:
        return 1.0
    if k == 0:
        return -math.expm1(math.log(ALPHA) / n)
    p, z2 = k / n, Z95 * Z95
    centre = p + z2 / (2 * n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return min(1.0, (centre + half) / (1 + z2 / n))


@dataclass
class Outcome:
    """One variant's counts, summed over its rounds (``rounds``: ticks per run of each)."""

    variant: Variant
    runs: int = 0
    stale: int = 0
    torn: int = 0  # a fault counts as torn too (``faults`` of them)
    faults: int = 0
    new: int = 0  # runs that read a newer version than the run before (right after a patch)
    ticks: int = 0
    patches: int = 0
    membarrier_calls: int = 0
    membarrier_ticks: int = 0
    rounds: list[float] = field(default_factory=list)
    unavailable: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.runs > 0 and self.error is None and self.unavailable is None

    @property
    def wrong(self) -> int:
        return self.stale + self.torn

    @property
    def ticks_per_run(self) -> float | None:
        return self.ticks / self.runs if self.runs else None

    @property
    def membarrier_ticks_per_call(self) -> float | None:
        calls = self.membarrier_calls
        return self.membarrier_ticks / calls if calls else None

    def per_million(self, k: int) -> float | None:
        return k / self.runs * 1e6 if self.runs else None

    def add(self, got: dict[str, Any]) -> None:
        """One round's reply from the worker."""
        if got.get("unavailable"):
            self.unavailable = str(got["unavailable"])
            return
        runs = int(got["runs"])
        for k in ("runs", "stale", "torn", "faults", "new", "ticks", "patches"):
            setattr(self, k, getattr(self, k) + int(got[k]))
        self.torn += int(got["faults"])
        self.membarrier_calls += int(got["membarrier_calls"])
        self.membarrier_ticks += int(got["membarrier_ticks"])
        if runs:
            self.rounds.append(int(got["ticks"]) / runs)

    def to_dict(self) -> dict[str, Any]:
        """Per variant: its settings, the counts, rates per million with their 95% upper
        bounds, ticks per run (and per membarrier call), or why it did not run."""
        return {
            "variant": self.variant.name,
            **self.variant.to_dict(),
            "safe": self.variant.safe,
            "runs": self.runs,
            "stale": self.stale,
            "torn": self.torn,
            "faults": self.faults,
            "new_version_runs": self.new,
            "stale_per_million": self.per_million(self.stale),
            "torn_per_million": self.per_million(self.torn),
            "stale_upper95_per_million": upper95(self.stale, self.runs) * 1e6
            if self.runs
            else None,
            "torn_upper95_per_million": upper95(self.torn, self.runs) * 1e6 if self.runs else None,
            "ticks_per_run": self.ticks_per_run,
            "rounds_ticks_per_run": self.rounds,
            "patches": self.patches,
            "membarrier_calls": self.membarrier_calls,
            "membarrier_ticks_per_call": self.membarrier_ticks_per_call,
            "unavailable": self.unavailable,
            "error": self.error,
        }


#: the fields stored per variant (the sweep's grid holds one list per field)
STORED = (
    "runs",
    "stale",
    "torn",
    "faults",
    "new",
    "ticks",
    "patches",
    "membarrier_calls",
    "membarrier_ticks",
    "rounds",
    "unavailable",
    "error",
)


def columns(outcomes: list[Outcome], host: Host) -> dict[str, list[Any]]:
    """The outcomes as columns (how the sweep record stores them), and the host's facts (a
    sweep has no host of its own; this one has no result rows that would name it)."""
    cols: dict[str, list[Any]] = {"host": [host]}
    cols["variant"] = [o.variant.to_dict() for o in outcomes]
    for k in STORED:
        cols[k] = [getattr(o, k) for o in outcomes]
    return cols


def host_of(cols: dict[str, list[Any]]) -> Host:
    """The facts of the host a stored run measured (what :func:`columns` wrote)."""
    return dict(cols["host"][0]) if cols.get("host") else {}


def from_columns(cols: dict[str, list[Any]]) -> list[Outcome]:
    """The outcomes of a stored sweep's grid (what :func:`columns` wrote)."""
    out = []
    for i, v in enumerate(cols.get("variant", [])):
        o = Outcome(Variant.from_dict(v))
        for k in STORED:
            setattr(o, k, cols[k][i])
        out.append(o)
    return out


# --- findings -------------------------------------------------------------------------------


def _rate(k: int, n: int) -> str:
    if k:
        return f"{k:,} of {n:,} runs ({k / n * 1e6:.3g} per million)"
    return f"0 of {n:,} runs (< {upper95(0, n) * 1e6:.2g} per million at 95%)"


def _costlier(a: Outcome, b: Outcome) -> str:
    """How sure ``a`` costs more per run than ``b``: the rounds, paired in order (the probe
    interleaves them), all agree: high with 5 or more, medium below; low otherwise."""
    pairs = list(zip(a.rounds, b.rounds, strict=False))
    if not pairs or not all(x > y for x, y in pairs):
        return "low"
    return "high" if len(pairs) >= ROUNDS else "medium"


def _worst(conf: list[str]) -> str:
    order = ("low", "medium", "high")
    return min(conf, key=order.index) if conf else "low"


def findings_of(outcomes: list[Outcome], host: Host) -> list[Finding]:
    """What the counts and costs show (pure: the same outcomes, the same findings)."""
    ok = [o for o in outcomes if o.ok]
    skipped = [o for o in ok if o.variant.protocol == "none" and o.variant.writer == "plain"]
    if not skipped:
        return []
    out = []
    runs, new = sum(o.runs for o in skipped), sum(o.new for o in skipped)
    stale, torn = sum(o.stale for o in skipped), sum(o.torn for o in skipped)
    word = [o for o in skipped if o.variant.placement == "word"]
    wruns = sum(o.runs for o in word)
    wwrong = sum(o.wrong for o in word)
    head = "This CPU ran stale code. " if stale else "No stale code seen. "
    parts = [
        f"{head}Skipping the protocol (no serializing instruction, no membarrier) while another"
        f" CPU patched the code as fast as it could ({new:,} of the runs right after a new"
        f" version): stale {_rate(stale, runs)}, torn {_rate(torn, runs)}, over every"
        " placement and store"
    ]
    if word:
        parts.append(
            f"with the patch in one aligned 8-byte word: stale or torn {_rate(wwrong, wruns)}"
        )
    split = {}
    for place in ("line", "page"):
        all_split = [o for o in ok if o.variant.placement == place]
        if all_split:
            n, t = sum(o.runs for o in all_split), sum(o.torn for o in all_split)
            split[place] = {"runs": n, "torn": t, "upper95": upper95(t, n)}
            synced = sum(o.torn for o in all_split if o.variant.protocol != "none")
            tail = f" ({synced:,} of them with a protocol)" if t and synced else ""
            parts.append(
                f"a patch across a {place if place == 'page' else '64-byte line'}"
                f" came out torn {_rate(t, n)}{tail}"
            )
            slow = _split_lock(all_split)
            if slow is not None:
                split[place]["locked_patch_rate"] = slow
                parts.append(
                    f"a locked store across it (a split lock) patched {1 / slow:.0f}x less"
                    " often than a plain one in the same time"
                )
    numbers: dict[str, Any] = {
        "skipped": {
            "runs": runs,
            "new_version_runs": new,
            "stale": stale,
            "torn": torn,
            "stale_upper95": upper95(stale, runs),
            "torn_upper95": upper95(torn, runs),
        },
        "word_skipped": {"runs": wruns, "wrong": wwrong, "upper95": upper95(wwrong, wruns)},
        "split": split,
        "variants": [o.to_dict() for o in outcomes],
    }
    conf = "high" if runs >= 10**6 else "medium" if runs >= 10**4 else "low"
    out.append(Finding(NAME, "; ".join(parts) + ".", conf, numbers))
    cost = _cost_finding(ok, host, outcomes)
    if cost is not None:
        out.append(cost)
    return out


def _split_lock(outcomes: list[Outcome]) -> float | None:
    """Patches of the slowest locked store (lock cmpxchg, xchg) over those of a plain store
    in slices of the same length, without a protocol; None without both."""
    by = {o.variant.store: o.patches for o in outcomes if o.variant.name.endswith("/none")}
    locked = [by[k] for k in ("lock", "xchg") if k in by]
    if not locked or not by.get("mov") or not min(locked):
        return None
    return min(locked) / by["mov"]


def _cost_finding(ok: list[Outcome], host: Host, every: list[Outcome]) -> Finding | None:
    """What safety costs, measured alongside no protocol (aligned word, plain stores): the
    cheapest serializing instruction per run, membarrier per patch, and where they break
    even; lfence and mfence (not serializing by the book) for comparison."""
    named = {o.variant.name: o for o in ok}
    base = named.get("word/mov/none")
    if base is None or base.ticks_per_run is None:
        return None
    serializing = sorted(
        (named[n] for n in ("word/mov/cpuid", "word/mov/serialize") if n in named),
        key=lambda o: o.ticks_per_run or math.inf,
    )
    mb = named.get("word/mov/none+membarrier")
    per_call = mb.membarrier_ticks_per_call if mb else None
    if not serializing and per_call is None:
        return None
    numbers: dict[str, Any] = {"baseline_ticks_per_run": base.ticks_per_run}
    parts, conf = [], "medium"
    if serializing:
        best = serializing[0]
        extra = (best.ticks_per_run or 0) - base.ticks_per_run
        conf = _costlier(best, base)
        numbers["cheapest_serializing"] = {
            "protocol": best.variant.protocol,
            "ticks_per_run": best.ticks_per_run,
            "extra_ticks_per_run": extra,
            "wrong": best.wrong,
            "runs": best.runs,
        }
        parts.append(
            f"the cheapest serializing instruction on the executing side is"
            f" {best.variant.protocol}: {best.ticks_per_run:.0f} ticks per run against"
            f" {base.ticks_per_run:.0f} without (+{extra:.0f}), wrong {best.wrong} in"
            f" {best.runs:,}"
        )
        parts += [
            f"{o.variant.protocol} {o.ticks_per_run:.0f} ticks per run, wrong {o.wrong} in"
            f" {o.runs:,}"
            for o in serializing[1:]
        ]
    if mb is not None and per_call is not None:
        numbers["membarrier"] = {
            "ticks_per_call": per_call,
            "executor_ticks_per_run": mb.ticks_per_run,
            "wrong": mb.wrong,
            "runs": mb.runs,
        }
        parts.append(
            f"membarrier(SYNC_CORE) costs the writer {per_call:.0f} ticks per patch and the"
            f" executing side nothing per run, wrong {mb.wrong} in {mb.runs:,}"
        )
        if serializing and numbers["cheapest_serializing"]["extra_ticks_per_run"] > 0:
            even = per_call / numbers["cheapest_serializing"]["extra_ticks_per_run"]
            numbers["break_even_runs_per_patch"] = even
            parts.append(
                f"so membarrier is the cheaper once a patch runs more than {even:.0f}x"
                if even >= 1.5
                else "so membarrier is the cheaper even for a patch that runs once"
            )
    fences = [named[n] for n in ("word/mov/lfence", "word/mov/mfence") if n in named]
    numbers["fences"] = {o.variant.protocol: o.to_dict() for o in fences}
    parts += [
        f"{o.variant.protocol} (not serializing by the book) {o.ticks_per_run:.0f} ticks per"
        f" run, wrong {o.wrong} in {o.runs:,}"
        for o in fences
    ]
    missing = {
        o.variant.name: o.unavailable
        for o in every
        if o.unavailable and o.variant.placement == "word" and o.variant.store == "mov"
    }
    numbers["unavailable"] = missing
    parts += [
        f"{name.split('/')[-1].removeprefix('none+')}: unavailable: {why}"
        for name, why in missing.items()
    ]
    text = (
        "Being safe (patch one aligned word, serialize before running it), measured while"
        " another CPU patched: " + "; ".join(parts) + "."
    )
    return Finding(NAME, text, conf, numbers)


def findings(points: list[Point], host: Host) -> list[Finding]:
    """This probe measures counts, not experiments: its findings come from its rows."""
    return []


# --- running ---------------------------------------------------------------------------------


def needs(cpus: int) -> str | None:
    return None if cpus >= 2 else "needs two CPUs (this host has one usable)"


def measure(
    session: Session,
    quick: bool,
    budget: float | None,
    sweep_id: str,
    observer: Observer,
) -> tuple[list[dict[str, Any]], bool]:
    """Run the variants in interleaved rounds within ``budget`` seconds, store them as the
    sweep ``sweep_id``; (each variant's :meth:`Outcome.to_dict`, interrupted)."""
    plan = variants(quick)
    outcomes = [Outcome(v) for v in plan]
    for o in outcomes:
        missing = [f for f in o.variant.flags() if f not in session.flags]
        if missing:
            o.unavailable = f"this CPU has no {', '.join(missing)}"
    todo = [o for o in outcomes if o.unavailable is None]
    total = budget if budget is not None else QUICK_BUDGET if quick else BUDGET
    n = max(1, len(todo))
    rounds = max(QUICK_ROUNDS if quick else ROUNDS, math.ceil(total / (n * MAX_SLICE)))
    slice_ = max(MIN_SLICE, total / (rounds * n))
    store = session.store
    host = session.host
    store.save_sweep(sweep_id, NAME, columns(outcomes, host), len(plan), {})
    interrupted, done, finished = False, 0, False
    try:
        for _ in range(rounds):
            for o in todo:
                if o.unavailable or o.error or observer.stop():
                    interrupted = interrupted or bool(observer.stop())
                    continue
                req = {"op": "stale-code", "variant": o.variant.to_dict(), "seconds": slice_}
                try:
                    reply = session.runner.request(req, timeout=10 * slice_ + 20)
                except WorkerError as e:
                    o.error = str(e)
                else:
                    if reply.get("cpu") is False:  # no second CPU: no variant can run
                        for other in todo:
                            other.unavailable = other.unavailable or reply["unavailable"]
                    elif reply.get("ok"):
                        o.add(reply)
                    else:
                        o.error = str(reply.get("error", "unknown worker error"))
                done += 1
                observer.progress(done, rounds * len(todo))
        finished = True
    finally:  # a second signal (Interrupted) ends it here: the slices done so far are kept
        status = "done" if finished and not interrupted else "interrupted"
        store.save_sweep(sweep_id, NAME, columns(outcomes, host), len(plan), {}, status)
    return [o.to_dict() for o in outcomes], interrupted


def row_findings(rows: list[dict[str, Any]], host: Host) -> list[Finding]:
    """Findings from the rows :func:`measure` returned."""
    return findings_of([outcome_of(r) for r in rows], host)


def outcome_of(row: dict[str, Any]) -> Outcome:
    """An :class:`Outcome` from its :meth:`~Outcome.to_dict` (the rows of a result)."""
    o = Outcome(Variant.from_dict(row))
    for k in ("runs", "stale", "torn", "faults", "patches", "membarrier_calls"):
        setattr(o, k, int(row.get(k) or 0))
    o.new = int(row.get("new_version_runs") or 0)
    o.rounds = list(row.get("rounds_ticks_per_run") or [])
    o.ticks = round((row.get("ticks_per_run") or 0) * o.runs)
    o.membarrier_ticks = round((row.get("membarrier_ticks_per_call") or 0) * o.membarrier_calls)
    o.unavailable, o.error = row.get("unavailable"), row.get("error")
    return o


def stored(grid: dict[str, list[Any]]) -> tuple[list[dict[str, Any]], Host]:
    """A stored run's rows and host (what :func:`measure` stored in its sweep's grid)."""
    return [o.to_dict() for o in from_columns(grid)], host_of(grid)


def facts(found: list[Finding], points: list[Point], host: Host) -> list[base.Fact]:
    """Stale runs per run without a protocol, and its 95% upper bound (the counts finding)."""
    out: list[base.Fact] = []
    for f in found:
        sk = f.numbers.get("skipped")
        if sk and sk.get("runs"):
            rate = sk["stale"] / sk["runs"]
            out.append(base.Fact("stale_per_run", rate, "per run", f.confidence, f.probe))
            up = sk["stale_upper95"]
            out.append(base.Fact("stale_upper95", up, "per run", f.confidence, f.probe))
    return out


PROBE = ProbeSpec(
    NAME,
    "Stale code: does another CPU's patch ever run old (or torn), and what safety costs",
    lambda quick: [],
    findings,
    Bars(ref="none"),
    needs=needs,
    rows=RowsProbe(measure, row_findings, stored),
    facts=facts,
)
