"""The seed's table, reproduced on this host, next to the published Kaby Lake numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smclab.model import fit as fitting
from smclab.model.experiment import Experiment
from smclab.model.fit import FitResult, ModelFit
from smclab.model.result import Result, Stats
from smclab.model.rounds import Comparison
from smclab.model.stats import comparison, confidence, differs
from smclab.suites.diagnose.base import Fact
from smclab.suites.session import Session

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
#: Rows measured only to count penalties without a PMU: with 4K/0 (64 bytes of rep movsb)
#: and far-store they are the rep strings the penalty model is fitted to (each over its own
#: control): a 1-byte rep movsb and a 64-byte rep movsq, both at the 4K/0 slot. The models
#: (per store / byte / line, flat: smclab.model.fit) then say what one penalty costs here.
FIT_ROWS: tuple[SeedRow, ...] = (
    SeedRow("sb1", {"buffer": 4 * K, "step": 0, "payload": 1}, "fit: 1-byte rep movsb"),
    SeedRow(
        "sb1 far",
        {"buffer": 4 * K, "step": 0, "payload": 1, "store": "far"},
        "fit: its control, into data",
    ),
    SeedRow("sq64", {"buffer": 4 * K, "step": 0, "copy": "rep-movsq"}, "fit: 64-byte rep movsq"),
    SeedRow(
        "sq64 far",
        {"buffer": 4 * K, "step": 0, "copy": "rep-movsq", "store": "far"},
        "fit: its control, into data",
    ),
)
ROWS = ROWS + FIT_ROWS
ROW_NAMES = tuple(r.name for r in ROWS)
#: the fit: (row, its control, rep units, bytes) -- all in the executed line
FIT_POINTS = (
    ("4K/0", "far-store", 64, 64),
    ("sb1", "sb1 far", 1, 1),
    ("sq64", "sq64 far", 8, 64),
)
#: the seed's own four configurations
SEED_CONFIGS = ("4K/0", "4K/64", "1M/2048", "1M/4096")
#: the rows that modify the code they call: the ones a penalty count is estimated for
MODIFYING = ("4K/0", "4K/64", "1M/2048", "1M/4096", "direct", "4K/0 near")


@dataclass
class SeedTable:
    host: dict[str, Any]
    rows: list[tuple[SeedRow, Result]]

    def result(self, name: str) -> Result:
        return next(res for row, res in self.rows if row.name == name)

    def ticks(self, name: str) -> float | None:
        t = self.result(name).ticks_per_iter
        return t.median if t else None

    def versus_baseline(self, name: str) -> Comparison | None:
        """The row against the baseline, round by round (None without paired rounds)."""
        a, b = self.stats(name), self.stats("baseline")
        return comparison(a, b) if a is not None and b is not None else None

    def ratio_to_baseline(self, name: str) -> float | None:
        """The median of the per-round ratios (the ratio of medians without rounds)."""
        c = self.versus_baseline(name)
        if c is not None:
            return c.ratio
        a, b = self.ticks(name), self.ticks("baseline")
        return a / b if a is not None and b else None

    def stats(self, name: str) -> Stats | None:
        return self.result(name).ticks_per_iter

    def penalty_fit(self) -> FitResult | None:
        """The penalty models fitted to the rep-string rows (each over its control)."""
        obs = []
        for name, control, units, nbytes in FIT_POINTS:
            a, b = self.stats(name), self.stats(control)
            if a is not None and b is not None:
                obs.append(fitting.observe(name, units, nbytes, 1, a, b))
        return fitting.fit(obs)

    def penalty_model(self) -> ModelFit | None:
        """The model penalties are counted with (None: the rows single none out)."""
        f, step0, far = self.penalty_fit(), self.stats("4K/0"), self.stats("far-store")
        if f is None or step0 is None or far is None:
            return None
        m = f.counting(fitting.observe("4K/0", *FIT_POINTS[0][2:], 1, step0, far))
        return m if m is not None and m.constant > 0 else None

    def estimate(self, name: str) -> float | None:
        """Penalties per iteration of a code-modifying row: its ticks over far-store's, over
        the model's ticks per penalty (None for the other rows or without a model)."""
        m, t, far = self.penalty_model(), self.stats(name), self.stats("far-store")
        if name not in MODIFYING or m is None or t is None or far is None:
            return None
        return fitting.estimate(fitting.observe(name, 0, 0, 0, t, far).penalty, m.constant)

    def estimate_note(self) -> str:
        """How the estimates were derived (or why there are none)."""
        f = self.penalty_fit()
        if f is None:
            return "est.: no estimate (the fit rows were not measured)"
        m = self.penalty_model()
        fit_rows = ", ".join(f"{a} over {b}" for a, b, _, _ in FIT_POINTS)
        if m is None:
            return (
                f"est.: no estimate: no single penalty model fits the rep-string rows"
                f" ({fit_rows}; RMS residuals {f.residuals_text()})"
            )
        twins = f.twins(m)
        same = f" (= '{twins[0]}' on these rows)" if twins else ""
        if f.chosen is None and not all(f.same_counts(m.model, x.model) for x in f.tied):
            others = ", ".join(f"'{x.model}'" for x in f.tied if x.model != m.model)
            same += f" (fit as well: {others}, which count 4K/0 alike)"
        return (
            f"est.: penalties per iteration = (ticks - far-store ticks, paired by round) /"
            f" {m.constant:.0f} ticks per penalty, from the '{m.model}' model{same} fitted to the"
            f" rep-string rows ({fit_rows}; RMS residuals {f.residuals_text()}); an estimate,"
            f" not a count"
        )

    def facts(self) -> list[Fact]:
        """The seed's four configurations as ratios to its baseline (the table's ratios)."""
        out = []
        base = self.stats("baseline")
        for name in SEED_CONFIGS:
            ratio, s = self.ratio_to_baseline(name), self.stats(name)
            if ratio is not None and s is not None and base is not None:
                conf = confidence((s, base))
                out.append(Fact(f"seed {name}", ratio, "x", conf, "seed", (name, "baseline")))
        return out

    def published(self, name: str) -> float | None:
        return next(row.published_seconds for row, _ in self.rows if row.name == name)

    def findings(self) -> list[str]:
        """Sentences the measurements support: a difference is only called one when the two
        medians differ beyond their spreads (nothing is said about a missing row)."""
        out = []
        step0, far, none_ = self.stats("4K/0"), self.stats("far-store"), self.stats("no-store")
        base, direct, near = self.stats("baseline"), self.stats("direct"), self.stats("4K/0 near")
        if step0 and far:
            ratio = step0.median / far.median
            verdict = (
                "the penalty is the code modification, not the copy"
                if differs(step0, far) and ratio > 1
                else "no penalty for modifying code shows here"
            )
            out.append(
                f"Copying the payload onto the code it then calls (4K/0) costs"
                f" {step0.median:.0f} ticks/iter, {ratio:.1f}x the same copy into data memory"
                f" ({far.median:.0f}): {verdict}."
            )
        if near and direct:
            same = not differs(direct, near)
            out.append(
                f"Calling the copy with a direct call rel32 costs {direct.median:.0f} ticks/iter"
                f" against {near.median:.0f} for call r13 with the same (near) layout: "
                + (
                    "the indirect-call prediction is not what costs."
                    if same
                    else f"the call kind changes the cost by {direct.median - near.median:+.0f}."
                )
            )
        if near and step0 and differs(near, step0):
            out.append(
                f"Where the buffer lies matters: {step0.median:.0f} ticks/iter with the buffer"
                f" terabytes from the code (as the seed's mmap), {near.median:.0f} with it 1 MiB"
                f" away."
            )
        kbl_seed, kbl_base = self.published("4K/0"), self.published("baseline")
        if base and step0 and kbl_seed and kbl_base:
            out.append(
                f"The seed's baseline calls the original payload, never the copy, so it measures"
                f" the copy and the mfence but no code modification; here 4K/0 costs"
                f" {step0.median / base.median:.2f}x the baseline (Kaby Lake:"
                f" {kbl_seed / kbl_base:.2f}x)."
            )
        if none_ and far and differs(none_, far):
            out.append(
                f"Without any store the loop costs {none_.median:.0f} ticks/iter; the copy itself"
                f" adds {far.median - none_.median:.0f}."
            )
        m, est = self.penalty_model(), self.estimate("4K/0")
        if m is not None and est is not None and step0 and far:
            o = fitting.Observation("4K/0", 64, 64, 1, step0.median - far.median, 0.0)
            n = m.count(o)
            out.append(
                f"By the '{m.model}' penalty model of the rep strings the seed's copy (64-byte"
                f" rep movsb) is {n} penalt{'y' if n == 1 else 'ies'} x {m.constant:.0f} ticks;"
                f" 4K/0 pays ≈{est:.1f} penalties per iteration (est.)."
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
                    "ratio_interval": (
                        [c.low, c.high] if (c := self.versus_baseline(row.name)) else None
                    ),
                    "published": {
                        "seconds": row.published_seconds,
                        "smc_clears": row.published_clears,
                    },
                    "smc_estimate": self.estimate(row.name),
                }
            )
        m, f = self.penalty_model(), self.penalty_fit()
        model = None
        if f is not None:
            model = {
                "model": m.model if m else None,
                "ticks_per_penalty": m.constant if m else None,
                "residuals": {x.model: x.residual for x in f.fits},
                "note": self.estimate_note(),
            }
        return {
            "host": self.host,
            "rows": rows,
            "penalty_model": model,
            "findings": self.findings(),
        }


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
    progress: Callable[[int, int], None] | None = None,
) -> SeedTable:
    plan = experiments(iterations, repeats, events)
    for _, exp in plan:  # reject before running anything
        session.check(exp)
    results = session.run_interleaved(
        [e for _, e in plan], "seed", [row.name for row, _ in plan], progress=progress
    )
    return SeedTable(session.host, [(row, r) for (row, _), r in zip(plan, results, strict=True)])
