"""Stores: count, width and kind. k stores of width W, or a rep string of n bytes, into the
executed line (the seed's 4K/0 slot), each against the same stores into data memory: is the
penalty per store, per byte, per line, flat, or saturating (the first store costs P, more add
a fraction; :mod:`smclab.model.fit`)? The fitted model's constant (ticks per penalty) explains
the seed's 64-byte ``rep movsb`` and estimates penalties per iteration without a PMU. The
patterns that write the whole 64-byte line say which way of writing a line about to run is
cheapest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smclab.isa import vocabulary as vocab
from smclab.model import fit as fitting
from smclab.model.fit import FitResult, ModelFit, Observation
from smclab.model.stats import confidence, differs, no_difference

from . import base
from .base import Finding, Host, Measured, PlanPoint, Point, ProbeSpec, labelled, pp
from .plot import Curve

ORDER = 15
K = 1024
#: the executed slot: the seed's (4K buffer, step 0, origin 0: its first line)
SLOT: dict[str, Any] = {"buffer": 4 * K, "step": 0, "origin": 0}
#: ordinary stores: copy method -> store counts k (k x width bytes from the executed byte)
MOVS = {
    "mov8": (1, 2, 3, 4, 5, 6, 7, 8),
    "mov64": (1, 2, 3, 4, 5, 6, 7, 8, 16),
    "sse2": (1, 2, 3, 4),
    "avx": (1, 2),
    "avx512": (1,),
}
QUICK_MOVS = {"mov8": (1, 2, 4, 8), "mov64": (1, 2, 4, 8, 16), "sse2": (1, 4), "avx": (1, 2)}
QUICK_MOVS["avx512"] = (1,)
#: rep strings -> bytes n
REPS = {
    "rep-movsb": (1, 8, 16, 32, 64, 128),
    "rep-movsq": (8, 16, 32, 64),
    "rep-stosb": (1, 8, 16, 32, 64),
}
QUICK_REPS = {"rep-movsb": (1, 8, 64, 128), "rep-movsq": (8, 64), "rep-stosb": (1, 64)}
#: the groups fitted apart (a rep string's stores are its units)
KINDS = {"ordinary": "ordinary stores (mov)", "rep": "rep strings"}
#: the seed's copy: 64 bytes of rep movsb at the 4K/0 slot
SEED_COPY = ("rep-movsb", 64)
FAR = " far"
#: whole 64-byte lines written where the line is not in L1D (into data, step 64 through a 1M
#: ring, every store a line last written 1M of stores before): rep movsb against vector stores
COLD = (("rep-movsb", 64), ("avx512", 64), ("avx", 64))
COLD_RING: dict[str, Any] = {"buffer": 1 << 20, "step": 64}
COLD_SUFFIX = " cold"


def label(copy: str, nbytes: int) -> str:
    w = vocab.COPIES[copy].width
    return f"{copy} {nbytes}B" if vocab.COPIES[copy].rep else f"{copy} x{nbytes // w}"


def kind(copy: str) -> str:
    return "rep" if vocab.COPIES[copy].rep else "ordinary"


def points(quick: bool) -> list[PlanPoint]:
    movs, reps = (QUICK_MOVS, QUICK_REPS) if quick else (MOVS, REPS)
    sizes = [(c, k * vocab.COPIES[c].width) for c, ks in movs.items() for k in ks]
    sizes += [(c, n) for c, ns in reps.items() for n in ns]
    out = []
    for copy, n in sizes:
        knobs = {**SLOT, "copy": copy, "payload": n}
        out.append(pp(label(copy, n), n, copy, **knobs))
        out.append(pp(label(copy, n) + FAR, n, f"{copy}{FAR}", store="far", **knobs))
    for copy, n in COLD:  # a whole line not in L1D: into data, a ring far larger than L1D
        knobs = {**COLD_RING, "copy": copy, "payload": n}
        out.append(pp(label(copy, n) + COLD_SUFFIX, n, "cold line", store="far", **knobs))
    return out


@dataclass(frozen=True)
class Pair:
    """A store pattern into the executed line and its control (the same stores into data)."""

    copy: str
    nbytes: int
    at: Measured
    far: Measured

    @property
    def observation(self) -> Observation:
        width = vocab.COPIES[self.copy].width
        units = self.nbytes // width
        lines = fitting.lines_touched(SLOT["origin"], self.nbytes)
        # the units whose first byte lies in the executed line (the pattern starts at its byte)
        in_line = min(units, -(-(fitting.LINE - SLOT["origin"] % fitting.LINE) // width))
        return fitting.observe(
            label(self.copy, self.nbytes),
            units,
            self.nbytes,
            lines,
            self.at.ticks,
            self.far.ticks,
            in_line,
        )


def pairs(points: list[Point]) -> list[Pair]:
    pts = labelled(points)
    out = []
    for name, p in pts.items():
        far = pts.get(name + FAR)
        if p.experiment.store == "exec" and far is not None:
            out.append(Pair(p.experiment.copy, p.experiment.payload, p, far))
    return out


def fits(points: list[Point]) -> dict[str, FitResult]:
    """Kind -> the models fitted to its store patterns (kinds with fewer than two left out)."""
    out = {}
    for k in KINDS:
        got = fitting.fit([p.observation for p in pairs(points) if kind(p.copy) == k])
        if got is not None:
            out[k] = got
    return out


def per_penalty(found: dict[str, FitResult], o: Observation) -> tuple[str, ModelFit] | None:
    """The model ``o``'s penalties are counted with: the rep strings' (the seed's copy is one)
    when the data single one out or the tied models count ``o`` alike, else the ordinary
    stores'; (kind, model) or None."""
    for k in ("rep", "ordinary"):
        got = found.get(k)
        m = got.counting(o) if got is not None else None
        if m is not None and m.constant > 0:
            return k, m
    return None


def _unsettled_fit(f: FitResult) -> str | None:
    """Why the model a finding names may change between runs: the points' noise, not the
    models' fit, sets the tolerance, and another model fits within it too."""
    if f.noise * fitting.NOISE_FACTOR <= fitting.FIT_TOL * f.scale:
        return None
    named = {m.model for m in f.contenders}
    every = [*f.fits, *([f.saturating] if f.saturating else [])]
    within = [m.model for m in every if m.model not in named and m.residual <= f.tolerance]
    if not within:
        return None
    return (
        f"the points' noise ({f.tolerance:.3g} ticks/iter) lets {' and '.join(within)} fit as"
        " well: the model named may change between runs"
    )


def _model_text(k: str, f: FitResult, costly: int, n: int) -> tuple[str, dict[str, Any]]:
    what = KINDS[k]
    lo = min(f.observations, key=lambda o: o.penalty)
    hi = max(f.observations, key=lambda o: o.penalty)
    span = (
        f"{n} patterns, {costly} of them costlier than the same stores into data;"
        f" penalty {lo.penalty:.0f} ({lo.label}) to {hi.penalty:.0f} ({hi.label}) ticks/iter"
    )
    nums: dict[str, Any] = {
        "kind": k,
        "residuals": {m.model: m.residual for m in f.fits},
        "tolerance": f.tolerance,
        "penalties": {o.label: o.penalty for o in f.observations},
    }
    resid = f"RMS residuals {f.residuals_text()}, noise allows {f.tolerance:.3g}"
    chosen, tied = f.chosen, f.tied
    if chosen is not None and not chosen.counts:
        p, two, top = chosen.constant, chosen.at(2), chosen.constant + chosen.added
        nums.update(
            model=chosen.model,
            first_store_ticks=p,
            saturates_at_ticks=top,
            two_stores_ticks=two,
            tau_stores=chosen.tau,
        )
        text = (
            f"{what.capitalize()} into the executed line ({span}): the first store costs"
            f" {p:.0f} ticks; more stores add less each, saturating"
            + (" (a step at the second store)" if two >= p + 0.9 * chosen.added else "")
            + f": 2 stores {two:.0f} ({two / p:.2f} penalties), many up to {top:.0f}"
            f" ({top / p:.2f}) (fitted"
            f" P + S(1 - e^-(n-1)/{chosen.tau:g}); {resid})."
        )
    elif chosen is not None:
        unit = fitting.UNITS[chosen.model]
        nums.update(model=chosen.model, ticks_per_penalty=chosen.constant)
        text = (
            f"{what.capitalize()} into the executed line ({span}): the penalty is"
            f" {chosen.model}, {chosen.constant:.0f} ticks per {unit} ({resid})."
        )
    elif tied:
        names = " and ".join(m.model for m in tied)
        why = (
            ": these points cannot tell them apart"
            if all(f.same_counts(tied[0].model, m.model) for m in tied[1:])
            else ""
        )
        nums["tied"] = [m.model for m in tied]
        consts = ", ".join(f"{m.constant:.0f} ticks per {fitting.UNITS[m.model]}" for m in tied)
        text = (
            f"{what.capitalize()} into the executed line ({span}): {names} fit equally"
            f"{why} ({consts}; {resid})."
        )
    else:
        text = (
            f"{what.capitalize()} into the executed line ({span}): no model fits, the cost"
            f" is not simply per store, per byte, per line or flat ({resid})."
        )
    return text, nums


def findings(points: list[Point], host: Host) -> list[Finding]:
    ps = pairs(points)
    if not ps:
        return []
    found = fits(points)
    out: list[Finding] = []
    for k, f in found.items():
        mine = [p for p in ps if kind(p.copy) == k]
        costly = [p for p in mine if differs(p.at.ticks, p.far.ticks)]
        worst = max(mine, key=lambda p: p.at.ticks.median)
        if not costly:
            text = (
                f"{KINDS[k].capitalize()} into the executed line cost no more than the same"
                f" stores into data memory ({len(mine)} patterns, at most"
                f" {worst.at.ticks.median:.0f} ticks/iter)."
            )
            conf = "high" if not differs(worst.at.ticks, worst.far.ticks) else "low"
            out.append(Finding("stores", text, conf, {"kind": k}))
            continue
        text, nums = _model_text(k, f, len(costly), len(mine))
        conf = confidence(*((p.at.ticks, p.far.ticks) for p in costly))
        if f.chosen is None and not f.tied:
            conf = "low" if conf == "low" else "medium"
        out.append(Finding("stores", text, conf, nums, unstable=_unsettled_fit(f)))
    out += _full_line(ps)
    out += _cold_line(points)
    seed = next((p for p in ps if (p.copy, p.nbytes) == SEED_COPY), None)
    model = per_penalty(found, seed.observation) if seed is not None else None
    if seed is not None and model is not None:
        out.append(_seed_copy(seed, *model, found[model[0]]))
    return out


def _full_line(ps: list[Pair]) -> list[Finding]:
    """The cheapest way to write one whole line about to run: every pattern that writes the
    64 bytes of the executed line, by its total cost (what the loop pays), each over its own
    data control for the penalty."""
    whole = [p for p in ps if p.nbytes == fitting.LINE and p.observation.lines == 1]
    if len(whole) < 2 or not any(differs(p.at.ticks, p.far.ticks) for p in whole):
        return []  # (no penalty: nothing to make cheaper)
    planned = list(whole)  # a canonical order
    whole.sort(key=lambda p: p.at.ticks.median)
    best = whole[0]
    # the cheapest: the lowest and every pattern the rounds do not settle as costlier than it,
    # named in the planned order (which of them measured lowest is noise)
    beaten = [p for p in whole[1:] if base.verdict(p.at.ticks, best.at.ticks) == "more"]
    cheapest = [p for p in planned if p not in beaten]

    def name(p: Pair) -> str:
        return label(p.copy, p.nbytes)

    def cell(p: Pair) -> str:
        return f"{name(p)} {p.at.ticks.median:.0f} (penalty {p.observation.penalty:.0f})"

    nums: dict[str, Any] = {
        "cheapest": [name(p) for p in cheapest],
        "total": {name(p): p.at.ticks.median for p in whole},
        "penalty": {name(p): p.observation.penalty for p in whole},
    }
    cells = "; ".join(cell(p) for p in whole)
    if not beaten:
        text = (
            f"Writing the whole executed line (64 bytes) costs the same whichever way it is"
            f" written ({cells} ticks/iter; penalty: over the same stores into data)."
        )
        conf = "medium"
    else:
        names = [name(p) for p in cheapest]
        text = (
            "The cheapest way to write the whole executed line (64 bytes) is"
            f" {base.in_words(names, 'or')}"
            f" ({cells} ticks/iter; penalty: over the same stores into data"
            + ("; the rounds do not settle which of them is cheaper" if len(names) > 1 else "")
            + ")."
        )
        conf = confidence(*((p.at.ticks, best.at.ticks) for p in beaten))
    why = base.unsettled((name(p), p.at.ticks, best.at.ticks) for p in whole[1:])
    return [Finding("stores", text, conf, nums, unstable=why)]


def _cold_line(points: list[Point]) -> list[Finding]:
    """rep movsb against one vector store writing a whole line not in L1D (into data)."""
    pts = labelled(points)
    cold = {p.experiment.copy: p for name, p in pts.items() if name.endswith(COLD_SUFFIX)}
    rep = cold.get("rep-movsb")
    vec = next((cold[c] for c in ("avx512", "avx") if c in cold), None)
    if rep is None or vec is None:
        return []
    a, b = rep.ticks, vec.ticks
    names = f"rep movsb of 64 bytes against {label(vec.experiment.copy, 64)}"
    where = (
        "Writing a whole line that is not in L1D (into data, step 64 through a"
        f" {COLD_RING['buffer'] >> 20}M ring)"
    )
    nums: dict[str, Any] = {
        "rep_movsb_ticks": a.median,
        "vector": vec.experiment.copy,
        "vector_ticks": b.median,
        "extra_ticks": a.median - b.median,
    }
    said = base.verdict(a, b)
    if said in ("more", "less"):
        text = (
            f"{where}: {names}: {a.median:.0f} vs {b.median:.0f} ticks/iter, rep"
            f" movsb {abs(a.median - b.median):.0f} {said}."
        )
        conf = confidence((a, b))
    elif said == "same":
        text = (
            f"{where}: {names}: {a.median:.0f} vs {b.median:.0f} ticks/iter,"
            " no measurable difference."
        )
        conf = no_difference(a, b)
    else:
        text = (
            f"{where}: {names}: {a.median:.0f} vs {b.median:.0f} ticks/iter: the rounds do"
            " not settle whether they differ."
        )
        conf = "low"
    why = base.unsettled([(names, a, b)])
    return [Finding("stores", text, conf, nums, unstable=why)]


def _seed_copy(seed: Pair, k: str, m: ModelFit, f: FitResult) -> Finding:
    """The seed's copy explained by the model: N penalties x C ticks, and the estimate of
    penalties per iteration (measured clears beside it where a PMU counts them)."""
    o = seed.observation
    n = m.count(o)
    est = fitting.estimate(o.penalty, m.constant)
    nums: dict[str, Any] = {
        "model": m.model,
        "kind": k,
        "ticks_per_penalty": m.constant,
        "seed_penalty_ticks": o.penalty,
        "seed_penalties_model": n,
        "seed_predicted_ticks": n * m.constant,
        "explained_ratio": o.penalty / (n * m.constant),
        "penalties_per_iter_estimate": est,
    }
    tied = [x.model for x in f.tied] if f.chosen is None else []
    by = (
        f"the {m.model} model of the {KINDS[k]}"
        if not tied
        else f"each of the models that fit the {KINDS[k]} equally ({' and '.join(tied)}),"
        f" which all count it as {n}; the {m.model} constant is used"
    )
    if tied:
        nums["tied"] = tied
    text = (
        f"The seed's copy (64-byte rep movsb onto the code it calls, 4K/0) costs"
        f" {o.penalty:.0f} ticks/iter over the same copy into data: {n} penalt"
        f"{'y' if n == 1 else 'ies'} x {m.constant:.0f} ticks = {n * m.constant:.0f} by {by}"
        f" ({o.penalty / (n * m.constant):.2f}x what it predicts)."
    )
    if est is not None:
        text += (
            f" Penalties per iteration: ≈{est:.1f} est. (its cost over the far-store control,"
            f" {o.penalty:.0f} ticks, / {m.constant:.0f} ticks per penalty)"
        )
        clears = seed.at.per_iter.get("smc-clears")
        if clears is not None:
            nums["smc_clears_per_iter"] = clears
            note = seed.at.notes.get("smc-clears")
            what = "SMC clears" if not note else "proxy SMC events"
            text += f"; measured: {clears:.2f} {what} per iteration"
        text += "."
    return Finding("stores", text, confidence((seed.at.ticks, seed.far.ticks)), nums)


def charged_per(f: Finding) -> str:
    """What a penalty is charged per, as the kind's finding states it."""
    n = f.numbers
    if "model" in n:
        return str(n["model"])
    if "tied" in n:
        return " or ".join(n["tied"])
    return "no model fits" if "residuals" in n else "no cost"


def facts(found: list[Finding], points: list[Point], host: Host) -> list[base.Fact]:
    """Ticks (and ns) per penalty from the model that explains the seed's copy; per kind of
    store what a penalty is charged per."""
    out: list[base.Fact] = []
    for f in found:
        n = f.numbers
        if "explained_ratio" in n:
            ev = base.labels(points, lambda s: s.startswith(SEED_COPY[0]))
            got = base.from_numbers(
                f,
                {
                    "ticks_per_penalty": ("ticks_per_penalty", "ticks"),
                    "penalties_per_seed_iter": ("penalties_per_iter_estimate", ""),
                },
                ev,
            )
            out += got + base.ns_fact("ns_per_penalty", got[0], host)
        elif n.get("kind") in KINDS:
            k: str = n["kind"]

            def of_kind(label: str, k: str = k) -> bool:
                return kind(label.split()[0]) == k

            ev = base.labels(points, of_kind)
            out.append(base.Fact(f"charged_per_{k}", charged_per(f), "", f.confidence, f.probe, ev))
    return out


PROBE = ProbeSpec(
    "stores",
    "Stores: count, width and kind into the executed line (4K/0 slot)",
    points,
    findings,
    Curve(
        "Stores into the executed line against the bytes they write",
        "bytes stored (k stores x width, or rep string bytes)",
        groups=(*MOVS, *REPS),
        ref="rep-movsb 64B far",
        xscale="log",
    ),
    facts=facts,
)
